"""Calibration of a method's uncertainty: prediction intervals and per-gene confidence (issue 21).

For methods that return prediction intervals (TISSUE's conformal intervals: the method puts
them in ``Prediction.info["intervals"]``, read by :func:`read_intervals`):

* **coverage** at a nominal level: the fraction of (cell, gene) pairs of the assembled
  prediction whose measured value lies in the interval (bounds included). A calibrated 67%
  interval covers 0.67;
* **width**: the mean interval width (upper - lower) over cells and genes, on the preprocessed
  scale (log-normalised expression). Only comparable between methods at equal coverage.

For methods that return a per-gene confidence:

* **confidence_spearman**: Spearman correlation over genes between the confidence and the
  gene's PCC (the primary metric): does the confidence say which genes to trust?
* **confidence_spearman_scale_only**: the same with the RMS over cells of the method's own
  prediction in place of the confidence, the scale-only control of the reliability metrics.

Everything is computed on the preprocessed scale the intervals are given on (the measured
values normalised over all shared genes, the prediction as returned), whatever the run's
scoring space. A method without intervals or confidence gets a ``skipped`` row with the reason
(shown as n/a), never 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .base import Metric, NotScored
from .expression import pearson_correlation

#: Nominal coverages scored (TISSUE's default 67% and a 90% interval).
LEVELS = (0.67, 0.9)

_NO_INTERVALS = "the method returns no prediction intervals"
_NO_CONFIDENCE = "the method returns no per-gene confidence"


def read_intervals(infos: list[dict], cells: pd.Index, genes: list[str]) -> dict[float, tuple[pd.DataFrame,
                                                                                             pd.DataFrame]] | None:
    """The intervals of a method's jobs as ``{level: (lower, upper)}`` cells x genes frames.

    Each job's ``info["intervals"]`` holds ``cells`` and ``genes`` (its order), and per level
    (``"0.67"``) the distances ``below`` and ``above`` the prediction, genes x cells, ``None``
    where the method has no bound. The bounds are returned as distances (add them to the
    prediction), with NaN for missing ones, for the cells ``cells`` and genes ``genes``.

    Returns ``None`` if a job has no intervals or the jobs do not cover ``genes`` at a common level.
    """
    parts: dict[float, list[tuple[pd.DataFrame, pd.DataFrame]]] = {}
    for info in infos:
        iv = (info or {}).get("intervals")
        if not iv:
            return None
        idx = pd.Index([str(c) for c in iv["cells"]])
        for level, b in iv["levels"].items():
            below = pd.DataFrame(np.array(b["below"], dtype=np.float64).T, index=idx, columns=iv["genes"])
            above = pd.DataFrame(np.array(b["above"], dtype=np.float64).T, index=idx, columns=iv["genes"])
            parts.setdefault(float(level), []).append((below, above))
    out = {}
    want = pd.Index([str(c) for c in cells])
    for level, pairs in parts.items():
        below = pd.concat([p[0] for p in pairs], axis=1)
        above = pd.concat([p[1] for p in pairs], axis=1)
        if not set(genes) <= set(below.columns) or not set(want) <= set(below.index):
            continue
        out[level] = (below.loc[want, genes].set_axis(cells, axis=0), above.loc[want, genes].set_axis(cells, axis=0))
    return out or None


def _level_key(intervals: dict, level: float) -> float | None:
    return next((k for k in intervals if abs(k - level) < 1e-9), None)


def _on_scale(inp) -> tuple[np.ndarray, np.ndarray]:
    """(measured, predicted) on the preprocessed scale, cells x genes of the input."""
    ctx = inp.context
    measured = ctx.measured if ctx is not None and ctx.measured is not None else inp.truth
    pred = inp.returned if inp.returned is not None else inp.prediction
    t = measured.loc[inp.truth.index, inp.truth.columns].to_numpy(dtype=np.float64)
    return t, pred.loc[inp.truth.index, inp.truth.columns].to_numpy(dtype=np.float64)


def coverage(measured: np.ndarray, predicted: np.ndarray, below: np.ndarray, above: np.ndarray) -> float:
    """Fraction of entries with ``predicted - below <= measured <= predicted + above``.

    Entries without a bound (NaN) are left out; NaN if none has one.
    """
    ok = np.isfinite(below) & np.isfinite(above)
    if not ok.any():
        return float("nan")
    inside = (measured >= predicted - below) & (measured <= predicted + above)
    return float(inside[ok].mean())


def _coverage(level: float):
    def compute(inp):
        if not inp.intervals:
            return NotScored(inp.intervals_reason or _NO_INTERVALS)
        key = _level_key(inp.intervals, level)
        if key is None:
            return NotScored(f"the method returns no {level:.0%} intervals")
        t, p = _on_scale(inp)
        below, above = inp.intervals[key]
        return coverage(t, p, below.to_numpy(), above.to_numpy())
    return compute


def _width(level: float):
    def compute(inp):
        if not inp.intervals:
            return NotScored(inp.intervals_reason or _NO_INTERVALS)
        key = _level_key(inp.intervals, level)
        if key is None:
            return NotScored(f"the method returns no {level:.0%} intervals")
        below, above = inp.intervals[key]
        w = below.to_numpy() + above.to_numpy()
        return float(np.nanmean(w)) if np.isfinite(w).any() else float("nan")
    return compute


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return float("nan")
    return float(spearmanr(a[ok], b[ok]).statistic)


def _confidence_spearman(control: bool):
    def compute(inp):
        if inp.confidence is None:
            return NotScored(_NO_CONFIDENCE)
        t, p = _on_scale(inp)
        pcc = pearson_correlation(t, p, 0)
        score = np.sqrt(np.mean(np.square(p), axis=0)) if control else \
            inp.confidence.reindex(inp.truth.columns).to_numpy(dtype=np.float64)
        return _spearman(score, pcc)
    return compute


_TISSUE = ("Sun, Hie et al. 2024 (TISSUE), Nat. Methods, doi:10.1038/s41592-024-02184-y; conformal prediction: "
           "Angelopoulos & Bates 2023, Found. Trends Mach. Learn. 16:494")
_COMMON = dict(stage="assembled", space_dependent=False, reference=_TISSUE)

UNCERTAINTY_METRICS = [
    m for level in LEVELS for m in (
        Metric(f"coverage_{round(level * 100)}", "uncertainty", None, (0.0, 1.0), level,
               f"Empirical coverage of the method's nominal {level:.0%} prediction intervals: the fraction of (cell, "
               "gene) pairs of the assembled prediction whose measured value lies in the interval, on the "
               f"preprocessed scale. Target {level:g}: below, over-confident; above, too wide. Methods without "
               "intervals: n/a.",
               compute=_coverage(level), label=f"{level:.0%} interval coverage", order=30 + 2 * LEVELS.index(level),
               summary=True, report=True, leaderboard=13 + 2 * LEVELS.index(level), **_COMMON),
        Metric(f"interval_width_{round(level * 100)}", "uncertainty", None, (0.0, None), float("nan"),
               f"Mean width (upper - lower) of the method's nominal {level:.0%} prediction intervals over cells and "
               "genes, on the preprocessed (log-normalised) scale. Narrower is better only at the nominal "
               "coverage. Methods without intervals: n/a.",
               compute=_width(level), label=f"{level:.0%} interval width", order=31 + 2 * LEVELS.index(level),
               summary=True, leaderboard=14 + 2 * LEVELS.index(level), **_COMMON),
    )
] + [
    Metric("confidence_spearman", "uncertainty", True, (-1.0, 1.0), 1.0,
           "Spearman correlation over genes between the method's per-gene confidence and the gene's PCC on the "
           "preprocessed scale: does the confidence rank the genes by how well they are predicted? Methods "
           "without confidence: n/a.",
           compute=_confidence_spearman(False), label="confidence vs PCC (Spearman)", order=34, summary=True,
           report=True, leaderboard=13 + 2 * len(LEVELS), **_COMMON),
    Metric("confidence_spearman_scale_only", "uncertainty", True, (-1.0, 1.0), 1.0,
           "Control for confidence_spearman (methods with confidence only): the same with the RMS over cells of the "
           "method's own prediction in place of its confidence. A confidence is informative where it beats this.",
           compute=_confidence_spearman(True), label="scale vs PCC (Spearman)", order=35,
           summary=True, leaderboard=14 + 2 * len(LEVELS), **_COMMON),
]

__all__ = ["LEVELS", "UNCERTAINTY_METRICS", "coverage", "read_intervals"]
