"""``gimvi``: gimVI (Lopez et al. 2019) from scvi-tools (``scvi.external.GIMVI``)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from benchmark.task import COUNTS_LAYER, ImputationTask, Prediction

from . import register
from .base import Method, MethodInfo
from ._count_scale import expected_counts_to_task_scale
from ._util import keep_global_rng


@contextlib.contextmanager
def _scvi_settings(seed: int, workdir):
    """Seed scvi (python, NumPy and torch via ``seed_everything``), point its logging directory
    at ``workdir``, force in-process data loading; restore NumPy's/python's global RNG state and
    the previous scvi settings afterwards."""
    import scvi

    old_dir, old_workers = scvi.settings.logging_dir, scvi.settings.dl_num_workers
    scvi.settings.logging_dir = str(workdir)
    scvi.settings.dl_num_workers = 0
    try:
        with keep_global_rng():
            scvi.settings.seed = seed
            yield
    finally:
        scvi.settings.logging_dir = old_dir
        scvi.settings.dl_num_workers = old_workers


def _counts_adata(counts, obs_names, var_names):
    import anndata as ad

    x = sp.csr_matrix(counts, dtype=np.float32, copy=True)
    return ad.AnnData(
        X=x,
        obs=pd.DataFrame(index=pd.Index([str(c) for c in obs_names])),
        var=pd.DataFrame(index=pd.Index(list(var_names))),
    )


@register
class GimviMethod(Method):
    """gimVI: a joint VAE of the reference (ZINB, learned library) and the spatial data (NB,
    observed library) with an adversarial latent-space alignment; target genes are decoded for
    the spatial cells.

    What it does: the raw counts (``layers["counts"]``) of the reference, restricted to the
    training and target genes, and of the spatial cells (training genes, a subset of the
    reference genes as GIMVI requires) are copied into new AnnData objects (the task's objects
    are never passed: ``setup_anndata`` and ``GIMVI()`` write to ``obs``);
    ``GIMVI.setup_anndata`` on both, ``GIMVI(adata_seq, adata_spatial)`` with the authors'
    defaults (``n_latent=10``, ZINB/NB, library modelled for the reference only), then
    ``train(max_epochs=200, kappa=5, batch_size=128)`` (the defaults of ``GIMVI.train`` and the
    scvi-tools tutorial) and ``get_imputed_values(normalized=True)``. Cells with a zero total over
    the genes given are left out of training (their library size would be log 0).

    Output scale: ``get_imputed_values(normalized=True)`` returns, for spatial cell i, a frequency
    vector ``p_i`` over the model's genes (training + target, summing to 1). These are expected
    counts on the model's library scale; :func:`methods._count_scale.expected_counts_to_task_scale`
    rescales them so that their training-gene total ``P_i`` equals the cell's observed one and
    applies the task's preprocessing. Under the default ``spage`` scheme that is
    ``log1p(p_ig / P_i * m)``, ``m`` the median of the non-zero spatial training-gene totals: the
    task's normalisation of ``X`` applied to expected counts ``p_ig * T_i / P_i`` (``T_i``
    cancels); ``tangram`` drops the log and ``scran`` divides by the pooled size factor. Spatial
    cells with no count on any training gene (not trained on) get the mean prediction of the
    other cells.

    Quick mode (``task.quick``): ``quick_epochs`` (20) epochs instead of 200.
    Device: CPU unless ``task.device`` is ``cuda``/``auto`` and torch sees a GPU.
    Writes only inside ``task.workdir`` (scvi's logging directory and Lightning's
    ``default_root_dir``; the logger is scvi's in-memory one, no checkpoints). Data loading runs
    in-process (``scvi.settings.dl_num_workers = 0``). Deterministic on CPU:
    ``scvi.settings.seed = task.seed`` (seeds torch, NumPy and the train/validation split);
    NumPy's and python's global RNG states are restored afterwards.
    """

    info = MethodInfo(
        name="gimvi",
        needs_counts=True,  # models molecule counts (layers["counts"]); not applicable to other values
        summary="gimVI (scvi-tools): joint VAE of reference and spatial counts; decode target genes for spatial cells.",
        paper_url="https://arxiv.org/abs/1905.02269",
        code_url="https://github.com/scverse/scvi-tools",
        package="scvi-tools",
        requires=("scvi",),
        install_hint="pip install -c constraints.txt scvi-tools",
        quick_note="trains quick_epochs (20) epochs instead of max_epochs (200)",
    )

    @dataclass
    class Params:
        max_epochs: int = 200
        kappa: float = 5
        batch_size: int = 128
        n_latent: int = 10
        #: Epochs under ``--quick`` (not an authors' parameter).
        quick_epochs: int = 20

    def fit_predict(self, task: ImputationTask) -> Prediction:
        import scvi
        import torch
        from scvi.external import GIMVI

        train = list(task.training_genes)
        targets = list(task.target_genes)
        genes = task.genes

        sp_counts = sp.csr_matrix(task.spatial.layers[COUNTS_LAYER], dtype=np.float32)
        ref_counts = sp.csr_matrix(task.reference[:, genes].layers[COUNTS_LAYER], dtype=np.float32)
        sp_tot = np.asarray(sp_counts.sum(axis=1)).ravel()
        ref_tot = np.asarray(ref_counts.sum(axis=1)).ravel()
        sp_keep = sp_tot > 0
        ref_keep = ref_tot > 0
        if sp_keep.sum() < 2 or ref_keep.sum() < 2:
            raise ValueError("gimVI: fewer than 2 cells with non-zero counts in one of the data sets")

        adata_seq = _counts_adata(ref_counts[ref_keep], np.asarray(task.reference.obs_names)[ref_keep], genes)
        adata_sp = _counts_adata(sp_counts[sp_keep], np.asarray(task.spatial.obs_names)[sp_keep], train)
        adata_seq.obs_names_make_unique()
        adata_sp.obs_names_make_unique()

        epochs = int(self.params.quick_epochs if task.quick else self.params.max_epochs)
        use_cuda = task.device in ("cuda", "auto") and torch.cuda.is_available()
        accelerator = "gpu" if use_cuda else "cpu"
        workdir = task.workdir
        workdir.mkdir(parents=True, exist_ok=True)

        with _scvi_settings(task.seed, workdir):
            GIMVI.setup_anndata(adata_seq)
            GIMVI.setup_anndata(adata_sp)
            model = GIMVI(adata_seq, adata_sp, n_latent=int(self.params.n_latent))
            model.train(
                max_epochs=epochs, accelerator=accelerator, devices=1, kappa=self.params.kappa,
                batch_size=int(self.params.batch_size), default_root_dir=str(workdir),
                enable_progress_bar=False,
            )
            _, imputed = model.get_imputed_values(normalized=True)

        freq = np.asarray(imputed, dtype=np.float64)  # kept spatial cells x genes (seq gene order)
        col = {g: j for j, g in enumerate(genes)}
        train_mass = freq[:, [col[g] for g in train]].sum(axis=1)
        median_total = float(np.median(sp_tot[sp_keep]))
        pred_kept = expected_counts_to_task_scale(train_mass, freq[:, [col[g] for g in targets]], task,
                                                  rows=np.nonzero(sp_keep)[0])

        values = np.empty((task.n_cells, len(targets)), dtype=np.float64)
        values[sp_keep] = pred_kept
        if (~sp_keep).any():
            values[~sp_keep] = pred_kept.mean(axis=0)
        values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)

        history = getattr(model, "history_", None) or {}
        final = None
        try:
            final = float(history["elbo_train_0"].iloc[-1, 0]) if "elbo_train_0" in history else None
        except Exception:  # noqa: BLE001 - informative only
            final = None
        return Prediction(
            pd.DataFrame(values, index=task.spatial.obs_names, columns=targets),
            info={"epochs": epochs, "accelerator": accelerator, "median_train_total": median_total,
                  "spatial_cells_without_counts": int((~sp_keep).sum()),
                  "reference_cells_without_counts": int((~ref_keep).sum()),
                  "final_elbo_train_seq": final, "scvi_version": scvi.__version__,
                  "final_loss": final},  # checked by benchmark/quality.py: NaN -> flag nan_loss
        )
