"""Registry of metrics, each with its scope, direction and bounds."""

from __future__ import annotations

from benchmark.errors import UnknownNameError

from .base import SCOPES, Metric
from .clustering import CLUSTER_METRICS, ClusterParams, cluster_scores, leiden_clusters
from .expression import EXPRESSION_METRICS, cosine_similarity, mean_squared_error, pearson_correlation
from .reliability import CURVE_FRACTIONS, RELIABILITY_METRICS, reliability_auc, reliability_curve, top_fraction
from .spatial import (
    GRID_METRICS,
    SPATIAL_METRICS,
    SUMMARY_ONLY_METRICS,
    accuracy_score,
    js_divergence,
    rmse_zscored,
    ssim_global,
    ssim_grid,
)

RUN_METRICS = [
    Metric("runtime_s", "run", False, (0.0, None), 0.0, "Wall-clock seconds of the job (fit and predict)."),
    Metric("peak_memory_mb", "run", False, (0.0, None), 0.0,
           "Peak resident memory of the job's process (MiB), including the harness's share."),
]

_REGISTRY: dict[str, Metric] = {
    m.key: m
    for m in EXPRESSION_METRICS + SPATIAL_METRICS + GRID_METRICS + RELIABILITY_METRICS + CLUSTER_METRICS
    + RUN_METRICS + SUMMARY_ONLY_METRICS
}


def all_metrics() -> dict[str, Metric]:
    """Metrics by key ``scope/name``."""
    return dict(_REGISTRY)


def get_metric(key: str) -> Metric:
    if key not in _REGISTRY:
        raise UnknownNameError("metric", key, list(_REGISTRY))
    return _REGISTRY[key]


def register_metric(metric: Metric) -> Metric:
    if metric.scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}")
    _REGISTRY[metric.key] = metric
    return metric


__all__ = [
    "Metric",
    "SCOPES",
    "ClusterParams",
    "all_metrics",
    "get_metric",
    "register_metric",
    "cluster_scores",
    "leiden_clusters",
    "cosine_similarity",
    "mean_squared_error",
    "pearson_correlation",
    "EXPRESSION_METRICS",
    "CLUSTER_METRICS",
    "RELIABILITY_METRICS",
    "top_fraction",
    "CURVE_FRACTIONS",
    "reliability_curve",
    "reliability_auc",
    "SPATIAL_METRICS",
    "GRID_METRICS",
    "SUMMARY_ONLY_METRICS",
    "accuracy_score",
    "js_divergence",
    "rmse_zscored",
    "ssim_global",
    "ssim_grid",
]
