"""Metric declarations, what a metric is computed from, and what it returns.

A metric is declared once, as a :class:`Metric`: its name and scope, direction, bounds,
label, documentation, and whether it is a column of the summary table, of the report, of the
leaderboard or of the terminal summary. Registering it (:func:`benchmark.metrics.register_metric`,
in-tree or from a plug-in's entry point) is all it takes for :mod:`benchmark.scoring` to compute
it for every method and for the summary, the report and the leaderboard to show it.

A metric computes from a :class:`ScoringInput` (the measured and predicted matrices of one job
or of the assembled K-fold prediction, and whatever else the dataset and the method provide:
coordinates, fields, labels, the reference, confidence, intervals) and returns one of

* a NumPy array of one value per item (cell or gene, by its scope): rows per item, then mean,
  median and the number of undefined items (``n_undefined``);
* :class:`Aggregate`: only the mean, median and ``n_undefined`` of some values;
* :class:`Curve`: one ``stat="mean"`` row per item of a series (a curve over fractions);
* a float: one ``stat="value"`` row;
* :class:`NotScored`: the metric does not apply; with ``row=True`` one ``stat="skipped"`` row
  whose ``item`` says why (shown as "n/a" in the summary), else nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

#: Scopes a metric can have. ``cell``: one value per spatial cell, across the predicted genes.
#: ``gene``: one value per gene, across cells. ``cluster``: one value per clustering of the
#: imputed matrix. ``spatial``: one value per prediction from spatial statistics over genes
#: (Moran's I, spatially variable genes). ``uncertainty``: calibration of a method's intervals
#: and confidence. ``celltype``: agreement of cell types called on measured and imputed
#: profiles. ``run``: facts about a job (time, memory). ``summary``: computed across the
#: methods of a run when the summary table is made (relative, so never per job).
SCOPES = ("cell", "gene", "cluster", "spatial", "uncertainty", "celltype", "run", "summary")

#: When a metric is computed. ``split``: on every job's prediction and on the assembled K-fold
#: matrix. ``assembled``: on the assembled K-fold matrix only (statistics over all genes, and
#: anything that needs every gene predicted once).
STAGES = ("split", "assembled")


@dataclass(frozen=True)
class NotScored:
    """A metric that does not apply to this prediction, and why."""

    reason: str
    #: write a ``stat="skipped"`` row carrying the reason (``False``: write nothing)
    row: bool = True


@dataclass(frozen=True)
class Aggregate:
    """Values whose mean, median and count of undefined values are the metric's rows (no per-item rows)."""

    values: np.ndarray


@dataclass(frozen=True)
class Curve:
    """One ``stat="mean"`` row per item (index) of ``values``."""

    values: pd.Series


@dataclass
class ScoringInput:
    """Everything a metric may be computed from, for one prediction.

    Attributes
    ----------
    truth, prediction
        Measured and predicted cells x genes in the run's scoring space, same labels.
    stage
        ``"split"`` (one job) or ``"assembled"`` (every gene predicted once, K-fold).
    returned
        The prediction as the method returned it (the preprocessed scale, all shared genes),
        whatever the scoring space; ``None`` before assembly.
    space
        The scoring space (``normalized`` or ``counts``).
    context
        Per-dataset facts and caches shared by every method (:class:`DatasetContext`).
    confidence
        Per-gene confidence of the method, or ``None``.
    intervals
        Nominal coverage -> (below, above) cells x genes distances of the interval bounds from
        the prediction, on the preprocessed scale, or ``None`` when the method returns none.
    intervals_reason
        Why there are no intervals, when the method said (e.g. too many to keep).
    seed
        The job seed (clustering).
    """

    truth: pd.DataFrame
    prediction: pd.DataFrame
    stage: str = "split"
    returned: pd.DataFrame | None = None
    space: str = "normalized"
    context: "DatasetContext | None" = None
    confidence: pd.Series | None = None
    intervals: dict[float, tuple[pd.DataFrame, pd.DataFrame]] | None = None
    intervals_reason: str = ""
    seed: int = 0
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def cached(self, key: str, fn: Callable[[], Any]) -> Any:
        """``fn()`` computed once per input: metrics that share a computation (one clustering
        for ARI, FMI and completeness; one Moran's I for several metrics) ask for it by key."""
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """``(truth, prediction)`` as float64 arrays, prediction aligned to the truth's labels."""
        def _make():
            p = self.prediction.loc[self.truth.index, self.truth.columns]
            return self.truth.to_numpy(dtype=np.float64), p.to_numpy(dtype=np.float64)
        return self.cached("_arrays", _make)


@dataclass
class DatasetContext:
    """Facts of one dataset that metrics use beside the matrices, with a cache shared by methods.

    Attributes
    ----------
    name
        Dataset name.
    coords
        Spatial coordinates of the scored cells (rows of the truth), ``n x 2``, or ``None``.
    coords_reason
        Why there are no coordinates (when ``coords`` is ``None``).
    fields
        Coordinate frame of each cell (imaging field, section), or ``None`` for one frame.
        Spatial statistics are computed within each frame, never across.
    field_coords
        Coordinates within each frame (``obsm["spatial_field"]``) where the dataset has them;
        ``coords`` (frames tiled side by side) otherwise.
    labels
        Known cell types of the scored cells, or ``None``.
    reference
        Reference cells x shared genes on the preprocessed scale, or ``None``.
    reference_labels
        Cell types of the reference cells, or ``None``.
    measured
        The measured spatial cells x shared genes on the preprocessed scale (the scale the
        methods' ``returned`` predictions are on).
    cluster_params
        Leiden parameters, or ``None`` when the run does not cluster.
    """

    name: str
    coords: np.ndarray | None = None
    coords_reason: str = ""
    fields: np.ndarray | None = None
    field_coords: np.ndarray | None = None
    labels: pd.Series | None = None
    reference: pd.DataFrame | None = None
    reference_labels: pd.Series | None = None
    measured: pd.DataFrame | None = None
    cluster_params: Any = None
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False)

    @property
    def within_field_coords(self) -> np.ndarray | None:
        """Each cell's coordinates in its own field's frame: ``field_coords`` where the dataset has
        them, else ``coords`` (one frame, or fields already apart)."""
        return self.field_coords if self.field_coords is not None else self.coords

    def cached(self, key: Any, fn: Callable[[], Any]) -> Any:
        """``fn()`` computed once per dataset (e.g. the measured genes' Moran's I)."""
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]


@dataclass(frozen=True)
class Metric:
    """A registered metric.

    Attributes
    ----------
    name
        Short name used in results (``css``, ``mse``, ...).
    scope
        One of :data:`SCOPES`.
    higher_is_better
        Direction; ``None`` for a metric with a target instead (``best``: a coverage should
        equal its nominal level) or without one (a count, a signed bias).
    bounds
        ``(low, high)``; ``None`` for unbounded sides.
    best
        The value a perfect prediction reaches.
    description
        Formula and conventions, for ``ls metrics`` and the docs.
    fn
        For ``cell``/``gene`` metrics: ``fn(truth, pred) -> per-item values`` with cells x genes
        arrays (per-cell values for scope ``cell``; per-gene for ``gene``). Enough to be scored.
    compute
        ``compute(ScoringInput) -> result`` (see the module docstring), for metrics that need
        more than the two matrices. ``None`` with no ``fn``: recorded by someone else (the
        harness's run facts, the summary's accuracy score).
    stage
        One of :data:`STAGES`.
    space_dependent
        Computed in the run's scoring space (skipped where that space does not apply to the
        method); ``False`` for metrics of the prediction as returned (clusters, cell typing).
    label
        Human-readable name in tables and figures (default ``"<scope> <name>"``).
    order
        Position among the summary/report columns (smaller first).
    summary
        A column of ``summary.csv`` (the mean over items, or the value).
    report
        A metric of the report's tables.
    rank
        One of the metrics the report's rank heatmap and mean rank use.
    leaderboard
        Position among the leaderboard's metric columns, or ``None`` if it is not one.
    primary
        Priority among the terminal summary's columns, or ``None`` if it is not one.
    reference
        Where the metric is defined (paper or code), for the docs.
    """

    name: str
    scope: str
    higher_is_better: bool | None
    bounds: tuple[float | None, float | None]
    best: float
    description: str
    fn: Callable | None = None
    compute: Callable[[ScoringInput], Any] | None = None
    stage: str = "split"
    space_dependent: bool = True
    label: str = ""
    order: float = 1000.0
    summary: bool = False
    report: bool = False
    rank: bool = False
    leaderboard: float | None = None
    primary: float | None = None
    reference: str = ""

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"metric {self.name!r}: scope must be one of {SCOPES}, not {self.scope!r}")
        if self.stage not in STAGES:
            raise ValueError(f"metric {self.name!r}: stage must be one of {STAGES}, not {self.stage!r}")
        if not self.name or "/" in self.name:
            raise ValueError(f"metric name must be non-empty and without '/', got {self.name!r}")

    @property
    def key(self) -> str:
        return f"{self.scope}/{self.name}"

    @property
    def column(self) -> str:
        """The metric's column in the summary, report and leaderboard tables: ``<scope>_<name>``
        (the bare name for run facts and summary-time metrics)."""
        return self.name if self.scope in ("run", "summary") else f"{self.scope}_{self.name}"

    @property
    def direction(self) -> str:
        """``higher``, ``lower``, ``target <best>`` or ``none``, for listings."""
        if self.higher_is_better is None:
            return "none" if self.best is None or not np.isfinite(self.best) else f"target {self.best:g}"
        return "higher" if self.higher_is_better else "lower"

    @property
    def display(self) -> str:
        return self.label or f"{self.scope} {self.name}"

    @property
    def scored(self) -> bool:
        """Whether :mod:`benchmark.scoring` computes it (it has ``compute`` or ``fn``)."""
        return self.compute is not None or (self.fn is not None and self.scope in ("cell", "gene"))
