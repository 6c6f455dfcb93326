"""Data that are not counts: never normalised twice; count models are not applicable to them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from benchmark import contract
from benchmark.datasets.hvg import select_hvg
from benchmark.harness import RunConfig, run_benchmark
from benchmark.prepare import prepare


def _lognorm(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return np.log1p(x / x.sum(axis=1, keepdims=True).clip(min=1) * 1e4)


@pytest.fixture
def lognorm_reference_pair(tiny_pair):
    ref = tiny_pair.reference.copy()
    ref.X = _lognorm(ref.X).astype(np.float32)
    return dataclasses.replace(tiny_pair, reference=ref, reference_values="lognorm")


def test_lognorm_reference_is_passed_as_given(lognorm_reference_pair, tiny_pair, tmp_path):
    data = lognorm_reference_pair
    prep = prepare(data, list(data.spatial.var_names), "spage")
    np.testing.assert_allclose(np.asarray(prep.reference.X), np.asarray(data.reference.X), rtol=1e-6)
    # the spatial side still holds counts: normalised exactly as for an all-counts pair
    np.testing.assert_array_equal(prep.truth.to_numpy(), contract.prepare_pair(tiny_pair).truth.to_numpy())
    task = contract.make_task(prep, tmp_path)
    assert (task.spatial_values, task.reference_values) == ("counts", "lognorm")


def test_intensity_spatial_values_are_the_truth_as_given(tiny_pair, tmp_path):
    sp = tiny_pair.spatial.copy()
    sp.X = np.asarray(sp.X, dtype=np.float32) * 0.37 + 1.0  # an intensity scale, not counts
    data = dataclasses.replace(tiny_pair, spatial=sp, spatial_values="intensity")
    prep = prepare(data, list(sp.var_names), "spage")
    np.testing.assert_allclose(prep.truth.to_numpy(), np.asarray(sp.X, dtype=float), rtol=1e-6)
    task = contract.make_task(prep, tmp_path)
    x = pd.DataFrame(np.asarray(task.spatial.X), index=task.spatial.obs_names, columns=task.training_genes)
    np.testing.assert_allclose(x.loc[prep.truth.index].to_numpy(), prep.truth[task.training_genes].to_numpy(),
                               rtol=1e-6)
    assert prep.fingerprint != contract.prepare_pair(tiny_pair).fingerprint


def test_count_models_are_not_applicable_to_values_that_are_not_counts(lognorm_reference_pair, tmp_path):
    res = run_benchmark(RunConfig(methods=["knn", "cellsize"], n_folds=3, cluster=False, out=tmp_path / "r"),
                        [lognorm_reference_pair], progress=False)
    jobs = res.jobs.set_index("method")
    assert (jobs.loc["knn", "status"] == "ok").all()
    assert (jobs.loc["cellsize", "status"] == "not_applicable").all()
    assert jobs.loc["cellsize", "error"].str.contains("models raw counts").all()
    assert "lognorm" in jobs.loc["cellsize", "error"].iloc[0]
    assert not (res.results["method"] == "cellsize").any() or \
        res.results.loc[res.results["method"] == "cellsize", "scope"].eq("run").all()


def test_counts_scoring_space_is_skipped_for_data_that_are_not_counts(tiny_pair, tmp_path):
    sp = tiny_pair.spatial.copy()
    sp.X = np.asarray(sp.X, dtype=np.float32) * 0.5
    data = dataclasses.replace(tiny_pair, spatial=sp, spatial_values="intensity")
    res = run_benchmark(RunConfig(methods=["knn"], n_folds=3, cluster=False, scoring_space="counts",
                                  out=tmp_path / "c"), [data], progress=False)
    skipped = res.results[res.results["stat"] == "skipped"]
    assert skipped["item"].str.contains("intensity values, not counts").any()
    assert not ((res.results["metric"] == "pcc") & (res.results["method"] == "knn")).any()


def test_hvg_does_not_normalise_a_lognorm_reference_twice(tiny_pair):
    genes = list(tiny_pair.spatial.var_names)
    as_counts = select_hvg(tiny_pair.reference, genes, 5)
    ref = tiny_pair.reference.copy()
    scale = np.asarray(ref.X.sum(axis=1)).ravel()
    ref.X = np.log1p(np.asarray(ref.X, dtype=np.float64) / scale[:, None] * 1e4)  # step 1 done by the source
    assert select_hvg(ref, genes, 5, values="lognorm") == as_counts
