"""``harmony-knn``: Harmony integration followed by nearest-neighbour averaging (as in TISSUE)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmark.task import ImputationTask, Prediction

from . import register
from .base import Method, MethodInfo
from ._util import dense, neighbour_average, standardize_inplace

_SCALINGS = ("per_dataset", "joint", "none")


@register
class HarmonyKnn(Method):
    """Harmony-corrected joint PCA, then the mean of the k nearest reference cells.

    This is the "Harmony-kNN" baseline of TISSUE (Sun et al. 2023, ``tissue.main.knn_impute``),
    rebuilt on ``harmonypy.run_harmony`` directly (scanpy's ``harmony_integrate`` fails with
    harmonypy 2.1.0, which returns ``Z_corr`` as cells x PCs).

    1. Both data sets are restricted to the training genes (the task's ``X``, SpaGE-style
       log-normalised) and stacked, reference first.
    2. Scaling (``scale``): by default ``"per_dataset"``: each gene is z-scored within its own data
       set (constant genes become 0), which removes per-gene platform offsets and capture
       efficiencies before PCA, as the ``knn`` control does, so that the two differ only by
       Harmony. ``"joint"`` z-scores over the stacked cells (scanpy's ``pp.scale`` habit);
       ``"none"`` uses the log-normalised values as they are, which is what TISSUE does.
    3. PCA of the stacked matrix (``n_pcs`` = 50, scanpy's default, capped at
       ``min(n_genes, n_cells) - 1``), exact SVD.
    4. ``harmonypy.run_harmony(pcs, obs, "batch", random_state=task.seed, verbose=False)`` with
       Harmony's defaults (theta 2, sigma 0.1, up to 10 rounds, ``nclust = min(N / 30, 100)``).
    5. For each spatial cell, its ``k`` = 10 nearest reference cells by Euclidean distance in the
       first ``n_knn_pcs`` = 30 corrected dimensions (TISSUE's choices).
    6. Prediction: the unweighted mean of those neighbours' preprocessed (task ``X``) target-gene
       expression, which is on the scale of the task's ``X`` by construction.

    Deterministic: exact PCA, Harmony seeded with ``task.seed`` (its results do not depend on the
    number of threads), exact kNN.
    """

    info = MethodInfo(
        name="harmony-knn",
        summary="Harmony-corrected joint PCA of the training genes, then the mean of the k nearest reference cells.",
        paper_url="https://doi.org/10.1038/s41592-019-0619-0",
        code_url="https://github.com/slowkow/harmonypy (kNN step as in https://github.com/sunericd/TISSUE)",
        package="harmonypy",
        requires=("harmonypy",),
        install_hint="pip install -c constraints.txt harmonypy",
    )

    # neighbours averaged and the dimensions of the integrated space
    search_space = {"k": (10, 5, 20, 50), "n_pcs": (50, 20)}

    @dataclass
    class Params:
        k: int = 10
        n_pcs: int = 50
        n_knn_pcs: int = 30
        scale: str = "per_dataset"

    def fit_predict(self, task: ImputationTask) -> Prediction:
        import harmonypy
        from sklearn.decomposition import PCA
        from sklearn.neighbors import NearestNeighbors

        scale = self.params.scale
        if scale not in _SCALINGS:
            raise ValueError(f"harmony-knn: scale must be one of {_SCALINGS}, got {scale!r}")
        genes = task.training_genes
        # One float64 matrix, reference rows first, z-scored in place and centred in place by
        # the PCA: at a million cells each extra copy is 2.4 GB (same arithmetic as copies).
        ref_x = dense(task.reference[:, genes].X)
        n_ref, n_sp = ref_x.shape[0], task.spatial.n_obs
        joint = np.empty((n_ref + n_sp, len(genes)), dtype=np.float64)
        joint[:n_ref] = ref_x
        joint[n_ref:] = dense(task.spatial.X)
        del ref_x
        if scale == "per_dataset":
            standardize_inplace(joint[:n_ref])
            standardize_inplace(joint[n_ref:])
        elif scale == "joint":
            standardize_inplace(joint)

        n_pcs = max(1, min(int(self.params.n_pcs), joint.shape[1] - 1, joint.shape[0] - 1))
        pcs = PCA(n_components=n_pcs, svd_solver="full", copy=False,
                  random_state=task.seed).fit_transform(joint)
        # a view of the SVD's cells x genes U: copy the kept columns so U is freed
        pcs = pcs.copy(order="K")
        del joint
        obs = pd.DataFrame({"batch": pd.Categorical(["reference"] * n_ref + ["spatial"] * n_sp)})
        ho = harmonypy.run_harmony(pcs, obs, "batch", random_state=task.seed, verbose=False)
        z = np.asarray(ho.Z_corr, dtype=np.float64)
        if z.shape != (n_ref + n_sp, n_pcs):  # older harmonypy returned PCs x cells
            z = z.T
        z = z[:, : max(1, min(int(self.params.n_knn_pcs), n_pcs))]

        k = max(1, min(int(self.params.k), n_ref))
        nn = NearestNeighbors(n_neighbors=k).fit(z[:n_ref])
        _, idx = nn.kneighbors(z[n_ref:])
        target = dense(task.reference[:, task.target_genes].X).astype(np.float64)
        values = neighbour_average(target, idx)
        return Prediction(
            pd.DataFrame(values, index=task.spatial.obs_names, columns=task.target_genes),
            info={"k": k, "n_pcs": n_pcs, "n_knn_pcs": z.shape[1], "scale": scale,
                  "harmony_rounds": len(getattr(ho, "kmeans_rounds", []) or [])},
        )
