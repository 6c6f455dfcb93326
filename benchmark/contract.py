"""The checks every method must pass, usable from tests and (later) from ``benchmark validate``.

Each check takes a method class and a small paired data set and raises ``AssertionError``
with a message a method author can act on.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from .datasets.base import PairedData
from .datasets.validation import validate_pair
from .prepare import PreparedData, prepare
from .splits import kfold_gene_splits
from .task import ImputationTask, Prediction


def make_task(prep: PreparedData, workdir: Path, seed: int = 0, fold: int = 0, n_folds: int = 3) -> ImputationTask:
    split = kfold_gene_splits(prep.shared, n_folds, seed)[fold]
    return prep.make_task(split, seed=seed, workdir=workdir, time_budget=None, quick=True, device="cpu")


def prepare_pair(data: PairedData, preprocessing: str = "spage") -> PreparedData:
    return prepare(data, validate_pair(data, min_shared=3), preprocessing)


def _predict(method_cls, task: ImputationTask) -> Prediction:
    method = method_cls(**method_cls.contract_params)
    if method_cls.info.oracle:
        raise AssertionError("oracle methods are not contract-tested")
    pred = method.fit_predict(task)
    assert isinstance(pred, Prediction), f"fit_predict must return a Prediction, got {type(pred).__name__}"
    return pred


def check_output(method_cls, prep: PreparedData, workdir: Path) -> Prediction:
    """Shape, gene order, cell order and finiteness of the prediction."""
    task = make_task(prep, workdir)
    pred = _predict(method_cls, task)
    expr = pred.expression
    assert isinstance(expr, pd.DataFrame), "Prediction.expression must be a pandas DataFrame"
    assert expr.shape == (task.n_cells, len(task.target_genes)), (
        f"expected {task.n_cells} cells x {len(task.target_genes)} genes, got {expr.shape}")
    assert list(expr.columns) == task.target_genes, "columns must be task.target_genes, in order and with their case"
    assert list(expr.index) == list(task.spatial.obs_names), "rows must follow task.spatial.obs_names"
    assert np.isfinite(expr.to_numpy(dtype=float)).all(), "the prediction contains NaN or infinite values"
    if method_cls.info.returns_confidence:
        assert pred.confidence is not None, "info.returns_confidence is set but no confidence was returned"
        assert len(pred.confidence) == len(task.target_genes), "one confidence value per target gene"
    return pred


def check_no_input_mutation(method_cls, prep: PreparedData, workdir: Path) -> None:
    """The method must not modify the AnnData objects it is given."""
    task = make_task(prep, workdir)
    before = {
        "spatial_X": np.array(task.spatial.X, copy=True), "spatial_genes": list(task.spatial.var_names),
        "spatial_cells": list(task.spatial.obs_names), "ref_X": np.array(task.reference.X, copy=True),
        "ref_genes": list(task.reference.var_names), "targets": list(task.target_genes),
        "ref_obs": task.reference.obs.copy(),
    }
    _predict(method_cls, task)
    assert list(task.spatial.var_names) == before["spatial_genes"], "spatial gene names were changed (lower-cased?)"
    assert list(task.reference.var_names) == before["ref_genes"], "reference gene names were changed (lower-cased?)"
    assert list(task.spatial.obs_names) == before["spatial_cells"], "spatial cell names were changed"
    assert np.array_equal(np.asarray(task.spatial.X), before["spatial_X"]), "spatial X was modified in place"
    assert np.array_equal(np.asarray(task.reference.X), before["ref_X"]), "reference X was modified in place"
    assert task.target_genes == before["targets"], "task.target_genes was modified"
    assert task.reference.obs.equals(before["ref_obs"]), "reference obs was modified"


def check_deterministic(method_cls, prep: PreparedData, workdir: Path) -> None:
    """Same seed, same data: identical output (for methods that declare ``deterministic``)."""
    a = _predict(method_cls, make_task(prep, workdir / "a"))
    b = _predict(method_cls, make_task(prep, workdir / "b"))
    np.testing.assert_array_equal(a.expression.to_numpy(), b.expression.to_numpy(),
                                  err_msg="two runs with the same seed gave different predictions")


#: How far a deterministic method's prediction from sparse input may be from its prediction from
#: the same values stored dense: float32 round-off, e.g. in an iterative OT solver (moscot: 7e-5), not another answer.
# moSCOT's float32 Sinkhorn lands up to ~7e-5 apart on values of order 1 (measured); far below any score change
SPARSE_RTOL, SPARSE_ATOL = 1e-4, 1e-4


def _sparse_task(task: ImputationTask) -> ImputationTask:
    import scipy.sparse as sp

    task.spatial.X = sp.csr_matrix(task.spatial.X)
    task.reference.X = sp.csr_matrix(task.reference.X)
    for adata in (task.spatial, task.reference):
        for key in list(adata.layers):
            adata.layers[key] = sp.csr_matrix(adata.layers[key])
    return task


def check_sparse_input(method_cls, prep: PreparedData, workdir: Path) -> None:
    """Sparse X and layers (as many AnnData files have) give the prediction that dense ones give.

    Deterministic methods must agree within ``SPARSE_RTOL``/``SPARSE_ATOL``; stochastic ones
    with the same per-gene correlation that the order check asks for (the same seed, the same values).
    """
    dense = _predict(method_cls, make_task(prep, workdir / "dense")).expression
    sparse = _predict(method_cls, _sparse_task(make_task(prep, workdir / "sparse"))).expression
    x, y = dense.to_numpy(dtype=float), sparse.to_numpy(dtype=float)
    assert np.isfinite(y).all(), "NaN or infinite values in the prediction from sparse input"
    assert list(sparse.index) == list(dense.index) and list(sparse.columns) == list(dense.columns), (
        "sparse input changed the cells or genes of the prediction")
    if method_cls.info.deterministic:
        bad = ~np.isclose(y, x, rtol=SPARSE_RTOL, atol=SPARSE_ATOL)
        assert not bad.any(), (
            f"sparse input changed the prediction: {int(bad.sum())} of {bad.size} values differ, by up to "
            f"{float(np.max(np.abs(x - y))):.3g} (allowed rtol {SPARSE_RTOL:g}, atol {SPARSE_ATOL:g})")
        return
    for j, gene in enumerate(dense.columns):
        if np.ptp(x[:, j]) == 0 and np.ptp(y[:, j]) == 0:
            continue
        r = float(np.corrcoef(x[:, j], y[:, j])[0, 1])
        assert r >= ORDER_MIN_GENE_CORR, (
            f"gene {gene}: correlation {r:.3f} between the predictions from dense and sparse input "
            f"(required {ORDER_MIN_GENE_CORR})")


def permuted_pair(data: PairedData, seed: int = 12345) -> PairedData:
    """``data`` with its spatial and its reference cells each in another (random) order."""
    import dataclasses

    rng = np.random.default_rng(seed)
    spatial = data.spatial[rng.permutation(data.spatial.n_obs)].copy()
    reference = data.reference[rng.permutation(data.reference.n_obs)].copy()
    return dataclasses.replace(data, spatial=spatial, reference=reference)


#: Per-gene Pearson correlation that a stochastic method's outputs for the same cells given in
#: two file orders must reach (deterministic methods must agree within ``ORDER_ATOL``).
ORDER_MIN_GENE_CORR = 0.99
ORDER_ATOL = 1e-6


def check_order_invariance(method_cls, prep: PreparedData, workdir: Path) -> None:
    """Permuting the input cells (spatial and reference) permutes the output, and nothing else.

    The harness hands a method its cells in a seeded order that depends on the cell names only
    (:mod:`benchmark.order`), so the order of a data file carries no information. Deterministic
    methods must give the same value for each cell within ``ORDER_ATOL``; stochastic ones a
    per-gene correlation of at least ``ORDER_MIN_GENE_CORR`` between the two orders at the same seed.
    """
    a = _predict(method_cls, make_task(prep, workdir / "file_order")).expression
    other = prepare(permuted_pair(prep.data), prep.shared, prep.preprocessing)
    b = _predict(method_cls, make_task(other, workdir / "permuted")).expression
    assert set(map(str, b.index)) == set(map(str, a.index)), "the permuted input predicted other cells"
    b = b.loc[a.index, a.columns]
    x, y = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
    if method_cls.info.deterministic:
        worst = float(np.max(np.abs(x - y))) if x.size else 0.0
        assert worst <= ORDER_ATOL, (
            f"permuting the input cells changed the prediction of the same cells by up to {worst:.3g} "
            f"(allowed {ORDER_ATOL:g}): the output depends on the order of the input")
        return
    for j, gene in enumerate(a.columns):
        if np.ptp(x[:, j]) == 0 and np.ptp(y[:, j]) == 0:
            continue  # a gene predicted constant in both orders has no correlation to compare
        r = float(np.corrcoef(x[:, j], y[:, j])[0, 1])
        assert r >= ORDER_MIN_GENE_CORR, (
            f"gene {gene}: correlation {r:.3f} between the predictions for two orders of the same cells "
            f"(required {ORDER_MIN_GENE_CORR}): the output depends on the order of the input")


CHECKS = {
    "output": check_output,
    "no_input_mutation": check_no_input_mutation,
    "deterministic": check_deterministic,
    "sparse_input": check_sparse_input,
    "order_invariance": check_order_invariance,
}


def run_checks(method_cls, data: PairedData, workdir: Path) -> dict[str, tuple[bool, str, float]]:
    """Run every check; return name -> (passed, message, seconds)."""
    prep = prepare_pair(data)
    out = {}
    for name, check in CHECKS.items():
        if name == "deterministic" and not method_cls.info.deterministic:
            continue
        t0 = time.perf_counter()
        try:
            check(method_cls, prep, Path(workdir) / name)
            out[name] = (True, "", time.perf_counter() - t0)
        except Exception as exc:  # noqa: BLE001 - reported to the method author
            out[name] = (False, f"{type(exc).__name__}: {exc}", time.perf_counter() - t0)
    return out
