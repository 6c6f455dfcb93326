"""Reliability of per-gene confidence scores: are the genes a method trusts the ones it got right?

For methods that return a confidence score per predicted gene (stImpute's reliability MLP),
the gene-level CSS of the most confident half of the genes is compared with the CSS of all
genes (the stImpute paper's "top 50% reliable genes"). A confidence that ranks genes well puts
the top half above the whole. :func:`reliability_curve` extends this to every fraction of genes
kept, beside the best possible (oracle) and the chance (random) ranking, and
:func:`reliability_auc` sums the curve up in one number.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .base import Aggregate, Curve, Metric, NotScored
from .expression import cosine_similarity


def top_fraction(values: pd.Series, confidence: pd.Series, fraction: float = 0.5) -> pd.Series:
    """The ``values`` (per gene) of the ``fraction`` most confident genes (at least one gene).

    Ties in confidence are broken by gene order, so the choice is deterministic.
    """
    conf = confidence.loc[values.index]
    n = max(1, int(np.floor(fraction * len(values))))
    order = np.argsort(-conf.to_numpy(), kind="stable")[:n]
    return values.iloc[order]


#: Fractions of genes kept for the reliability curve.
CURVE_FRACTIONS = tuple(round(0.1 * k, 1) for k in range(1, 11))


def _n_kept(fraction: float, n: int) -> int:
    # the small tolerance keeps 0.7 * 10 at 7 although it is 7.000000000000001 or 6.99999...
    return max(1, int(np.floor(fraction * n + 1e-9)))


def reliability_curve(values: pd.Series, confidence: pd.Series,
                      fractions=CURVE_FRACTIONS) -> pd.DataFrame:
    """Mean per-gene value over the top fraction of genes, ranked three ways, for each fraction.

    Parameters
    ----------
    values
        A per-gene metric where higher is better (gene-level CSS), indexed by gene; NaN genes
        are left out.
    confidence
        The method's confidence per gene (higher = more trusted); must cover ``values``.
    fractions
        Fractions of genes kept, each in (0, 1].

    Returns
    -------
    DataFrame indexed by fraction with columns ``method`` (genes ranked by confidence, ties by
    gene order), ``oracle`` (genes ranked by their own value: the best any ranking can do) and
    ``random`` (the expectation under a random ranking, which is the mean over all genes at
    every fraction, since every subset of a given size is equally likely).
    """
    v = values.dropna()
    if v.empty:
        raise ValueError("no gene has a defined value")
    missing = v.index.difference(confidence.index)
    if len(missing):
        raise ValueError(f"confidence lacks genes {list(missing[:5])}")
    by_conf = v.to_numpy()[np.argsort(-confidence.loc[v.index].to_numpy(dtype=np.float64), kind="stable")]
    by_value = np.sort(v.to_numpy())[::-1]
    n = len(v)
    rows = []
    for f in fractions:
        if not 0 < f <= 1:
            raise ValueError(f"fractions must be in (0, 1], got {f}")
        k = _n_kept(f, n)
        rows.append({"fraction": float(f), "method": by_conf[:k].mean(), "oracle": by_value[:k].mean(),
                     "random": v.mean()})
    return pd.DataFrame(rows).set_index("fraction")


def reliability_auc(curve: pd.DataFrame) -> float:
    """Area between the method's curve and the random one, relative to the oracle's (trapezoids).

    ``(A(method) - A(random)) / (A(oracle) - A(random))``: 1 when the confidence ranks genes
    exactly as their values do, 0 for a ranking no better than chance (in expectation), negative
    for one worse than chance. NaN when the oracle is no better than random (all genes equal).
    """
    x = curve.index.to_numpy(dtype=np.float64)

    def _area(col: str) -> float:
        y = curve[col].to_numpy(dtype=np.float64)
        if len(x) == 1:
            return float(y[0])
        return float(((y[1:] + y[:-1]) / 2 * np.diff(x)).sum())  # np.trapezoid needs numpy 2

    area = {c: _area(c) for c in ("method", "oracle", "random")}
    denom = area["oracle"] - area["random"]
    if not denom > 1e-12:
        return float("nan")
    return float((area["method"] - area["random"]) / denom)


#: Fraction of the most confident genes of ``css_top50_reliable`` (the stImpute paper's top 50%).
TOP_FRACTION = 0.5
_NO_CONFIDENCE = NotScored("the method returns no per-gene confidence", row=False)


def _css_and_scale(inp) -> tuple[pd.Series, pd.Series]:
    """Gene-level CSS of the input and the scale-only control's ranking score (the RMS over cells
    of the method's own prediction per gene)."""
    def _make():
        t, p = inp.arrays()
        css = pd.Series(cosine_similarity(t, p, 0), index=inp.truth.columns)
        # The yardstick a confidence must beat: CSS is a cosine, so genes predicted large tend to
        # score high whatever their uncertainty.
        scale = pd.Series(np.sqrt(np.mean(np.square(p), axis=0)), index=inp.truth.columns)
        return css, scale
    return inp.cached("reliability_css", _make)


def _top(ranking: str):
    def compute(inp):
        if inp.confidence is None:
            return _NO_CONFIDENCE
        css, scale = _css_and_scale(inp)
        by = inp.confidence if ranking == "confidence" else scale
        return Aggregate(top_fraction(css.dropna(), by, TOP_FRACTION).to_numpy())
    return compute


def _curve(column: str):
    def compute(inp):
        if inp.confidence is None:
            return _NO_CONFIDENCE
        css, _ = _css_and_scale(inp)
        if not css.notna().any():
            return NotScored("no gene has a defined CSS", row=False)
        curve = inp.cached("reliability_curve", lambda: reliability_curve(css, inp.confidence))
        if column == "auc":
            return reliability_auc(curve)
        return Curve(pd.Series(curve[column].to_numpy(), index=[f"{f:g}" for f in curve.index]))
    return compute


def _auc_scale_only(inp):
    if inp.confidence is None:
        return _NO_CONFIDENCE
    css, scale = _css_and_scale(inp)
    if not css.notna().any():
        return NotScored("no gene has a defined CSS", row=False)
    return reliability_auc(reliability_curve(css, scale))


_STIMPUTE = "the stImpute paper's 'top 50% reliable genes'; curve, AUC and scale-only control: this suite (docs/metrics.md)"
_COMMON = dict(stage="assembled", reference=_STIMPUTE)

RELIABILITY_METRICS = [
    Metric(
        "css_top50_reliable", "gene", True, (-1.0, 1.0), 1.0,
        "Gene-level CSS over the 50% of genes with the highest confidence score (methods with confidence only); "
        "compare with gene-level CSS over all genes.",
        compute=_top("confidence"), label="gene CSS, top 50% confident", order=6, summary=True, report=True,
        leaderboard=6, **_COMMON,
    ),
    Metric(
        "css_reliability_curve", "gene", True, (-1.0, 1.0), 1.0,
        "Reliability curve (methods with confidence only): mean gene-level CSS over the top fraction f of genes "
        "ranked by confidence, one row per f = 0.1, 0.2, .., 1.0 (item = f). At f = 1 it is the mean over all genes.",
        compute=_curve("method"), label="reliability curve", **_COMMON,
    ),
    Metric(
        "css_reliability_oracle", "gene", True, (-1.0, 1.0), 1.0,
        "The same curve with genes ranked by their true CSS (the best any confidence can do); item = f.",
        compute=_curve("oracle"), label="reliability curve, oracle", **_COMMON,
    ),
    Metric(
        "css_reliability_random", "gene", True, (-1.0, 1.0), 1.0,
        "The curve's expectation under a random ranking of genes: the mean CSS over all genes at every f; item = f.",
        compute=_curve("random"), label="reliability curve, random", **_COMMON,
    ),
    Metric(
        "css_reliability_auc", "gene", True, (None, 1.0), 1.0,
        "(area under curve - area under random) / (area under oracle - area under random), trapezoids over f: "
        "1 = confidence ranks genes as their CSS does, 0 = no better than chance, < 0 = worse.",
        compute=_curve("auc"), label="reliability AUC", order=8, summary=True, **_COMMON,
    ),
    Metric(
        "css_top50_scale_only", "gene", True, (-1.0, 1.0), 1.0,
        "Control for css_top50_reliable (methods with confidence only): the same, with genes ranked by the RMS "
        "over cells of the method's own prediction instead of its confidence. CSS is a cosine, so large "
        "predictions tend to score high; a confidence is informative where it beats this.",
        compute=_top("scale"), label="gene CSS, top 50% by scale", order=7, summary=True, **_COMMON,
    ),
    Metric(
        "css_reliability_auc_scale_only", "gene", True, (None, 1.0), 1.0,
        "css_reliability_auc with genes ranked by the RMS of the method's own prediction (the scale-only control).",
        compute=_auc_scale_only, label="reliability AUC, scale only", order=9, summary=True, **_COMMON,
    ),
]
