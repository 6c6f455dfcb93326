"""``tissue``: TISSUE conformal prediction intervals around SpaGE (Sun, Hie et al. 2024).

The method-agnostic uncertainty baseline of the suite: TISSUE calibrates uncertainty for any
imputation method from the method's own cross-validated errors on the measured genes. Here it
wraps SpaGE (TISSUE's built-in default), so its predictions are SpaGE's and what it adds is a
per-gene confidence for the reliability metrics (``css_top50_reliable``, ``css_reliability_*``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import anndata as ad
import numpy as np
import pandas as pd

from benchmark.errors import BenchmarkError, InputError
from benchmark.task import ImputationTask, Prediction

from . import register
from ._util import dense, keep_global_rng, varying_shared_genes
from .base import Method, MethodInfo
from .spage import tissue_default_n_pv

#: Key TISSUE gives the SpaGE predictions in ``obsm`` (``method + "_predicted_expression"``).
_PREDICTED = "spage_predicted_expression"


def _tokens(prefix: str, n: int) -> list[str]:
    """Lower-case, collision-free stand-in names (TISSUE lower-cases every gene name it sees)."""
    return [f"{prefix}{i:06d}" for i in range(n)]


def relative_interval_width(lo: np.ndarray, hi: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Mean prediction-interval width of each gene over cells, divided by the gene's RMS prediction.

    Parameters
    ----------
    lo, hi
        Cells x genes lower and upper bounds of TISSUE's prediction intervals.
    predicted
        Cells x genes predictions the intervals surround.

    Returns
    -------
    numpy.ndarray
        One value per gene, finite. A gene predicted as zero in every cell (RMS 0: its CSS is
        0 by definition) gets a value above every other gene's, i.e. the least confidence.
    """
    width = np.mean(np.asarray(hi, dtype=np.float64) - np.asarray(lo, dtype=np.float64), axis=0)
    rms = np.sqrt(np.mean(np.square(np.asarray(predicted, dtype=np.float64)), axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(rms > 0, width / rms, np.nan)
    finite = np.isfinite(rel)
    if not finite.all():
        worst = float(np.max(rel[finite])) if finite.any() else 0.0
        rel = np.where(finite, rel, worst + 1.0)
    return rel


def _check_levels(levels) -> tuple[float, ...]:
    """The nominal coverages as floats in (0, 1), or :class:`InputError`."""
    try:
        out = tuple(float(v) for v in (levels if isinstance(levels, (list, tuple)) else [levels]))
    except (TypeError, ValueError):
        raise InputError(f"method 'tissue': interval_levels must be numbers in (0, 1), got {levels!r}") from None
    if not out or not all(0.0 < v < 1.0 for v in out):
        raise InputError(f"method 'tissue': interval_levels must be numbers in (0, 1), got {levels!r}")
    return out


def intervals_info(cells, genes: list[str], pred: np.ndarray,
                   bounds: dict[float, tuple[np.ndarray, np.ndarray]]) -> dict:
    """Prediction intervals in the JSON form the scorer reads (:func:`benchmark.metrics.uncertainty.read_intervals`).

    The :class:`~benchmark.task.Prediction` contract has no interval field, and ``info`` is kept
    with the job (``job.json``), so intervals travel there. Cells are named because the task's
    cells come in a seeded order that the harness restores for the expression only. Bounds are
    stored as distances below and above the prediction; a bound TISSUE left undefined (too few
    calibration scores) is ``None``, which the scorer counts as no interval.

    Parameters
    ----------
    cells
        The task's spatial cell names, in the order of the rows of ``pred`` and the bounds.
    genes
        Target genes, in the order of the columns.
    pred
        Cells x genes predictions the intervals surround.
    bounds
        Nominal coverage -> (lower, upper) cells x genes bounds.
    """
    def _offsets(a: np.ndarray) -> list[list[float | None]]:
        return [[None if not np.isfinite(v) else float(v) for v in row] for row in a.T]  # genes x cells

    return {
        "cells": [str(c) for c in cells],
        "genes": list(genes),
        "levels": {f"{level:g}": {"below": _offsets(pred - lo), "above": _offsets(hi - pred)}
                   for level, (lo, hi) in bounds.items()},
    }


#: Most interval bounds kept in a job's ``info`` (cells x genes x levels x 2): ``info`` is stored as JSON in
#: ``job.json``, about 20 bytes a number, so this keeps a job's record under about 100 MB. osmFISH's largest
#: 5-fold job has 3,405 x 7 x 2 x 2 = 95,340.
MAX_INTERVAL_VALUES = 5_000_000


def _intervals_entry(cells, genes: list[str], pred: np.ndarray,
                     bounds: dict[float, tuple[np.ndarray, np.ndarray]]) -> dict:
    """``{"intervals": ...}`` for ``info``, or ``{"intervals_omitted": why}`` above :data:`MAX_INTERVAL_VALUES`."""
    n = pred.size * len(bounds) * 2
    if n > MAX_INTERVAL_VALUES:
        return {"intervals_omitted": f"{n:,} interval bounds are more than the {MAX_INTERVAL_VALUES:,} a job record "
                                     "keeps (MAX_INTERVAL_VALUES in methods/tissue_spage.py)"}
    return {"intervals": intervals_info(cells, genes, pred, bounds)}


@register
class TissueSpaGE(Method):
    """TISSUE: SpaGE predictions with conformal, spatially adaptive prediction intervals.

    What it does (``tissue.main`` of ``tissue-sc``, called as the authors' tutorial and analysis
    scripts do; nothing is reimplemented):

    1. ``predict_gene_expression(method="spage", n_folds=10)``: SpaGE predicts the target genes
       from all measured (training) genes, and every measured gene from the others in 10-fold
       cross-validation over the measured genes (these are the calibration genes).
    2. ``build_spatial_graph(method="fixed_radius", n_neighbors=15)``: 15 nearest cells in
       space, edges longer than Q3 + 1.5 IQR of the edge lengths pruned.
    3. ``conformalize_spatial_uncertainty(weight="exp_cos", add_one=True,
       grouping_method="kmeans_gene_cell", k=4, k2=1, n_pc=15)``: the cell-centric variability
       (CCV: weighted spread of the predictions over a cell's spatial neighbours, plus one) of
       every predicted value, and the calibration scores ``|error| / CCV`` of the
       cross-validated measured genes; genes are grouped in 4 k-means groups (one cell group)
       so each group is calibrated on its own scores.
    4. ``conformalize_prediction_interval(alpha_level=0.33, symmetric=True)``: interval
       ``prediction +- q * CCV`` per cell and gene, ``q`` the conformal quantile of the group's
       scores (67% intervals).

    Defaults: ``n_folds=10``, ``n_neighbors=15``, ``k=4`` and the ``n_pv`` rule are the values of
    the authors' tutorial and manuscript scripts (sunericd/tissue-figures-and-analyses:
    ``spatial_conformal_uncertainty.py Dataset 10 10 4 1``); ``k2=1`` and ``n_pc=15`` are the
    manuscript's (the tutorial uses ``k2=2``); ``alpha_level``, ``symmetric``, ``weight``,
    ``add_one`` and ``weight_n_pc`` are the package's own defaults. ``grouping_method`` must be
    given: with TISSUE 1.0.1's default (``None``) the call fails on an unset variable.

    Confidence (per target gene): ``-mean_cells(hi - lo) / RMS_cells(prediction)``, i.e. minus
    the gene's average interval width relative to the size of its predicted profile. Why
    relative: the reliability metrics rank genes by their CSS, a cosine, which is blind to a
    gene's overall scale; an error of a given size lowers the cosine in proportion to its size
    relative to the vector's norm, and RMS is that norm per cell. The raw width would instead
    rank genes mostly by expression level. Genes predicted zero everywhere get the least
    confidence (their CSS is 0 by definition).

    Input and output: the task's ``X`` (log-normalised like SpaGE expects) for both data sets,
    so TISSUE's calibration errors and the predictions are on the scoring scale; SpaGE's
    predictions are convex combinations of reference cells and are returned as is (NaN set to
    0, as in :class:`~benchmark.methods.spage.SpaGEMethod`). TISSUE lower-cases gene names and
    modifies its AnnData in place, so it gets fresh AnnData objects with lower-case stand-in
    names (no case collisions) that are mapped back to the task's names. Shared genes with zero
    variance in either data set are dropped (they make SpaGE's z-score NaN). ``n_pv`` follows
    TISSUE's rule, capped so every cross-validation fold has enough genes for its PCA.

    Needs spatial coordinates (``task.spatial.obsm["spatial"]``): TISSUE's uncertainty is
    defined by spatial neighbourhoods, and no graph in expression space would be TISSUE, so a
    task without them raises :class:`~benchmark.errors.InputError`.

    Seeds: ``task.seed`` chooses TISSUE's cross-validation folds (``random_seed``) and seeds
    NumPy's global generator for the call (restored afterwards); TISSUE's k-means and PCA use
    their fixed ``random_state=444``. Same seed, same result.
    """

    info = MethodInfo(
        name="tissue",
        summary="TISSUE: SpaGE predictions with conformal spatial prediction intervals; confidence = -relative width.",
        paper_url="https://doi.org/10.1038/s41592-024-02184-y",
        code_url="https://github.com/sunericd/TISSUE",
        package="tissue-sc",
        returns_confidence=True,
        requires=("tissue", "squidpy"),
        install_hint="pip install -c constraints.txt tissue-sc",
    )

    @dataclass
    class Params:
        #: SpaGE principal vectors; ``None``: TISSUE's rule (20 below 40 genes, else half of
        #: min(genes, cells)), capped by the genes left in the smallest cross-validation fold.
        n_pv: int | None = None
        #: Cross-validation folds over the measured genes (capped at their number).
        n_folds: int = 10
        #: Spatial neighbours per cell for the cell-centric variability.
        n_neighbors: int = 15
        #: Gene groups (k-means) calibrated separately.
        k_gene: int = 4
        #: Cell groups within each gene group.
        k_cell: int = 1
        #: PCs of the gene profiles before gene k-means.
        n_pc: int = 15
        #: Miscoverage of the prediction intervals (0.33: 67% intervals).
        alpha_level: float = 0.33
        #: Symmetric intervals (TISSUE's default) or separate lower/upper quantiles.
        symmetric: bool = True
        #: Nominal coverages of the intervals returned for calibration scoring (``info["intervals"]``,
        #: scored by :mod:`benchmark.metrics.uncertainty`). The confidence uses ``alpha_level`` alone.
        interval_levels: tuple[float, ...] = (0.67, 0.9)

    def fit_predict(self, task: ImputationTask) -> Prediction:
        import tissue.main as tm

        p = self.params
        targets = list(task.target_genes)
        genes = list(task.training_genes)
        coords = task.spatial.obsm["spatial"] if "spatial" in task.spatial.obsm else None
        if coords is None:
            raise InputError("method 'tissue' needs spatial coordinates (task.spatial.obsm['spatial']); "
                             "this dataset has none (set the dataset's spatial_key)")
        coords = np.asarray(coords, dtype=np.float64)[:, :2].copy()
        if not np.isfinite(coords).all():
            raise InputError("method 'tissue': the spatial coordinates contain NaN or infinite values")

        sp_x, ref_shared, used, dropped = varying_shared_genes(task)
        if len(used) < 3:
            raise InputError(f"method 'tissue' needs at least 3 measured genes with non-zero variance in both "
                             f"data sets (SpaGE on cross-validation folds); {len(used)} of {len(genes)} are left")
        ref_target = dense(task.reference[:, targets].X).astype(np.float64, copy=True)

        n_folds = max(2, min(int(p.n_folds), len(used)))
        largest_fold = math.ceil(len(used) / n_folds)
        requested = p.n_pv
        n_pv = tissue_default_n_pv(len(used), task.n_cells) if requested is None else int(requested)
        n_pv = max(1, min(n_pv, len(used) - largest_fold))

        # fresh objects with stand-in names: TISSUE lower-cases var_names in place and writes obsm/obsp
        used_tok, target_tok = _tokens("m", len(used)), _tokens("t", len(targets))
        cells = _tokens("c", task.n_cells)
        sp = ad.AnnData(X=sp_x, obs=pd.DataFrame(index=cells), var=pd.DataFrame(index=used_tok))
        sp.obsm["spatial"] = coords
        ref = ad.AnnData(X=np.hstack([ref_shared, ref_target]),
                         obs=pd.DataFrame(index=_tokens("r", task.reference.n_obs)),
                         var=pd.DataFrame(index=used_tok + target_tok))

        levels = _check_levels(p.interval_levels)
        n_genes_g = len(used) + len(targets)  # columns of TISSUE's prediction matrix
        k_gene = max(1, min(int(p.k_gene), n_genes_g))
        n_pc = max(1, min(int(p.n_pc), n_genes_g, task.n_cells))
        weight_n_pc = max(1, min(10, n_genes_g, task.n_cells))  # 10: TISSUE's default
        # catch_warnings also undoes TISSUE's global warnings.filterwarnings("default", RuntimeWarning)
        with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"), keep_global_rng(task.seed):
            warnings.simplefilter("ignore")
            tm.predict_gene_expression(sp, ref, target_tok, method="spage", n_folds=n_folds,
                                       random_seed=int(task.seed) % 2**32, n_pv=n_pv)
            try:
                tm.build_spatial_graph(sp, method="fixed_radius", n_neighbors=min(int(p.n_neighbors), task.n_cells - 1))
            except (IndexError, ValueError) as exc:  # e.g. every cell at the same place: no edge lengths
                raise InputError(f"method 'tissue' could not build a spatial graph from the coordinates: {exc}") from exc
            calib = list(sp.uns["conf_genes_used"])
            tm.conformalize_spatial_uncertainty(sp, _PREDICTED, calib, weight="exp_cos", add_one=True,
                                                grouping_method="kmeans_gene_cell", k=k_gene, k2=int(p.k_cell),
                                                n_pc=n_pc, weight_n_pc=weight_n_pc)
            # each call overwrites obsm[..._lo/_hi] with one level's bounds; read them after each
            bounds = {}
            for level in levels:
                tm.conformalize_prediction_interval(sp, _PREDICTED, calib, alpha_level=1.0 - level,
                                                    symmetric=bool(p.symmetric))
                bounds[level] = (sp.obsm[_PREDICTED + "_lo"].loc[:, target_tok].to_numpy(dtype=np.float64),
                                 sp.obsm[_PREDICTED + "_hi"].loc[:, target_tok].to_numpy(dtype=np.float64))
            tm.conformalize_prediction_interval(sp, _PREDICTED, calib, alpha_level=float(p.alpha_level),
                                                symmetric=bool(p.symmetric))

        pred = sp.obsm[_PREDICTED].loc[:, target_tok].to_numpy(dtype=np.float64)
        lo = sp.obsm[_PREDICTED + "_lo"].loc[:, target_tok].to_numpy(dtype=np.float64)
        hi = sp.obsm[_PREDICTED + "_hi"].loc[:, target_tok].to_numpy(dtype=np.float64)
        bad_width = ~(np.isfinite(lo) & np.isfinite(hi)).all(axis=0)
        if bad_width.all():
            raise BenchmarkError("TISSUE returned no finite prediction interval (too few calibration scores: "
                                 f"{task.n_cells} cells x {len(calib)} calibration genes)")
        bad = ~np.isfinite(pred)
        n_bad_cells = int(bad.any(axis=1).sum())
        pred[bad] = 0.0
        lo, hi = np.where(np.isfinite(lo), lo, pred), np.where(np.isfinite(hi), hi, pred)
        rel = relative_interval_width(lo, hi, pred)
        if bad_width.any():  # no interval for a gene: trust it least
            rel[bad_width] = float(np.max(rel[~bad_width])) + 1.0
        return Prediction(
            pd.DataFrame(pred, index=task.spatial.obs_names, columns=targets),
            confidence=pd.Series(-rel, index=targets, dtype=np.float64),
            info={"n_pv": n_pv, "n_pv_requested": requested, "n_folds": n_folds, "n_shared_used": len(used),
                  "zero_variance_genes_dropped": dropped, "cells_with_nan_set_to_0": n_bad_cells,
                  "genes_without_interval": [g for g, b in zip(targets, bad_width) if b],
                  "mean_interval_width": float(np.mean(hi - lo)), "k_gene": k_gene,
                  "alpha_level": float(p.alpha_level),
                  **_intervals_entry(task.spatial.obs_names, targets, pred, bounds)},
        )
