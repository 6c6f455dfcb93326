"""``liger``: LIGER integrative NMF (``pyliger``), then kNN imputation in the aligned factor space."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from benchmark.task import COUNTS_LAYER, ImputationTask, Prediction

from . import register
from .base import Method, MethodInfo
from ._count_scale import expected_counts_to_task_scale
from ._util import keep_global_rng, neighbour_average


def _liger_adata(counts, cells, genes, name):
    """A fresh AnnData the way ``pyliger.create_liger`` wants it (it mutates what it is given)."""
    import anndata as ad

    obs = pd.DataFrame(index=pd.Index(list(cells), name="cell"))
    var = pd.DataFrame(index=pd.Index(list(genes), name="gene"))
    adata = ad.AnnData(X=sp.csr_matrix(counts, dtype=np.float64, copy=True), obs=obs, var=var)
    adata.uns["sample_name"] = name
    return adata


def impute_knn_weights(distances: np.ndarray) -> np.ndarray:
    """LIGER ``imputeKNN``'s neighbour weights, ``exp(-d) / sum(exp(-d))`` per query cell.

    Computed as ``exp(-(d - min d))`` normalised, which is the same quantity without the
    underflow to 0/0 that ``exp(-d)`` gives for distances above ~745.
    """
    d = np.asarray(distances, dtype=np.float64)
    w = np.exp(-(d - d.min(axis=1, keepdims=True)))
    return w / w.sum(axis=1, keepdims=True)


@register
class LigerKnn(Method):
    """LIGER (Welch et al. 2019): integrative NMF of the training genes with shared and
    dataset-specific metagenes, quantile alignment of the cell factor loadings, then LIGER's
    ``imputeKNN`` rebuilt here (pyliger ships it only as an empty stub).

    What it does:

    1. Raw counts (``layers["counts"]``) of the training genes, reference and spatial, as new
       AnnData objects; cells with no count on any training gene are left out (LIGER cannot
       normalise them; SpatialBenchmarking's script drops them from the reference too).
    2. ``pyliger.create_liger([reference, spatial])``, ``normalize`` (counts / cell total),
       ``select_genes`` (LIGER's defaults: ``var_thresh=0.1``, ``alpha_thresh=0.99``, union over
       both data sets, genes present in both), ``scale_not_center``.
    3. ``optimize_ALS(k, value_lambda=5, thresh=1e-6, max_iters=30, nrep=1)``: ``k`` = 20
       (rliger's ``runINMF`` default), lowered to ``n_selected_genes - 3`` as SpatialBenchmarking's
       LIGER script does (iNMF needs ``k`` below the number of genes).
    4. ``quantile_norm`` with its defaults (reference = the larger data set, 50 quantiles,
       ``min_cells=20``, ``knn_k=20``) -> ``obsm["H_norm"]``.
    5. ``imputeKNN`` as in rliger (``R/imputeKNN.R``; defaults ``nNeighbors = 20``,
       ``weight = TRUE``, ``norm = TRUE``): for each spatial cell, its 20 nearest reference cells
       in ``H_norm`` (Euclidean, exact), weighted ``exp(-d) / sum(exp(-d))``; the imputed
       values are that weighted average of the reference cells' **raw counts**, then normalised
       by the cell's imputed total (``norm = TRUE``).

    Output scale: the imputed counts ``c_ig`` are rescaled so that their training-gene total
    equals the cell's observed one and then normalised as the task normalised ``X``
    (``methods/_count_scale.py``); for the default SpaGE scheme that is ``log1p(c_ig / C_i * m)``,
    ``C_i`` = imputed total over the training genes, ``m`` = median non-zero spatial total over
    the training genes. (LIGER's own ``norm = TRUE`` step divides by a total too; the ratio to
    the training-gene total does not depend on which total it used.)
    Spatial cells left out in step 1 get the mean prediction of the other cells.

    Deviations: pyliger's ``iNMF_HALS`` fails (property without setter), so the ALS solver
    (``optimize_ALS``, rliger's ``optimizeALS``) is used. SpatialBenchmarking ran LIGER with
    ``lambda = 20``, ``knn_k = 30``, ``norm = FALSE`` and without normalising the counts before
    gene selection; here LIGER's own defaults are kept (all are parameters). pyliger's
    ``create_liger`` casts counts to integers (raw counts are integers here).

    Traps handled: ``create_liger`` mutates the AnnData objects it gets and needs
    ``uns["sample_name"]`` and named indices: it gets fresh objects. ``optimize_ALS`` seeds
    NumPy's global generator with ``rand_seed - 1`` (so ``rand_seed = 0`` fails): it is given
    ``task.seed + 1`` (LIGER's default 1 for seed 0); ``quantile_norm`` gets the same; NumPy's
    global state is restored afterwards. Deterministic. ``import pyliger`` takes ~20 s (numba
    compilation) and happens only inside ``fit_predict``.
    """

    info = MethodInfo(
        name="liger",
        needs_counts=True,  # models molecule counts (layers["counts"]); not applicable to other values
        summary="LIGER iNMF + quantile alignment (pyliger), then imputeKNN: weighted kNN of reference counts.",
        paper_url="https://doi.org/10.1016/j.cell.2019.05.006",
        code_url="https://github.com/welch-lab/pyliger (imputeKNN: https://github.com/welch-lab/liger)",
        package="pyliger",
        requires=("pyliger",),
        install_hint="pip install -c constraints.txt pyliger",
    )

    # LIGER's documented choices: factors k and the regularisation lambda
    search_space = {"k": (20, 10, 30), "value_lambda": (5.0, 1.0, 10.0)}

    @dataclass
    class Params:
        k: int = 20
        value_lambda: float = 5.0
        thresh: float = 1e-6
        max_iters: int = 30
        nrep: int = 1
        var_thresh: float = 0.1
        alpha_thresh: float = 0.99
        quantiles: int = 50
        min_cells: int = 20
        quantile_knn_k: int = 20
        #: imputeKNN's ``nNeighbors`` and ``weight``.
        impute_k: int = 20
        weight: bool = True

    def fit_predict(self, task: ImputationTask) -> Prediction:
        from sklearn.neighbors import NearestNeighbors

        p = self.params
        train = list(task.training_genes)
        targets = list(task.target_genes)
        genes = task.genes

        sp_counts = sp.csr_matrix(task.spatial.layers[COUNTS_LAYER], dtype=np.float64)
        ref_all = sp.csr_matrix(task.reference[:, genes].layers[COUNTS_LAYER], dtype=np.float64)
        ref_train = ref_all[:, : len(train)]  # task.genes starts with the training genes
        sp_keep = np.asarray(sp_counts.sum(axis=1)).ravel() > 0
        ref_keep = np.asarray(ref_train.sum(axis=1)).ravel() > 0
        if sp_keep.sum() < 2 or ref_keep.sum() < 2:
            raise ValueError("liger: fewer than 2 cells with non-zero training-gene counts in one data set")

        # neutral names: pyliger needs unique names, tokens also sidestep any case handling
        gene_tok = [f"g{i}" for i in range(len(train))]
        ref_cells = [f"r{i}" for i in np.flatnonzero(ref_keep)]
        sp_cells = [f"s{i}" for i in np.flatnonzero(sp_keep)]
        ad_ref = _liger_adata(ref_train[ref_keep], ref_cells, gene_tok, "reference")
        ad_sp = _liger_adata(sp_counts[sp_keep], sp_cells, gene_tok, "spatial")

        seed = int(task.seed) + 1
        chatter = io.StringIO()
        with keep_global_rng(), contextlib.redirect_stdout(chatter):
            import pyliger

            lo = pyliger.create_liger([ad_ref, ad_sp])
            pyliger.normalize(lo)
            pyliger.select_genes(lo, var_thresh=float(p.var_thresh), alpha_thresh=float(p.alpha_thresh))
            n_var = len(lo.var_genes)
            if n_var < 3:
                raise ValueError(f"liger: select_genes kept {n_var} gene(s); iNMF needs at least 3 "
                                 "(lower var_thresh with --method-param liger.var_thresh=...)")
            pyliger.scale_not_center(lo)
            n_min = min(a.n_obs for a in lo.adata_list)
            k = int(max(1, min(int(p.k), n_var - 3 if n_var > 3 else n_var - 1, n_min - 1)))
            pyliger.optimize_ALS(lo, k=k, value_lambda=float(p.value_lambda), thresh=float(p.thresh),
                                 max_iters=int(p.max_iters), nrep=int(p.nrep), rand_seed=seed)
            pyliger.quantile_norm(lo, quantiles=int(p.quantiles), min_cells=int(p.min_cells),
                                  knn_k=int(p.quantile_knn_k), rand_seed=seed)

        by_name = {a.uns["sample_name"]: a for a in lo.adata_list}
        a_ref, a_sp = by_name["reference"], by_name["spatial"]
        h_ref = np.asarray(a_ref.obsm["H_norm"], dtype=np.float64)
        h_sp = np.asarray(a_sp.obsm["H_norm"], dtype=np.float64)
        # the rows LIGER kept, in its order, mapped back to the task's cells
        ref_rows = np.array([int(c[1:]) for c in a_ref.obs_names])
        sp_rows = np.array([int(c[1:]) for c in a_sp.obs_names])

        kn = max(1, min(int(p.impute_k), len(ref_rows)))
        dist, idx = NearestNeighbors(n_neighbors=kn).fit(h_ref).kneighbors(h_sp)
        w = impute_knn_weights(dist) if p.weight else np.full(dist.shape, 1.0 / kn)
        ref_dense = ref_all[ref_rows].toarray()  # LIGER's reference cells x (training + target genes)
        imputed = neighbour_average(ref_dense, idx, w)  # weighted raw counts

        col = {g: j for j, g in enumerate(genes)}
        pred = expected_counts_to_task_scale(imputed[:, : len(train)].sum(axis=1),
                                             imputed[:, [col[g] for g in targets]], task, rows=sp_rows)

        values = np.empty((task.n_cells, len(targets)), dtype=np.float64)
        have = np.zeros(task.n_cells, dtype=bool)
        values[sp_rows] = pred
        have[sp_rows] = True
        if (~have).any():
            values[~have] = pred.mean(axis=0)
        return Prediction(
            pd.DataFrame(values, index=task.spatial.obs_names, columns=targets),
            info={"k": k, "n_selected_genes": n_var, "impute_k": kn, "weighted": bool(p.weight),
                  "spatial_cells_not_in_liger": int((~have).sum()),
                  "reference_cells_in_liger": int(len(ref_rows))},
        )
