"""Scoring predictions against the held-out truth, as tidy rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .metrics import CLUSTER_METRICS, EXPRESSION_METRICS, ClusterParams, cluster_scores, cosine_similarity, top_fraction


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
    """Cell- and gene-level CSS, MSE and PCC of ``pred`` against ``truth`` (same shape and labels).

    Returns per-item rows (``stat="value"``; ``item`` = cell or gene id) if ``per_item``, and the
    mean and median of each metric (``item=""``).
    """
    pred = pred.loc[truth.index, truth.columns]
    t = truth.to_numpy(dtype=np.float64)
    p = pred.to_numpy(dtype=np.float64)
    rows: list[dict[str, Any]] = []
    for m in EXPRESSION_METRICS:
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
    """Gene-level CSS of the ``fraction`` most confident genes (mean and median)."""
    css = pd.Series(cosine_similarity(truth.to_numpy(), pred.loc[truth.index, truth.columns].to_numpy(), 0),
                    index=truth.columns)
    top = top_fraction(css.dropna(), confidence, fraction).to_numpy()
    return _aggregate_rows(f"css_top{round(fraction * 100)}_reliable", "gene", top)
