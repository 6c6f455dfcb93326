"""Pieces of the integration-then-transfer baselines (liger, scanorama, cellpin, seurat) that can be
checked without their optional packages: the count-to-scale mapping, LIGER's imputeKNN weights,
the Seurat availability probe."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark import contract
from benchmark.datasets.synthetic import make_synthetic_pair


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    data = make_synthetic_pair(n_spatial=60, n_reference=80, n_shared=10, n_reference_only=4, n_types=3,
                               n_modules=3, seed=3, name="scale")
    prep = contract.prepare_pair(data)
    return prep, contract.make_task(prep, tmp_path_factory.mktemp("w"))


@pytest.mark.parametrize("scheme", ["spage", "tangram", "scran", "raw"])
def test_observed_counts_map_back_onto_the_task_scale(task, scheme):
    """Feeding the observed training counts as 'predicted counts' must give back the task's X."""
    from benchmark.datasets.preprocessing import get_preprocessing
    from benchmark.methods._count_scale import expected_counts_to_task_scale
    from benchmark.methods._util import dense

    _, t = task
    t.preprocessing = scheme
    counts = dense(t.spatial.layers["counts"]).astype(np.float64)
    expected_x = dense(get_preprocessing(scheme)(counts))
    live = counts.sum(axis=1) > 0
    # a method's library scale differs from the cell's: multiply by an arbitrary per-cell factor
    factor = np.linspace(0.5, 3.0, counts.shape[0])[:, None]
    got = expected_counts_to_task_scale((counts * factor).sum(axis=1), counts * factor, t)
    np.testing.assert_allclose(got[live], expected_x[live], rtol=1e-5, atol=1e-5)
    rows = np.flatnonzero(live)[::2]
    got_rows = expected_counts_to_task_scale((counts * factor)[rows].sum(axis=1), (counts * factor)[rows], t,
                                             rows=rows)
    np.testing.assert_allclose(got_rows, expected_x[rows], rtol=1e-5, atol=1e-5)


def test_unknown_scheme_is_refused(task):
    from benchmark.methods._count_scale import expected_counts_to_task_scale

    _, t = task
    t.preprocessing = "made-up"
    with pytest.raises(ValueError, match="made-up"):
        expected_counts_to_task_scale(np.ones(t.n_cells), np.ones((t.n_cells, 2)), t)


def test_liger_imputeknn_weights():
    from benchmark.methods.liger import impute_knn_weights

    d = np.array([[0.1, 0.5, 2.0], [800.0, 801.0, 900.0]])
    w = impute_knn_weights(d)
    np.testing.assert_allclose(w[0], np.exp(-d[0]) / np.exp(-d[0]).sum())
    assert np.isfinite(w).all() and np.allclose(w.sum(axis=1), 1.0)  # exp(-800) underflows naively
    assert w[1, 0] > w[1, 1] > w[1, 2]


def test_seurat_unavailable_without_rscript(monkeypatch):
    from benchmark.methods import seurat

    from benchmark import envs

    cls = seurat.SeuratTransfer
    monkeypatch.setattr(envs, "_R_STATES", {})
    monkeypatch.setattr(envs.shutil, "which", lambda name: None)
    ok, reason = cls.availability()
    assert not ok and "Rscript" in reason and "r-cran-seurat" in reason
    assert cls.package_version() is None


def test_seurat_probe_is_cached(monkeypatch):
    from benchmark.methods import seurat

    from benchmark import envs

    cls = seurat.SeuratTransfer
    calls = []
    monkeypatch.setattr(envs, "_R_STATES", {})
    monkeypatch.setattr(envs.shutil, "which", lambda name: "/nonexistent/Rscript")

    def fake_run(*a, **k):
        calls.append(a)
        raise OSError("no such file")

    monkeypatch.setattr(envs.subprocess, "run", fake_run)
    assert cls.availability()[0] is False
    assert cls.availability()[0] is False
    assert len(calls) == 1
