"""Scoring predictions against the held-out truth, as tidy rows.

Every registered metric (:mod:`benchmark.metrics`) that can be computed is computed here: the
harness calls :func:`score_split` for each job's prediction and :func:`score_assembled` for the
assembled K-fold matrix, each of which runs the registry's metrics of that stage on a
:class:`~benchmark.metrics.ScoringInput`. A metric registered in-tree or by a plug-in is
therefore scored without any edit here.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .metrics import (
    Aggregate,
    ClusterParams,
    Curve,
    DatasetContext,
    Metric,
    NotScored,
    ScoringInput,
    get_metric,
    scored_metrics,
)

if TYPE_CHECKING:  # imported for type hints only: prepare and runner import heavier modules
    from .prepare import PreparedData
    from .runner import JobOutcome
    from .splits import GeneSplit

#: The spaces a run can score in (``--scoring-space``), with a one-line description each.
SCORING_SPACES: dict[str, str] = {
    "normalized": "the spatial counts normalised over all shared genes with the run's preprocessing, "
                  "predictions as returned (default)",
    "counts": "raw spatial counts; predictions taken back to counts by the inverse of the preprocessing "
              "with each cell's training-gene size factor (SpatialBenchmarking's space)",
}
DEFAULT_SCORING_SPACE = "normalized"


def check_scoring_space(name: str) -> str:
    """Return ``name`` if it is a scoring space.

    Raises
    ------
    benchmark.errors.UnknownNameError
        For any other name, listing the valid ones.
    """
    from .errors import UnknownNameError

    if name not in SCORING_SPACES:
        raise UnknownNameError("scoring space", name, list(SCORING_SPACES))
    return name


def truth_in_space(prep: "PreparedData", space: str) -> pd.DataFrame:
    """The scoring truth of ``prep`` in ``space``: spatial cells x shared genes, float64.

    ``normalized`` is ``prep.truth`` (normalised over all shared genes); ``counts`` the raw
    spatial counts of the shared genes, in the same cell and gene order.
    """
    check_scoring_space(space)
    if space == "normalized":
        return prep.truth
    x = prep.data.spatial[prep.truth.index, prep.shared].X
    x = x.toarray() if sp.issparse(x) else np.asarray(x)
    return pd.DataFrame(x.astype(np.float64), index=prep.truth.index, columns=prep.shared)


def space_skip_reason(space: str, preprocessing: str, method_cls, spatial_values: str = "counts") -> str:
    """Why a method's predictions cannot be scored in ``space`` ("" if they can).

    In ``normalized`` every prediction is scored as returned. In ``counts`` a prediction must be
    on the task's preprocessed scale (the method contract) and the scheme must have an inverse
    to counts (:data:`benchmark.datasets.preprocessing.COUNTS_INVERSES`). The ``truth`` oracle
    returns the normalised truth, whose size factors come from all shared genes rather than the
    task's training genes, so the inverse does not take it back to counts.
    """
    from .datasets.preprocessing import no_counts_inverse_reason

    check_scoring_space(space)
    if space == "normalized":
        return ""
    if spatial_values != "counts":
        return f"the spatial data hold {spatial_values} values, not counts"
    why = no_counts_inverse_reason(preprocessing)
    if why:
        return why
    if method_cls.info.oracle:
        return (f"{method_cls.info.name} returns the truth normalised over all shared genes, not values on the "
                "task's scale (normalised over the training genes), so the inverse to counts does not apply")
    return ""


def space_skipped_row(space: str, reason: str) -> dict[str, Any]:
    """The row that stands for every expression score of a job group not computed in ``space``."""
    return {"metric": "scoring_space", "scope": "run", "item": f"not scored in {space} space: {reason}",
            "stat": "skipped", "value": np.nan}


def training_counts(prep: "PreparedData", split: "GeneSplit", seed: int) -> tuple[Any, pd.Index]:
    """The training-gene counts of a split's task, as the method received them, and their cells.

    Built with :meth:`PreparedData.make_task` itself, so the cells come in the task's order: a
    scheme whose divisors depend on the order of the cells (scran's ring of pools breaks ties of
    library size by position) gets exactly the divisors the task's ``X`` was normalised with.
    """
    task = prep.make_task(split, seed=seed, workdir=Path(tempfile.gettempdir()), time_budget=None,
                          quick=False, device="cpu")
    from .task import COUNTS_LAYER

    return task.spatial.layers[COUNTS_LAYER], pd.Index(task.spatial.obs_names)


def prediction_to_counts(prep: "PreparedData", split: "GeneSplit", seed: int, prediction: pd.DataFrame,
                         basis: tuple[Any, pd.Index] | None = None) -> pd.DataFrame:
    """A prediction on the task's preprocessed scale taken back to counts.

    Each cell's divisor is computed from the task's training-gene counts alone (as its ``X`` was
    normalised), so no held-out gene enters: ``counts = f^-1(prediction) * d_i``
    (:class:`benchmark.datasets.preprocessing.CountsInverse`). ``basis`` is the result of
    :func:`training_counts` for this split and seed, if already computed.

    Raises
    ------
    ValueError
        If the run's scheme has no inverse to counts.
    """
    from .datasets.preprocessing import get_counts_inverse, no_counts_inverse_reason

    inverse = get_counts_inverse(prep.preprocessing)
    if inverse is None:
        raise ValueError(no_counts_inverse_reason(prep.preprocessing))
    counts, cells = basis if basis is not None else training_counts(prep, split, seed)
    aligned = prediction.loc[cells]
    values = inverse.to_counts(aligned.to_numpy(dtype=np.float64), counts)
    return pd.DataFrame(values, index=cells, columns=aligned.columns).loc[prediction.index]


def outcomes_in_space(prep_of: dict[str, "PreparedData"], outcomes: list["JobOutcome"], space: str,
                      skip: dict[tuple[str, str], str]) -> list["JobOutcome"]:
    """The job outcomes with their predictions in ``space`` (the same objects for ``normalized``).

    An outcome that failed, or whose (dataset, method) has a reason in ``skip``, is returned as it
    is (it will not be scored in ``space``). Each split's training counts are built once and shared
    by the methods.
    """
    check_scoring_space(space)
    if space == "normalized":
        return list(outcomes)
    bases: dict[tuple, tuple[Any, pd.Index]] = {}
    out = []
    for o in outcomes:
        if not o.ok or skip.get((o.job.dataset, o.job.method)):
            out.append(o)
            continue
        prep = prep_of[o.job.dataset]
        split = o.job.split
        key = (o.job.dataset, o.job.seed, split.label, tuple(split.train_genes),
               None if split.cells is None else tuple(split.cells))
        if key not in bases:
            bases[key] = training_counts(prep, split, o.job.seed)
        out.append(replace(o, prediction=prediction_to_counts(prep, split, o.job.seed, o.prediction, bases[key])))
    return out


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


def _result_rows(m: Metric, result: Any, inp: ScoringInput, per_item: bool) -> list[dict[str, Any]]:
    """The tidy rows of one metric's result (see :mod:`benchmark.metrics.base` for the result kinds)."""
    if isinstance(result, NotScored):
        if not result.row:
            return []
        return [{"metric": m.name, "scope": m.scope, "item": result.reason or "not applicable", "stat": "skipped",
                 "value": np.nan}]
    if isinstance(result, Aggregate):
        return _aggregate_rows(m.name, m.scope, np.asarray(result.values, dtype=np.float64))
    if isinstance(result, Curve):
        return [{"metric": m.name, "scope": m.scope, "item": str(i), "stat": "mean", "value": float(v)}
                for i, v in result.values.items()]
    values = np.asarray(result, dtype=np.float64)
    if values.ndim == 0:
        return [{"metric": m.name, "scope": m.scope, "item": "", "stat": "value", "value": float(values)}]
    items = inp.truth.index if m.scope == "cell" else inp.truth.columns
    if len(values) != len(items):
        raise ValueError(f"metric {m.key} returned {len(values)} values for {len(items)} {m.scope}s")
    rows: list[dict[str, Any]] = []
    if per_item:
        rows.extend({"metric": m.name, "scope": m.scope, "item": str(i), "stat": "value", "value": float(v)}
                    for i, v in zip(items, values))
    rows.extend(_aggregate_rows(m.name, m.scope, values))
    return rows


def _compute(m: Metric, inp: ScoringInput) -> Any:
    if m.compute is not None:
        return m.compute(inp)
    t, p = inp.arrays()
    return m.fn(t, p)


def score_prediction(inp: ScoringInput, *, per_item: bool = True, metrics: list[Metric] | None = None,
                     space_dependent: bool = True) -> list[dict[str, Any]]:
    """Rows of every metric of ``metrics`` (default: every scored metric of the input's stage) for ``inp``.

    A ``split``-stage input gets the ``split`` metrics; an ``assembled`` one both stages'.
    ``space_dependent=False`` leaves out the metrics computed in the scoring space (for a method
    whose output cannot be taken to that space). Per-item rows only if ``per_item``.
    """
    if metrics is None:
        stages = ("split",) if inp.stage == "split" else ("split", "assembled")
        metrics = [m for m in scored_metrics() if m.stage in stages]
    rows: list[dict[str, Any]] = []
    for m in metrics:
        if m.space_dependent and not space_dependent:
            continue
        rows.extend(_result_rows(m, _compute(m, inp), inp, per_item))
    return rows


def dataset_context(prep: "PreparedData", cluster_params: ClusterParams | None = None) -> DatasetContext:
    """The facts of a prepared dataset that metrics use beside the matrices (coordinates, fields,
    labels, the reference), for its scored cells (``prep.truth``'s rows).

    ``cluster_params`` is ``None`` when the run does not cluster.
    """
    cells = prep.truth.index
    coords, reason = spatial_coordinates(prep.data, cells)
    fields = field_coords = None
    spatial = prep.data.spatial
    key = prep.data.field_key
    if coords is not None and key and key in spatial.obs:
        fields = spatial.obs[key].loc[cells].astype(str).to_numpy()
        from .datasets.quirks import FIELD_COORDS_KEY

        if FIELD_COORDS_KEY in spatial.obsm:  # coordinates within each field, before the fields were tiled
            field_coords = np.asarray(spatial[cells].obsm[FIELD_COORDS_KEY], dtype=np.float64)[:, :2]
    reference = reference_labels = None
    ref = prep.reference
    if ref is not None and set(prep.shared) <= set(ref.var_names):
        x = ref[:, prep.shared].X
        x = x.toarray() if sp.issparse(x) else np.asarray(x)
        reference = pd.DataFrame(x.astype(np.float64), index=ref.obs_names, columns=prep.shared)
        lk = prep.data.label_key
        if lk and lk in ref.obs:
            reference_labels = ref.obs[lk]
    return DatasetContext(prep.name, coords=coords, coords_reason=reason, fields=fields, field_coords=field_coords,
                          labels=prep.labels(), reference=reference, reference_labels=reference_labels,
                          measured=prep.truth, cluster_params=cluster_params)


def score_split(context: DatasetContext | None, truth: pd.DataFrame, prediction: pd.DataFrame, *,
                space: str = "normalized", per_item: bool = True, seed: int = 0) -> list[dict[str, Any]]:
    """Rows of the ``split``-stage metrics of one job's prediction (its target genes) in ``space``."""
    genes = list(truth.columns)
    inp = ScoringInput(truth, prediction[genes], "split", space=space, context=context, seed=seed)
    return score_prediction(inp, per_item=per_item)


def score_assembled(context: DatasetContext | None, truth: pd.DataFrame, assembled: pd.DataFrame, *,
                    outcomes: list["JobOutcome"] = (), returned: pd.DataFrame | None = None,
                    space: str = "normalized", seed: int = 0, unscored: str = "") -> list[dict[str, Any]]:
    """Rows of every metric of the assembled K-fold prediction (every shared gene predicted once).

    ``assembled`` is in the scoring space, ``returned`` as the methods returned it (clusters,
    cell typing, intervals); ``outcomes`` are the jobs as returned, which carry the per-gene
    confidence and the intervals (``info["intervals"]``). With ``unscored`` (why the method's
    output cannot be scored in ``space``) the space-dependent metrics are left out.
    """
    from .metrics.uncertainty import read_intervals

    outs = list(outcomes)
    confidence = (pd.concat([o.confidence for o in outs])
                  if outs and all(o.confidence is not None for o in outs) else None)
    intervals = read_intervals([o.info for o in outs], truth.index, list(truth.columns)) if outs else None
    why = next((str(o.info["intervals_omitted"]) for o in outs if (o.info or {}).get("intervals_omitted")), "")
    inp = ScoringInput(truth, assembled, "assembled", returned=returned, space=space, context=context,
                       confidence=confidence, intervals=intervals, intervals_reason=why, seed=seed)
    return score_prediction(inp, per_item=True, space_dependent=not unscored)


def mean_scores(truth: pd.DataFrame, pred: pd.DataFrame, columns: list[str]) -> dict[str, float]:
    """Means over items of per-item metrics given by column (``gene_pcc``), NaN items left out."""
    t = truth.to_numpy(dtype=np.float64)
    p = pred.loc[truth.index, truth.columns].to_numpy(dtype=np.float64)
    out = {}
    for col in columns:
        scope, _, name = col.partition("_")
        values = np.asarray(get_metric(f"{scope}/{name}").fn(t, p), dtype=np.float64)
        finite = values[np.isfinite(values)]
        out[col] = float(finite.mean()) if finite.size else float("nan")
    return out


# -- single families, for callers that have only some inputs ---------------------------------------


def _family(names: list[str]) -> list[Metric]:
    return [m for m in scored_metrics() if m.key in names]


def score_expression(truth: pd.DataFrame, pred: pd.DataFrame, *, per_item: bool = True) -> list[dict[str, Any]]:
    """Rows of the metrics computed from the two matrices alone (cell- and gene-level CSS, MSE and
    PCC, gene-level SSIM, RMSE and JS of Li et al. 2022, and any plug-in metric with only an ``fn``)
    of ``pred`` against ``truth`` (same shape and labels).

    Returns per-item rows (``stat="value"``; ``item`` = cell or gene id) if ``per_item``, and the
    mean and median of each metric (``item=""``).
    """
    inp = ScoringInput(truth, pred)
    metrics = [m for m in scored_metrics() if m.compute is None and m.stage == "split"]
    return score_prediction(inp, per_item=per_item, metrics=metrics)


def score_clusters(pred: pd.DataFrame, labels: pd.Series, params: ClusterParams, seed: int) -> list[dict[str, Any]]:
    """ARI, FMI, Completeness and the number of Leiden clusters of ``pred`` vs ``labels``."""
    ctx = DatasetContext("", labels=labels, cluster_params=params)
    inp = ScoringInput(pred, pred, "assembled", returned=pred, context=ctx, seed=seed)
    return score_prediction(inp, metrics=[m for m in scored_metrics() if m.scope == "cluster"])


def score_reliability(truth: pd.DataFrame, pred: pd.DataFrame, confidence: pd.Series) -> list[dict[str, Any]]:
    """Gene-level CSS of the 50% most confident genes (mean and median), its scale-only control,
    and the reliability curve and its AUC (:mod:`benchmark.metrics.reliability`)."""
    from .metrics import RELIABILITY_METRICS

    inp = ScoringInput(truth, pred, "assembled", confidence=confidence)
    return score_prediction(inp, metrics=_family([m.key for m in RELIABILITY_METRICS]))


def spatial_coordinates(data, cells: pd.Index) -> tuple[np.ndarray | None, str]:
    """Coordinates of ``cells`` from a :class:`PairedData`'s spatial ``obsm``, or ``(None, reason)``.

    Two columns, or three where the dataset has 3-D coordinates (the BDTNP embryo): the spatial
    metrics then work in 3-D instead of overlaying the tissue's front and back.
    """
    key = data.spatial_key
    if not key:
        return None, "the dataset has no spatial coordinates (no spatial key)"
    if key not in data.spatial.obsm:
        return None, f"the dataset has no coordinates under obsm[{key!r}]"
    coords = np.asarray(data.spatial[cells].obsm[key], dtype=np.float64)
    if coords.ndim != 2 or coords.shape[1] < 2:
        return None, f"obsm[{key!r}] is not an n x 2 or n x 3 array (shape {coords.shape})"
    coords = coords[:, :3]
    if not np.isfinite(coords).all():
        return None, f"obsm[{key!r}] has NaN or infinite coordinates"
    return coords, ""


def score_grid(truth: pd.DataFrame, pred: pd.DataFrame, coords: np.ndarray | None, *, per_item: bool = True,
               reason: str = "") -> list[dict[str, Any]]:
    """Gene-level SSIM on the rasterised grid (``ssim_grid``), or one ``stat="skipped"`` row.

    Without coordinates (``coords is None``) the metric is skipped: the row has ``item`` = the
    reason and a NaN value, so the results say why the metric is missing.
    """
    ctx = DatasetContext("", coords=coords, coords_reason=reason or "no spatial coordinates")
    return score_prediction(ScoringInput(truth, pred, context=ctx), per_item=per_item,
                            metrics=[get_metric("gene/ssim_grid")])
