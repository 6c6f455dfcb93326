"""``knn``: a simple nearest-neighbour control."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmark.task import ImputationTask, Prediction

from . import register
from .base import Method, MethodInfo
from ._util import dense, standardize


@register
class KnnControl(Method):
    """Averages the target genes over the k nearest reference cells of each spatial cell.

    Both data sets are restricted to the training genes and each gene is z-scored within its
    own data set (a crude correction of the platform effect). A PCA fitted on the reference is
    applied to both, and neighbours are found by Euclidean distance in that space. The
    prediction is the plain mean of the neighbours' preprocessed expression.
    """

    info = MethodInfo(
        name="knn",
        summary="Control: mean of the k nearest reference cells in a PCA of the shared training genes.",
        control=True,
    )

    # the number of neighbours is the control's one choice
    search_space = {"k": (20, 5, 10, 50)}

    @dataclass
    class Params:
        k: int = 20
        n_pcs: int = 30

    #: Spatial cells per batch of the neighbour search; bounds memory, does not change results.
    batch_cells: int = 50_000

    def fit_predict(self, task: ImputationTask) -> Prediction:
        from sklearn.decomposition import PCA
        from sklearn.neighbors import NearestNeighbors

        genes = task.training_genes
        sp_x = np.asarray(dense(task.spatial.X), dtype=np.float64)
        sp_mean, sp_sd = sp_x.mean(axis=0), sp_x.std(axis=0)
        sp_sd[sp_sd == 0] = 1.0
        ref_x = standardize(dense(task.reference[:, genes].X))
        n_pcs = max(1, min(self.params.n_pcs, len(genes) - 1, ref_x.shape[0] - 1))
        pca = PCA(n_components=n_pcs, random_state=task.seed, svd_solver="full").fit(ref_x)
        k = min(self.params.k, ref_x.shape[0])
        nn = NearestNeighbors(n_neighbors=k).fit(pca.transform(ref_x))
        target = dense(task.reference[:, task.target_genes].X).astype(np.float64)
        values = np.empty((sp_x.shape[0], len(task.target_genes)), dtype=np.float64)
        # in batches of cells: the neighbours' target rows (cells x k x genes) of a million cells
        # would not fit in memory at once
        for start in range(0, sp_x.shape[0], self.batch_cells):
            rows = slice(start, start + self.batch_cells)
            _, idx = nn.kneighbors(pca.transform((sp_x[rows] - sp_mean) / sp_sd))
            values[rows] = target[idx].mean(axis=1)
        return Prediction(
            pd.DataFrame(values, index=task.spatial.obs_names, columns=task.target_genes),
            info={"k": k, "n_pcs": n_pcs},
        )
