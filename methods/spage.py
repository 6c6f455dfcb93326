"""``spage``: SpaGE (Abdelaal et al. 2020), as shipped in the ``tissue-sc`` package."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmark.task import ImputationTask, Prediction

from . import register
from .base import Method, MethodInfo
from ._util import dense, keep_global_rng, varying_shared_genes


def _seeded_global_numpy(seed: int):
    """Seed NumPy's global generator for the block and restore its state afterwards.

    SpaGE builds its PCAs with ``sklearn.decomposition.PCA(n_components=n)`` and no
    ``random_state``; the solver sklearn picks is exact for the panel sizes seen here, but for
    wide data it may pick the randomized one, which draws from the global generator.
    """
    return keep_global_rng(seed)


def tissue_default_n_pv(n_genes: int, n_cells: int) -> int:
    """The number of principal vectors TISSUE's authors pass to SpaGE.

    From their analysis scripts (sunericd/tissue-figures-and-analyses,
    ``scripts/spatial_conformal_uncertainty.py``): 20 when the spatial data have fewer than 40
    genes, else ``round(min(n_genes, n_cells) / 2)``.
    """
    if n_genes < 40:
        return 20
    return int(round(min(n_genes, n_cells) / 2))


@register
class SpaGEMethod(Method):
    """SpaGE: align the two data sets with PRECISE principal vectors, then average neighbours.

    What it does (``tissue.SpaGE.main.SpaGE``, unchanged): each data set is z-scored gene by gene;
    PCA is run separately on the reference and on the spatial data over the shared genes; the
    principal vectors of the two PCA subspaces are computed and those whose pair has cosine
    similarity above 0.3 are kept; both data sets are projected on the reference-side vectors;
    each spatial cell takes its 50 nearest reference cells (cosine distance) and the prediction
    is their weighted average of the reference expression of the target genes (weights
    ``1 - d / sum(d)`` over the neighbours with ``d < 1``, normalised to sum to one).

    Input: the task's ``X`` (SpaGE-style log-normalised; SpaGE was designed for exactly this
    normalisation), dense, as DataFrames with the original gene names (the ``SpaGE`` function
    keeps gene case; only TISSUE's ``predict_gene_expression`` wrapper lower-cases names in place,
    and it is not used). The reference is restricted to the shared and target genes.

    Zero-variance shared genes are dropped first: a shared gene that is constant (e.g. all zero)
    in either data set makes SpaGE's z-score NaN and its PCA raise
    ``ValueError: Input X contains NaN``. The number dropped is reported in ``info``.

    ``n_pv``: SpaGE has no default. TISSUE's authors use 20 for panels under 40 genes and half of
    ``min(n_genes, n_cells)`` otherwise (SpaGE's own benchmark used 30 for osmFISH's 33 genes and
    50 for larger panels). That rule is the default here (``n_pv=None``); it is capped at the
    number of shared genes actually used, since a PCA cannot have more components than genes.

    Output: SpaGE's prediction is a convex combination of reference cells' preprocessed
    expression, so it is already on the scale of the task's ``X`` and is returned as is. Cells
    for which SpaGE yields NaN (e.g. a single neighbour with ``d < 1``, which gives 0/0) are set
    to 0, as SpaGE's own benchmark scripts do (``Imp_Gene[np.isnan(Imp_Gene)] = 0``); their number
    is reported in ``info``.

    Deterministic: PCA (exact solver), cosine kNN; the global NumPy generator is seeded with
    ``task.seed`` around the call in case sklearn picks its randomized PCA solver.
    """

    info = MethodInfo(
        name="spage",
        summary="SpaGE: PRECISE principal-vector alignment, then a weighted mean of 50 nearest reference cells.",
        paper_url="https://doi.org/10.1093/nar/gkaa740",
        code_url="https://github.com/tabdelaal/SpaGE (wrapped from https://github.com/sunericd/TISSUE)",
        package="tissue-sc",
        requires=("tissue",),
        install_hint="pip install -c constraints.txt tissue-sc",
    )

    # SpaGE's one parameter: its authors tune the number of principal vectors per data set
    search_space = {"n_pv": (None, 5, 10, 20)}

    @dataclass
    class Params:
        #: Principal vectors (= PCA factors per data set). ``None``: TISSUE's rule (20 below 40
        #: genes, else half of min(genes, cells)), capped at the number of shared genes used.
        n_pv: int | None = None

    def fit_predict(self, task: ImputationTask) -> Prediction:
        from tissue.SpaGE.main import SpaGE

        targets = list(task.target_genes)
        genes = list(task.training_genes)
        sp_x, ref_shared, used, dropped = varying_shared_genes(task)
        if len(used) < 2:
            raise ValueError(f"SpaGE needs at least 2 shared genes with non-zero variance in both data sets; "
                             f"{len(used)} of {len(genes)} are left")

        requested = self.params.n_pv
        n_pv = tissue_default_n_pv(len(used), task.n_cells) if requested is None else int(requested)
        n_pv = max(1, min(n_pv, len(used)))

        spatial_df = pd.DataFrame(sp_x, index=pd.Index(task.spatial.obs_names).copy(), columns=used)
        ref_target = dense(task.reference[:, targets].X).astype(np.float64, copy=True)
        ref_df = pd.DataFrame(np.hstack([ref_shared, ref_target]),
                              index=pd.Index(task.reference.obs_names).copy(), columns=used + targets)

        with np.errstate(invalid="ignore", divide="ignore"), _seeded_global_numpy(task.seed):
            imputed = SpaGE(spatial_df, ref_df, n_pv=n_pv, genes_to_predict=list(targets))

        values = imputed.loc[:, targets].to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        n_bad_cells = int(bad.any(axis=1).sum())
        values[bad] = 0.0
        return Prediction(
            pd.DataFrame(values, index=task.spatial.obs_names, columns=targets),
            info={"n_pv": n_pv, "n_pv_requested": requested, "n_shared_used": len(used),
                  "zero_variance_genes_dropped": dropped, "cells_with_nan_set_to_0": n_bad_cells},
        )
