"""Expression metrics at cell and gene level: CSS (cosine similarity), MSE, PCC.

All are computed on the shared log-normalised scale (the spatial data normalised SpaGE-style
over all shared genes; predictions as methods return them). ``axis=1`` gives one value per
cell across the predicted genes; ``axis=0`` one value per gene across cells.

Conventions for degenerate vectors (documented because they decide what controls score):

* CSS: undefined (NaN) when the measured vector is all zero; 0 when only the prediction is.
* PCC: undefined (NaN) when the measured vector is constant; 0 when only the prediction is
  constant (a constant prediction carries no linear information).
* MSE is always defined.

NaN items are left out of the mean and median, and counted.
"""

from __future__ import annotations

import numpy as np

from .base import Metric


def _as_float(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def cosine_similarity(truth, pred, axis: int) -> np.ndarray:
    """Cosine similarity of matching rows (``axis=1``) or columns (``axis=0``)."""
    t, p = _as_float(truth), _as_float(pred)
    num = (t * p).sum(axis=axis)
    nt = np.sqrt((t * t).sum(axis=axis))
    npred = np.sqrt((p * p).sum(axis=axis))
    out = np.full(num.shape, np.nan)
    ok = nt > 0
    both = ok & (npred > 0)
    out[both] = num[both] / (nt[both] * npred[both])
    out[ok & ~(npred > 0)] = 0.0
    return np.clip(out, -1.0, 1.0)


def mean_squared_error(truth, pred, axis: int) -> np.ndarray:
    t, p = _as_float(truth), _as_float(pred)
    return ((t - p) ** 2).mean(axis=axis)


def pearson_correlation(truth, pred, axis: int) -> np.ndarray:
    t, p = _as_float(truth), _as_float(pred)
    tc = t - t.mean(axis=axis, keepdims=True)
    pc = p - p.mean(axis=axis, keepdims=True)
    # Centred vectors of constant inputs are exactly zero up to rounding; treat tiny as zero.
    tol_t = 1e-12 * np.maximum(1.0, np.abs(t).max(axis=axis))
    tol_p = 1e-12 * np.maximum(1.0, np.abs(p).max(axis=axis))
    nt = np.sqrt((tc * tc).sum(axis=axis))
    npred = np.sqrt((pc * pc).sum(axis=axis))
    num = (tc * pc).sum(axis=axis)
    out = np.full(num.shape, np.nan)
    ok = nt > tol_t
    both = ok & (npred > tol_p)
    out[both] = num[both] / (nt[both] * npred[both])
    out[ok & ~(npred > tol_p)] = 0.0
    return np.clip(out, -1.0, 1.0)


def _per(fn, axis):
    return lambda truth, pred: fn(truth, pred, axis)


#: (scope, axis, summary order, label prefix) of the per-cell and per-gene versions
_SCOPES = (("cell", 1, 0, "cell"), ("gene", 0, 3, "gene"))
#: leaderboard positions (gene PCC, the primary metric, first) and terminal-summary priorities
_LEADERBOARD = {"gene/pcc": 0, "gene/css": 1, "gene/mse": 2, "cell/css": 3, "cell/pcc": 4, "cell/mse": 5}
_PRIMARY = {"gene/pcc": 1, "cell/css": 5, "gene/css": 6}
#: metrics of the report's rank heatmap (gene MSE is left out: its mean is the cell MSE mean, the MSE
#: of the whole matrix, so it would count twice)
_RANKED = {"cell/css", "cell/mse", "cell/pcc", "gene/css", "gene/pcc"}


def _expression_metric(name: str, position: int, higher: bool, bounds, best: float, label: str, what: str,
                       fn) -> list[Metric]:
    out = []
    for scope, axis, base, prefix in _SCOPES:
        key = f"{scope}/{name}"
        out.append(Metric(
            name, scope, higher, bounds, best, what.format(scope=scope), _per(fn, axis),
            label=f"{prefix} {label}", order=base + position, summary=True, report=True, rank=key in _RANKED,
            leaderboard=_LEADERBOARD.get(key), primary=_PRIMARY.get(key),
            reference="Li et al. 2022, Nat. Methods 19:662 (SpatialBenchmarking)",
        ))
    return out


EXPRESSION_METRICS = (
    _expression_metric("css", 0, True, (-1.0, 1.0), 1.0, "CSS",
                       "Cosine similarity between measured and predicted vectors of each {scope}: "
                       "sum(t*p)/(|t||p|). NaN if the measured vector is all zero.", cosine_similarity)
    + _expression_metric("mse", 1, False, (0.0, None), 0.0, "MSE",
                         "Mean squared error between measured and predicted values of each {scope}: mean((t-p)^2).",
                         mean_squared_error)
    + _expression_metric("pcc", 2, True, (-1.0, 1.0), 1.0, "PCC",
                         "Pearson correlation between measured and predicted vectors of each {scope}. "
                         "NaN if the measured vector is constant; 0 if only the prediction is.", pearson_correlation)
)
