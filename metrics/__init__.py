"""The metric registry: every metric declared once, with its scope, direction, bounds and where it is shown.

What reads it: :mod:`benchmark.scoring` computes every registered metric that has a ``compute``
or ``fn`` (:attr:`Metric.scored`); :data:`benchmark.results.SUMMARY_METRICS` and the terminal
summary's :data:`benchmark.results.PRIMARY_COLUMNS`, the report's metric lists and labels
(:mod:`benchmark.reports.data`) and the leaderboard's metric columns
(``benchmark.leaderboard.METRIC_COLUMNS``) are derived from it. Adding a metric is one
:class:`Metric` passed to :func:`register_metric`: in a module of this folder, or in an
installed package that declares an entry point in the group :data:`ENTRY_POINT_GROUP` naming
a module (whose import registers its metrics) or a :class:`Metric`.

The registry is an instance of the generic :class:`benchmark.registry.Registry` (issue 22), as
are those of methods and datasets: lazy discovery, entry points, load errors in
:func:`broken_metrics`, and ``snapshot``/``restore``/``isolated`` for tests. Its entries keep
their registration order, which is the row order of the results.
"""

from __future__ import annotations

from benchmark.registry import Registry

from .base import SCOPES, STAGES, Aggregate, Curve, DatasetContext, Metric, NotScored, ScoringInput
from .celltype import CELLTYPE_METRICS
from .clustering import CLUSTER_COUNT, CLUSTER_METRICS, ClusterParams, cluster_scores, leiden_clusters
from .expression import EXPRESSION_METRICS, cosine_similarity, mean_squared_error, pearson_correlation
from .reliability import CURVE_FRACTIONS, RELIABILITY_METRICS, reliability_auc, reliability_curve, top_fraction
from .spatial import (
    GRID_METRICS,
    MORAN_METRICS,
    SPATIAL_METRICS,
    SUMMARY_ONLY_METRICS,
    accuracy_score,
    js_divergence,
    morans_i,
    rmse_zscored,
    ssim_global,
    ssim_grid,
)
from .uncertainty import UNCERTAINTY_METRICS

#: Entry-point group through which installed packages register metrics.
ENTRY_POINT_GROUP = "st_impute_bench.metrics"

RUN_METRICS = [
    Metric("runtime_s", "run", False, (0.0, None), 0.0, "Wall-clock seconds of the job (fit and predict).",
           label="runtime (s)"),
    Metric("peak_memory_mb", "run", False, (0.0, None), 0.0,
           "Peak resident memory of the job's process (MiB), including the harness's share.",
           label="peak memory (MB)"),
]


def _check_metric(obj) -> None:
    if not isinstance(obj, Metric):
        raise TypeError(f"register a benchmark.metrics.Metric, not {type(obj).__name__}")


#: The metric registry (the generic ``benchmark.registry.Registry``): the metrics of this folder, registered
#: below, then any module of this folder that registers its own and the entry points of
#: :data:`ENTRY_POINT_GROUP`. Registration order is kept: it is the row order of the results.
REGISTRY: Registry[Metric] = Registry(
    "metric",
    key=lambda m: m.key,
    package=__name__,
    skip_modules={"base"},
    entry_point_group=ENTRY_POINT_GROUP,
    accepts=lambda obj: isinstance(obj, Metric),
    accepts_what="a module or a Metric",
    validate=_check_metric,
    sort=False,
)
for _m in (EXPRESSION_METRICS + SPATIAL_METRICS + GRID_METRICS + RELIABILITY_METRICS + CLUSTER_METRICS
           + [CLUSTER_COUNT] + MORAN_METRICS + UNCERTAINTY_METRICS + CELLTYPE_METRICS + RUN_METRICS
           + SUMMARY_ONLY_METRICS):
    REGISTRY.register(_m)


def all_metrics() -> dict[str, Metric]:
    """Metrics by key ``scope/name``, in registration order."""
    return REGISTRY.all()


def get_metric(key: str) -> Metric:
    return REGISTRY.get(key)


def register_metric(metric: Metric) -> Metric:
    """Register ``metric``: it is then scored for every method and shown where its flags say."""
    return REGISTRY.register(metric)


def broken_metrics() -> dict[str, str]:
    """Metric plug-ins that failed to load: ``{entry point: error}``."""
    return REGISTRY.broken()


def scored_metrics() -> list[Metric]:
    """The metrics :mod:`benchmark.scoring` computes, in registration order."""
    return [m for m in all_metrics().values() if m.scored]


def _by_order(flag: str) -> list[Metric]:
    return sorted((m for m in all_metrics().values() if getattr(m, flag)), key=lambda m: m.order)


def summary_metrics() -> list[tuple[str, str]]:
    """``(scope, name)`` of the summary table's metric columns, in order."""
    return [(m.scope, m.name) for m in _by_order("summary")]


def report_metrics() -> list[str]:
    """Columns (``scope_name``) of the report's metric tables, in order."""
    return [m.column for m in _by_order("report")]


def rank_metrics() -> list[str]:
    """Columns of the report's rank heatmap and mean rank, in order."""
    return [m.column for m in _by_order("rank")]


#: Metric families beyond the expression metrics, each ``(scopes, further columns)``: the report draws
#: one figure per family (reports/figures.py), the leaderboard one table per dataset and family
#: (benchmark/leaderboard/render.py). Moran's I difference is per gene but belongs with the spatial ones.
FAMILIES = {
    "spatial": (("spatial",), ("gene_morans_i_abs_diff",)),
    "uncertainty": (("uncertainty",), ()),
    "celltype": (("celltype",), ()),
}


def in_family(metric: Metric, family: str) -> bool:
    """Whether ``metric`` belongs to the :data:`FAMILIES` entry ``family``."""
    scopes, extra = FAMILIES[family]
    return metric.scope in scopes or metric.column in extra


def leaderboard_columns() -> list[str]:
    """The leaderboard's metric columns in their order; the first (the primary metric) is followed by its
    standard deviation over seeds (``<column>_sd``)."""
    cols = [m.column for m in sorted((m for m in all_metrics().values() if m.leaderboard is not None),
                                     key=lambda m: m.leaderboard)]
    return cols[:1] + [f"{cols[0]}_sd"] + cols[1:] if cols else []


def primary_columns() -> list[str]:
    """The terminal summary's metric columns, by priority."""
    return [m.column for m in sorted((m for m in all_metrics().values() if m.primary is not None),
                                     key=lambda m: m.primary)]


def labels() -> dict[str, str]:
    """Human-readable label of every metric column."""
    return {m.column: m.display for m in all_metrics().values()}


def metric_of_column(column: str) -> Metric | None:
    """The metric whose column is ``column`` (``gene_pcc``), or ``None``."""
    return next((m for m in all_metrics().values() if m.column == column), None)


__all__ = [
    "FAMILIES",
    "in_family",
    "Metric",
    "SCOPES",
    "STAGES",
    "Aggregate",
    "Curve",
    "NotScored",
    "ScoringInput",
    "DatasetContext",
    "ENTRY_POINT_GROUP",
    "REGISTRY",
    "ClusterParams",
    "all_metrics",
    "get_metric",
    "register_metric",
    "broken_metrics",
    "scored_metrics",
    "summary_metrics",
    "report_metrics",
    "rank_metrics",
    "leaderboard_columns",
    "primary_columns",
    "labels",
    "metric_of_column",
    "cluster_scores",
    "leiden_clusters",
    "cosine_similarity",
    "mean_squared_error",
    "pearson_correlation",
    "morans_i",
    "EXPRESSION_METRICS",
    "CLUSTER_METRICS",
    "RELIABILITY_METRICS",
    "top_fraction",
    "CURVE_FRACTIONS",
    "reliability_curve",
    "reliability_auc",
    "SPATIAL_METRICS",
    "GRID_METRICS",
    "MORAN_METRICS",
    "UNCERTAINTY_METRICS",
    "CELLTYPE_METRICS",
    "SUMMARY_ONLY_METRICS",
    "accuracy_score",
    "js_divergence",
    "rmse_zscored",
    "ssim_global",
    "ssim_grid",
]
