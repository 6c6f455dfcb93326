"""Downstream cell typing: do measured and imputed profiles get the same cell types? (issue 21)

A k-nearest-neighbour classifier is trained on the reference (every shared gene, the
reference's cell-type labels) and applied twice to the spatial cells: to their measured
profiles and to the method's imputed profiles (every shared gene, each predicted while
hidden). The two label vectors are compared by accuracy (the fraction of cells given the same
type) and ARI. A complement to the Leiden ARI, which needs spatial labels and depends on a
clustering resolution; this needs reference labels instead.

Each matrix is z-scored per gene with its own mean and standard deviation before the
classifier sees it (a constant gene becomes 0), so that the platform's scale differences
between reference and spatial data, and a method's overall scale, do not decide the labels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .base import Metric, NotScored

#: Neighbours of the kNN classifier.
CELLTYPE_NEIGHBORS = 15


def _zscore(x: np.ndarray) -> np.ndarray:
    """Columns z-scored (ddof 0), constant ones 0: the z-scoring of Li et al.'s RMSE (metrics/spatial.py)."""
    from .spatial import _zscore as zscore_columns

    return zscore_columns(np.asarray(x, dtype=np.float64))[0]


def fit_classifier(reference: pd.DataFrame, labels: pd.Series, k: int = CELLTYPE_NEIGHBORS):
    """A kNN classifier (scikit-learn, Euclidean, uniform weights) of z-scored reference profiles."""
    from sklearn.neighbors import KNeighborsClassifier

    keep = labels.notna().to_numpy()
    x = _zscore(reference.to_numpy()[keep])
    return KNeighborsClassifier(n_neighbors=min(k, int(keep.sum()))).fit(x, labels[keep].astype(str).to_numpy())


def call_types(classifier, x: pd.DataFrame) -> np.ndarray:
    """Cell types of the rows of ``x`` (columns in the classifier's gene order), z-scored first."""
    return classifier.predict(_zscore(x.to_numpy()))


def _calls(inp) -> tuple[np.ndarray, np.ndarray] | NotScored:
    """(types called on the measured profiles, on the imputed ones), once per input."""
    ctx = inp.context
    if ctx is None or ctx.reference is None:
        return NotScored("the dataset has no reference expression")
    if ctx.reference_labels is None or not ctx.reference_labels.notna().any():
        return NotScored("the reference has no cell-type labels")
    pred = inp.returned if inp.returned is not None else inp.prediction
    genes = list(ctx.reference.columns)
    if not set(genes) <= set(pred.columns):
        return NotScored("the prediction does not cover every shared gene")

    def _make():
        clf = ctx.cached("celltype_classifier", lambda: fit_classifier(ctx.reference, ctx.reference_labels))
        measured = ctx.cached("celltype_measured", lambda: pd.Series(
            call_types(clf, ctx.measured[genes]), index=ctx.measured.index))
        return measured.loc[pred.index].to_numpy(), call_types(clf, pred[genes])
    return inp.cached("celltype", _make)


def _accuracy(inp):
    calls = _calls(inp)
    return calls if isinstance(calls, NotScored) else float(np.mean(calls[0] == calls[1]))


def _ari(inp):
    from sklearn.metrics import adjusted_rand_score

    calls = _calls(inp)
    return calls if isinstance(calls, NotScored) else float(adjusted_rand_score(calls[0], calls[1]))


_HOW = (f"A {CELLTYPE_NEIGHBORS}-nearest-neighbour classifier trained on the reference (every shared gene, z-scored "
        "per gene; reference labels) is applied to the measured and to the imputed spatial profiles (each z-scored "
        "per gene). Needs reference labels.")
_COMMON = dict(stage="assembled", space_dependent=False,
               reference="scikit-learn KNeighborsClassifier; label transfer as in Stuart et al. 2019, Cell 177:1888")

CELLTYPE_METRICS = [
    Metric("accuracy", "celltype", True, (0.0, 1.0), 1.0,
           "Fraction of spatial cells given the same cell type from their imputed as from their measured profiles. "
           + _HOW, compute=_accuracy, label="cell-type agreement", order=40, summary=True, report=True,
           leaderboard=20, **_COMMON),
    Metric("ari", "celltype", True, (-0.5, 1.0), 1.0,
           "Adjusted Rand index between the cell types called on imputed and on measured profiles. " + _HOW,
           compute=_ari, label="cell-type ARI", order=41, summary=True, leaderboard=21, **_COMMON),
]

__all__ = ["CELLTYPE_METRICS", "CELLTYPE_NEIGHBORS", "call_types", "fit_classifier"]
