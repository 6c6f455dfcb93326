"""``novosparc``: novoSpaRc (Nitzan et al. 2019) with the spatial data as marker atlas."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmark.errors import InputError
from benchmark.task import ImputationTask, Prediction

from . import register
from .base import Method, MethodInfo
from ._util import dense


@register
class NovosparcMethod(Method):
    """novoSpaRc: map reference cells onto spatial cells by entropic fused Gromov-Wasserstein
    optimal transport (expression-graph vs. physical-graph distances, plus a marker-gene term),
    then average the reference cells' expression with the transport plan.

    What it does (novoSpaRc's reconstruction-with-atlas tutorials):

    1. ``dataset``: the reference, restricted to the training and target genes, with the task's
       (SpaGE-style log-normalised) ``X``, dense. ``locations``: the spatial coordinates
       (``task.spatial.obsm["spatial"]``). The atlas is the spatial ``X`` on the training genes
       and ``markers_to_use`` their columns in ``dataset``.
    2. ``novosparc.cm.Tissue(dataset, locations)``, then
       ``tissue.setup_reconstruction(atlas_matrix=..., markers_to_use=..., num_neighbors_s=5,
       num_neighbors_t=5)``: shortest-path distances in 5-nearest-neighbour graphs of the
       reference cells (expression) and of the spatial cells (coordinates), and the Euclidean
       marker cost between max-scaled reference and atlas expression.
    3. ``tissue.reconstruct(alpha_linear=0.8, epsilon=5e-3)`` (the tutorial's values; uniform
       marginals, up to 1000 Gromov-Wasserstein iterations, and novoSpaRc's own retry with a ten
       times larger epsilon if Sinkhorn reports numerical errors).

    Output scale: ``tissue.sdge = dge.T @ gw`` sums, for spatial cell j, ``gw_ij x_i`` over
    reference cells i, with a column mass of about 1 / n_spatial. Each column is divided by its
    mass, so the prediction is the transport-weighted mean of the reference cells' ``X``, on
    the scale of the task's ``X``.

    Deviations: the reference is restricted to the panel genes (training + target) rather than
    all its genes, which bounds the dense ``genes x spatial cells`` output and memory; the
    expression graph is therefore built on those genes. Needs spatial coordinates; without
    them the method stops with an :class:`~benchmark.errors.InputError`.

    Quick mode: no change (there is no training loop to shorten).
    Deterministic: no random initialisation (``random_ini=False``).
    """

    info = MethodInfo(
        name="novosparc",
        summary="novoSpaRc: fused Gromov-Wasserstein map of reference cells onto spatial cells, training genes as atlas.",
        paper_url="https://doi.org/10.1038/s41586-019-1773-3",
        code_url="https://github.com/rajewsky-lab/novosparc",
        package="novosparc",
        requires=("novosparc", "ot"),
        install_hint="pip install -c constraints.txt novosparc POT",
        quick_note="no change (no training loop)",
    )

    @dataclass
    class Params:
        alpha_linear: float = 0.8
        epsilon: float = 5e-3
        num_neighbors_s: int = 5
        num_neighbors_t: int = 5
        search_epsilon: bool = True

    def fit_predict(self, task: ImputationTask) -> Prediction:
        import anndata as ad
        import novosparc

        if "spatial" not in task.spatial.obsm:
            raise InputError("novoSpaRc needs spatial coordinates (obsm['spatial'] of the spatial data); "
                             "give the dataset a coordinate key")
        train = list(task.training_genes)
        targets = list(task.target_genes)
        genes = task.genes
        locations = np.array(task.spatial.obsm["spatial"], dtype=np.float64, copy=True)
        if not np.isfinite(locations).all():
            raise InputError("novoSpaRc: the spatial coordinates contain NaN or infinite values")

        dge = np.array(dense(task.reference[:, genes].X), dtype=np.float64, copy=True)
        atlas = np.array(dense(task.spatial.X), dtype=np.float64, copy=True)
        # setup_linear_cost divides by these maxima; an all-zero matrix would give NaN costs.
        if not dge[:, : len(train)].max() > 0 or not atlas.max() > 0:
            raise ValueError("novoSpaRc: the training genes are zero in every reference or every spatial cell")
        n_ref, n_sp = dge.shape[0], atlas.shape[0]
        k_s = max(1, min(int(self.params.num_neighbors_s), n_ref))
        k_t = max(1, min(int(self.params.num_neighbors_t), n_sp))

        dataset = ad.AnnData(
            X=dge,
            obs=pd.DataFrame(index=pd.Index([f"r{i}" for i in range(n_ref)])),
            var=pd.DataFrame(index=pd.Index([f"g{i}" for i in range(len(genes))])),
        )
        log = io.StringIO()
        with contextlib.redirect_stdout(log):  # progress prints
            tissue = novosparc.cm.Tissue(dataset=dataset, locations=locations)
            tissue.setup_reconstruction(atlas_matrix=atlas, markers_to_use=np.arange(len(train)),
                                        num_neighbors_s=k_s, num_neighbors_t=k_t, verbose=False)
            tissue.reconstruct(alpha_linear=float(self.params.alpha_linear), epsilon=float(self.params.epsilon),
                               search_epsilon=bool(self.params.search_epsilon), random_ini=False, verbose=False)
        gw = np.asarray(tissue.gw, dtype=np.float64)  # reference cells x spatial cells
        if not np.isfinite(gw).all():
            raise ValueError("novoSpaRc: the transport plan contains NaN (Sinkhorn failed at every epsilon tried)")
        mass = gw.sum(axis=0)
        if not np.all(mass > 0):
            raise ValueError("novoSpaRc: the transport plan gives no mass to some spatial cells (numerical failure)")
        sdge = np.asarray(tissue.sdge, dtype=np.float64)  # genes x spatial cells
        col = {g: j for j, g in enumerate(genes)}
        values = (sdge[[col[g] for g in targets]] / mass).T
        return Prediction(
            pd.DataFrame(values, index=task.spatial.obs_names, columns=targets),
            info={"epsilon_used": float(tissue.epsilon), "alpha_linear": float(self.params.alpha_linear),
                  "num_neighbors_s": k_s, "num_neighbors_t": k_t},
        )
