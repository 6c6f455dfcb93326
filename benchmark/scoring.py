"""Scoring predictions against the held-out truth, as tidy rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .metrics import (
    CLUSTER_METRICS,
    EXPRESSION_METRICS,
    SPATIAL_METRICS,
    ClusterParams,
    cluster_scores,
    cosine_similarity,
    reliability_auc,
    reliability_curve,
    ssim_grid,
    top_fraction,
)


def _aggregate_rows(metric: str, scope: str, values: np.ndarray) -> list[dict[str, Any]]:
    finite = values[np.isfinite(values)]
    rows = [
        {"metric": metric, "scope": scope, "item": "", "stat": "mean",
         "value": float(finite.mean()) if finite.size else np.nan},
        {"metric": metric, "scope": scope, "item": "", "stat": "median",
         "value": float(np.median(finite)) if finite.size else np.nan},
    ]
    if finite.size < values.size:  # say how many items were undefined (NaN) and left out
        rows.append({"metric": metric, "scope": scope, "item": "", "stat": "n_undefined",
                     "value": float(values.size - finite.size)})
    return rows


def score_expression(truth: pd.DataFrame, pred: pd.DataFrame, *, per_item: bool = True) -> list[dict[str, Any]]:
    """Cell- and gene-level CSS, MSE and PCC, and gene-level SSIM, RMSE and JS (Li et al. 2022),
    of ``pred`` against ``truth`` (same shape and labels).

    Returns per-item rows (``stat="value"``; ``item`` = cell or gene id) if ``per_item``, and the
    mean and median of each metric (``item=""``).
    """
    pred = pred.loc[truth.index, truth.columns]
    t = truth.to_numpy(dtype=np.float64)
    p = pred.to_numpy(dtype=np.float64)
    rows: list[dict[str, Any]] = []
    for m in EXPRESSION_METRICS + SPATIAL_METRICS:
        values = np.asarray(m.fn(t, p), dtype=np.float64)
        items = truth.index if m.scope == "cell" else truth.columns
        if per_item:
            rows.extend(
                {"metric": m.name, "scope": m.scope, "item": str(i), "stat": "value", "value": float(v)}
                for i, v in zip(items, values)
            )
        rows.extend(_aggregate_rows(m.name, m.scope, values))
    return rows


def score_clusters(pred: pd.DataFrame, labels: pd.Series, params: ClusterParams, seed: int) -> list[dict[str, Any]]:
    """ARI, FMI and Completeness of Leiden clusters of ``pred`` vs ``labels``."""
    scores = cluster_scores(pred.to_numpy(), labels.loc[pred.index].to_numpy(), params, seed)
    rows = [{"metric": m.name, "scope": "cluster", "item": "", "stat": "value", "value": scores[m.name]}
            for m in CLUSTER_METRICS]
    rows.append({"metric": "n_clusters", "scope": "cluster", "item": "", "stat": "value", "value": scores["n_clusters"]})
    return rows


def score_reliability(truth: pd.DataFrame, pred: pd.DataFrame, confidence: pd.Series,
                      fraction: float = 0.5) -> list[dict[str, Any]]:
    """Gene-level CSS of the ``fraction`` most confident genes (mean and median), and the reliability curve.

    The curve rows (``css_reliability_curve``, ``_oracle``, ``_random``; ``item`` = fraction of
    genes kept, ``stat="mean"``) and their summary ``css_reliability_auc`` are described in
    :func:`benchmark.metrics.reliability_curve` and :func:`benchmark.metrics.reliability_auc`.
    """
    aligned = pred.loc[truth.index, truth.columns].to_numpy(np.float64)
    css = pd.Series(cosine_similarity(truth.to_numpy(), aligned, 0), index=truth.columns)
    top = top_fraction(css.dropna(), confidence, fraction).to_numpy()
    rows = _aggregate_rows(f"css_top{round(fraction * 100)}_reliable", "gene", top)
    # The yardstick a confidence must beat: the RMS of the method's own prediction per gene. CSS is
    # a cosine, so genes predicted large tend to score high whatever their uncertainty.
    scale = pd.Series(np.sqrt(np.mean(np.square(aligned), axis=0)), index=truth.columns)
    rows += _aggregate_rows(f"css_top{round(fraction * 100)}_scale_only", "gene",
                            top_fraction(css.dropna(), scale, fraction).to_numpy())
    if css.notna().any():
        curve = reliability_curve(css, confidence)
        for col in ("method", "oracle", "random"):
            name = "css_reliability_curve" if col == "method" else f"css_reliability_{col}"
            rows.extend({"metric": name, "scope": "gene", "item": f"{f:g}", "stat": "mean", "value": float(v)}
                        for f, v in curve[col].items())
        rows.append({"metric": "css_reliability_auc", "scope": "gene", "item": "", "stat": "value",
                     "value": reliability_auc(curve)})
        rows.append({"metric": "css_reliability_auc_scale_only", "scope": "gene", "item": "", "stat": "value",
                     "value": reliability_auc(reliability_curve(css, scale))})
    return rows


def spatial_coordinates(data, cells: pd.Index) -> tuple[np.ndarray | None, str]:
    """Coordinates of ``cells`` from a :class:`PairedData`'s spatial ``obsm``, or ``(None, reason)``."""
    key = data.spatial_key
    if not key:
        return None, "the dataset has no spatial coordinates (no spatial key)"
    if key not in data.spatial.obsm:
        return None, f"the dataset has no coordinates under obsm[{key!r}]"
    coords = np.asarray(data.spatial[cells].obsm[key], dtype=np.float64)
    if coords.ndim != 2 or coords.shape[1] < 2:
        return None, f"obsm[{key!r}] is not an n x 2 array (shape {coords.shape})"
    if not np.isfinite(coords[:, :2]).all():
        return None, f"obsm[{key!r}] has NaN or infinite coordinates"
    return coords[:, :2], ""


def score_grid(truth: pd.DataFrame, pred: pd.DataFrame, coords: np.ndarray | None, *, per_item: bool = True,
               reason: str = "") -> list[dict[str, Any]]:
    """Gene-level SSIM on the rasterised grid (``ssim_grid``), or one ``stat="skipped"`` row.

    Without coordinates (``coords is None``) the metric is skipped: the row has ``item`` = the
    reason and a NaN value, so the results say why the metric is missing.
    """
    if coords is None:
        return [{"metric": "ssim_grid", "scope": "gene", "item": reason or "no spatial coordinates",
                 "stat": "skipped", "value": np.nan}]
    pred = pred.loc[truth.index, truth.columns]
    values = ssim_grid(truth.to_numpy(dtype=np.float64), pred.to_numpy(dtype=np.float64), coords)
    rows: list[dict[str, Any]] = []
    if per_item:
        rows.extend({"metric": "ssim_grid", "scope": "gene", "item": str(g), "stat": "value", "value": float(v)}
                    for g, v in zip(truth.columns, values))
    rows.extend(_aggregate_rows("ssim_grid", "gene", values))
    return rows
