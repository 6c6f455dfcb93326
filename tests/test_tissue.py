"""TISSUE wrapper (``methods/tissue_spage.py``) beyond the contract tests: per-gene confidence,
gene-name case (TISSUE lower-cases names in place), no side effects on the task, zero-variance
genes, missing coordinates, seeds, and the relative-width confidence itself."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmark import contract
from benchmark.datasets.synthetic import make_synthetic_pair
from benchmark.errors import InputError
from benchmark.methods import all_methods
from benchmark.methods.tissue_spage import relative_interval_width

pytest.importorskip("tissue.main")


@pytest.fixture(scope="module")
def prep():
    data = make_synthetic_pair(n_spatial=120, n_reference=150, n_shared=12, n_reference_only=8, n_types=3,
                               n_modules=3, seed=11, name="tissue-tiny")
    # mixed case, and two genes that differ only in case (TISSUE would merge them as duplicates)
    names = {g: (f"MyGene{i}" if i % 2 else f"mygene{i}") for i, g in enumerate(data.reference.var_names)}
    names[list(names)[1]] = "MYGENE0"  # 'mygene0' and 'MYGENE0' are two different shared genes
    data.spatial.var_names = [names[g] for g in data.spatial.var_names]
    data.reference.var_names = [names[g] for g in data.reference.var_names]
    return contract.prepare_pair(data)


def _tissue(**params):
    return all_methods()["tissue"](**params)


def test_confidence_per_target_gene_and_names_keep_case(prep, tmp_path):
    task = contract.make_task(prep, tmp_path)
    spatial_before = task.spatial.copy()
    pred = _tissue().fit_predict(task).check(task)

    assert list(pred.expression.columns) == task.target_genes
    assert list(pred.confidence.index) == task.target_genes
    conf = pred.confidence.to_numpy()
    assert conf.shape == (len(task.target_genes),) and np.isfinite(conf).all()
    assert (conf < 0).all(), "confidence is minus a relative interval width"
    assert np.unique(conf).size == conf.size, "the confidence does not separate the genes"
    assert pred.info["mean_interval_width"] > 0 and pred.info["genes_without_interval"] == []
    # the task's spatial AnnData is untouched (TISSUE writes obsm/obsp/uns and lower-cases names in place)
    assert list(task.spatial.var_names) == list(spatial_before.var_names)
    assert set(task.spatial.obsm) == set(spatial_before.obsm) and not task.spatial.obsp and not task.spatial.uns
    np.testing.assert_array_equal(task.spatial.obsm["spatial"], spatial_before.obsm["spatial"])


def test_case_twins_are_predicted_as_different_genes(prep, tmp_path):
    """'mygene0' and 'MYGENE0' are distinct genes; with TISSUE's lower-casing they would collide."""
    split_genes = [g for g in prep.shared if g.lower() == "mygene0"]
    assert len(split_genes) == 2
    # make both twins targets of this task
    train = [g for g in prep.shared if g not in split_genes][:8]
    from benchmark.splits import GeneSplit

    split = GeneSplit("kfold", 0, tuple(train), tuple(split_genes))
    task = prep.make_task(split, seed=0, workdir=tmp_path, time_budget=None, quick=True, device="cpu")
    pred = _tissue().fit_predict(task).check(task)
    a, b = (pred.expression[g].to_numpy() for g in split_genes)
    ref_a, ref_b = (np.asarray(task.reference[:, g].X).ravel() for g in split_genes)
    assert not np.allclose(ref_a, ref_b)  # the twins really differ in the reference ...
    assert not np.allclose(a, b)  # ... so their predictions must differ too


def test_same_seed_same_result_and_global_rng_restored(prep, tmp_path):
    state = np.random.get_state()[1].copy()
    a = _tissue().fit_predict(contract.make_task(prep, tmp_path / "a", seed=3))
    assert np.array_equal(np.random.get_state()[1], state), "NumPy's global generator was left reseeded"
    b = _tissue().fit_predict(contract.make_task(prep, tmp_path / "b", seed=3))
    pd.testing.assert_frame_equal(a.expression, b.expression)
    pd.testing.assert_series_equal(a.confidence, b.confidence)


def test_zero_variance_shared_gene_is_dropped(prep, tmp_path):
    task = contract.make_task(prep, tmp_path)
    gene = task.training_genes[0]
    x = np.asarray(task.spatial.X, dtype=np.float32).copy()
    x[:, 0] = 0.0  # all-zero in the spatial data: SpaGE's z-score would be NaN
    task.spatial.X = x
    pred = _tissue().fit_predict(task).check(task)
    assert pred.info["zero_variance_genes_dropped"] == [gene]
    assert np.isfinite(pred.expression.to_numpy()).all() and np.isfinite(pred.confidence.to_numpy()).all()


def test_no_coordinates_is_a_clear_error(prep, tmp_path):
    task = contract.make_task(prep, tmp_path)
    del task.spatial.obsm["spatial"]
    with pytest.raises(InputError, match="spatial coordinates"):
        _tissue().fit_predict(task)


def test_relative_interval_width_known_answer():
    pred = np.array([[1.0, 2.0, 0.0], [3.0, 2.0, 0.0]])  # RMS per gene: sqrt(5), 2, 0
    lo = pred - np.array([[1.0, 1.0, 1.0], [1.0, 3.0, 1.0]])
    hi = pred + np.array([[1.0, 1.0, 1.0], [1.0, 3.0, 1.0]])  # mean widths: 2, 4, 2
    rel = relative_interval_width(lo, hi, pred)
    np.testing.assert_allclose(rel[:2], [2 / np.sqrt(5), 4 / 2])
    assert rel[2] == pytest.approx(2.0 + 1.0)  # predicted zero everywhere: least confident of all, finite
    # the scale of a gene does not change its rank: the same relative error at 10x the level
    rel2 = relative_interval_width(lo * 10, hi * 10, pred * 10)
    np.testing.assert_allclose(rel2[:2], rel[:2])
