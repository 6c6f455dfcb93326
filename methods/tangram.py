"""``tangram``: Tangram (Biancalani et al. 2021), cell mode, from the ``tangram-sc`` package."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from benchmark.task import ImputationTask, Prediction

from . import register
from .base import Method, MethodInfo
from ._util import dense, keep_global_rng


def _seeded(seed: int):
    """Seed NumPy's global generator and torch for the block; restore NumPy's state afterwards.

    Tangram seeds only ``if random_state:``, so seed 0 (the suite's default) would not be applied
    at all; the mapping matrix is initialised from NumPy's global generator.
    """
    return keep_global_rng(seed, seed_torch=True)


def _torch_device(requested: str) -> str:
    import torch

    if requested in ("cuda", "auto") and torch.cuda.is_available():
        return "cuda:0"
    return "cpu"


@register
class TangramMethod(Method):
    """Tangram in cell mode: learn a soft map of reference cells onto spatial cells, then project.

    What it does: ``tg.pp_adatas`` (drops all-zero genes, uses all shared genes for training and
    computes the density priors), ``tg.map_cells_to_space(mode="cells")`` with the authors'
    defaults (Adam, learning rate 0.1, 1000 epochs, cosine-similarity loss on the training genes,
    ``density_prior="rna_count_based"``, which turns on the density term with ``lambda_d = 1``),
    then ``tg.project_genes``. Inputs are the task's ``X`` (SpaGE-style log-normalised) of both
    data sets; the reference is restricted to the training and target genes.

    Tangram lower-cases the gene names of the AnnData objects it is given, in place, and makes
    them unique. It is therefore given copies whose genes are renamed to neutral lower-case
    tokens (``g0``, ``g1``, ...), so that no case collision can merge genes, and the tokens are
    mapped back to the task's gene names afterwards. The task's objects are never passed.

    Output scale: ``project_genes`` returns, per spatial cell j, ``sum_i M_ij x_i`` where ``M``
    (reference cells x spatial cells) has rows summing to one, so column j carries a mass
    ``sum_i M_ij`` of about n_reference / n_spatial, not 1. The prediction returned is that
    projection divided by the mass of its spatial cell: the M-weighted mean of the reference
    cells' preprocessed expression, on the scale of the task's ``X``. A target gene that is zero
    in every reference cell is dropped by Tangram; its prediction is 0 (the mean of zeros).

    Quick mode (``task.quick``): ``quick_epochs`` (100) epochs instead of 1000.
    Runs on ``task.device`` (CPU by default; ``cuda``/``auto`` use a GPU when torch sees one).
    Deterministic on CPU: NumPy and torch are seeded with ``task.seed`` before mapping.
    """

    info = MethodInfo(
        name="tangram",
        summary="Tangram (cell mode): map reference cells onto spatial cells, then project target genes.",
        paper_url="https://doi.org/10.1038/s41592-021-01264-7",
        code_url="https://github.com/broadinstitute/Tangram",
        package="tangram-sc",
        requires=("tangram",),
        install_hint="pip install -c constraints.txt tangram-sc",
        quick_note="trains quick_epochs (100) epochs instead of num_epochs (1000)",
    )

    @dataclass
    class Params:
        num_epochs: int = 1000
        learning_rate: float = 0.1
        density_prior: str = "rna_count_based"
        #: Epochs under ``--quick`` (not an authors' parameter).
        quick_epochs: int = 100

    def fit_predict(self, task: ImputationTask) -> Prediction:
        import anndata as ad
        import tangram as tg

        train = list(task.training_genes)
        targets = list(task.target_genes)
        genes = task.genes
        token = {g: f"g{i}" for i, g in enumerate(genes)}

        ref_x = task.reference[:, genes].X
        ref_x = sp.csr_matrix(ref_x, dtype=np.float32, copy=True)  # Tangram's dense branch calls .toarray()
        ad_sc = ad.AnnData(
            X=ref_x,
            obs=pd.DataFrame(index=pd.Index([str(c) for c in task.reference.obs_names])),
            var=pd.DataFrame(index=pd.Index([token[g] for g in genes])),
        )
        ad_sp = ad.AnnData(
            X=np.array(dense(task.spatial.X), dtype=np.float32, copy=True),
            obs=pd.DataFrame(index=pd.Index([str(c) for c in task.spatial.obs_names])),
            var=pd.DataFrame(index=pd.Index([token[g] for g in train])),
        )
        ad_sc.obs_names_make_unique()
        ad_sp.obs_names_make_unique()

        epochs = self.params.quick_epochs if task.quick else self.params.num_epochs
        device = _torch_device(task.device)
        tg.pp_adatas(ad_sc, ad_sp, genes=None)
        n_training = len(ad_sc.uns["training_genes"])
        if n_training == 0:
            raise ValueError("Tangram: no training gene is non-zero in both data sets")
        with _seeded(task.seed):
            ad_map = tg.map_cells_to_space(
                ad_sc, ad_sp, mode="cells", device=device, num_epochs=int(epochs),
                learning_rate=float(self.params.learning_rate), density_prior=self.params.density_prior,
                random_state=task.seed, verbose=False,
            )
        ad_ge = tg.project_genes(ad_map, ad_sc)

        mapping = np.asarray(ad_map.X, dtype=np.float64)  # reference cells x spatial cells
        mass = mapping.sum(axis=0)
        projected = pd.DataFrame(np.asarray(dense(ad_ge.X), dtype=np.float64), columns=list(ad_ge.var_names))
        values = np.zeros((task.n_cells, len(targets)), dtype=np.float64)
        dropped = []
        for j, g in enumerate(targets):
            tok = token[g]
            if tok in projected.columns:
                values[:, j] = projected[tok].to_numpy() / mass
            else:
                dropped.append(g)
        final = ad_map.uns["training_history"]["main_loss"][-1] if epochs else None
        return Prediction(
            pd.DataFrame(values, index=task.spatial.obs_names, columns=targets),
            info={"epochs": int(epochs), "device": device, "n_training_genes": n_training,
                  "final_train_cosine": final, "targets_all_zero_in_reference": dropped},
        )
