"""Scoring predictions against the held-out truth, as tidy rows."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

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
