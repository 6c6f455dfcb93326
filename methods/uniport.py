"""``uniport``: uniPort (Cao et al. 2022), spatial-gene imputation with the ``uniport`` package."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.task import COUNTS_LAYER, ImputationTask, Prediction

from . import register
from .base import Method, MethodInfo
from ._count_scale import expected_counts_to_task_scale
from ._util import dense, keep_global_rng


@contextlib.contextmanager
def _uniport_sandbox(seed: int, use_cuda: bool):
    """Contain the process-wide side effects of ``uniport.Run`` to the block.

    * ``Run`` seeds NumPy's and torch's global generators: both states are restored afterwards.
    * ``Run`` calls ``create_logger('')``, which adds a console and a file handler to the *root*
      logger on every call (so messages are printed twice, then three times, ...): the root
      logger's handlers and level are restored and the added handlers closed.
    * ``Run`` picks CUDA whenever ``torch.cuda.is_available()``, whatever the caller asked for:
      without ``use_cuda`` the check answers ``False`` for the block.
    * uniport 1.3's ``EarlyStopping`` uses ``np.Inf``, which NumPy 2 removed: the alias is
      provided for the block only when it is missing.
    """
    import torch

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    torch_state = torch.get_rng_state()
    added_inf = not hasattr(np, "Inf")
    if added_inf:
        np.Inf = np.inf  # type: ignore[attr-defined]
    real_is_available = torch.cuda.is_available
    if not use_cuda:
        torch.cuda.is_available = lambda: False  # type: ignore[assignment]
    try:
        with keep_global_rng(seed):
            yield
    finally:
        torch.cuda.is_available = real_is_available  # type: ignore[assignment]
        if added_inf:
            del np.Inf  # type: ignore[attr-defined]
        torch.set_rng_state(torch_state)
        for h in list(root.handlers):
            if h not in handlers:
                root.removeHandler(h)
                h.close()
        root.setLevel(level)


def _adata(x: np.ndarray, prefix: str, genes: list[str], source: str, domain: str):
    import anndata as ad

    obs = pd.DataFrame(
        {"source": [source] * x.shape[0], "domain_id": pd.Categorical([domain] * x.shape[0])},
        index=pd.Index([f"{prefix}{i}" for i in range(x.shape[0])]),
    )
    return ad.AnnData(X=np.array(x, dtype=np.float32, copy=True), obs=obs, var=pd.DataFrame(index=pd.Index(genes)))


@register
class UniportMethod(Method):
    """uniPort: a coupled VAE with a shared encoder, a common-gene decoder and dataset-specific
    decoders, aligned by minibatch unbalanced optimal transport in the latent space; the
    reference's specific decoder, applied to the spatial cells' latent codes, imputes genes.

    What it does (uniPort's "Impute genes for MERFISH" tutorial, ``MERFISH_impute.ipynb``):

    1. Raw counts (``layers["counts"]``): the spatial cells on the training genes, the reference
       on the training and target genes (reference cells with no count on those genes are left
       out, as the tutorial's ``filter_cells(min_counts=1)`` does). ``adata_cm`` stacks both on
       the training genes (``domain_id`` 0 = spatial, 1 = reference, as ``concatenate`` does).
    2. Each of the three objects separately: ``sc.pp.normalize_total`` (to the median total),
       ``sc.pp.log1p`` and ``up.batch_scale`` (per-source ``MaxAbsScaler``, so values lie in
       [0, 1]).
    3. ``up.Run(adatas=[spatial, reference], adata_cm=adata_cm, lambda_kl=5.0)`` (horizontal
       mode, the reference is the OT reference; ``lambda_kl=5.0`` is the tutorial's value,
       everything else ``Run``'s defaults: encoder 1024-16, sigmoid decoders, BCE loss,
       ``lambda_s=0.5``, ``lambda_ot=1``, ``reg=0.1``, ``reg_m=1``, batch size 256, Adam with
       learning rate 2e-4, at most 30,000 mini-batch iterations, early stopping with patience 30
       epochs, which restores the best checkpoint).
    4. ``up.Run(adata_cm=spatial, out="predict", pred_id=1)``: the spatial cells' latent means
       decoded by the reference decoder, one value in [0, 1] per reference gene. As in
       uniPort's own ``encodeBatch``, the network is left in training mode at prediction, so the
       batch-normalisation layers use the statistics of each (unshuffled) batch of 256 cells.

    Output scale: the decoder output is the reference's MaxAbs-scaled ``log1p(normalize_total)``
    expression. Multiplying each gene by its maximum over the reference cells (the scale that
    ``batch_scale`` divided by) gives ``log1p(count / cell total over the training and target
    genes * median total)`` of the reference: the SpaGE-style normalisation of the task, applied
    to the reference restricted to the panel genes, which is what is returned under the default
    ``spage`` scheme. Under another scheme, ``expm1`` of that is read as expected counts (per
    cell, up to a factor) and normalised as the task normalised its spatial ``X``
    (:func:`methods._count_scale.expected_counts_to_task_scale`).

    Deviations and traps handled: ``seed`` is ``task.seed`` (``Run``'s default is 124), given
    AnnData objects are new (neutral cell names; the task's objects are never passed), all
    spatial cells are predicted (the tutorial drops spatial cells with no count; here their
    all-zero input is encoded like any other), with fewer stacked cells than ``batch_size`` the
    batch shrinks to the number of cells (``Run``'s loader drops partial batches, so it would have
    none and fail), the checkpoints and ``log.txt`` are written under
    ``task.workdir``, data loading runs in-process (``num_workers=0``), and the global side
    effects of ``Run`` are undone afterwards (see :func:`_uniport_sandbox`).

    Quick mode (``task.quick``): at most ``quick_epochs`` (30) epochs, i.e. ``quick_epochs`` times
    the number of full batches of 256 cells (``Run`` counts iterations; an epoch is one pass over
    the stacked cells with the last partial batch dropped).
    Device: CPU unless ``task.device`` is ``cuda``/``auto`` and torch sees a GPU.
    Deterministic on CPU: NumPy and torch are seeded by ``Run`` with ``task.seed``.
    """

    info = MethodInfo(
        name="uniport",
        needs_counts=True,  # models molecule counts (layers["counts"]); not applicable to other values
        summary="uniPort: OT-aligned coupled VAE of spatial and reference data; the reference decoder imputes genes.",
        paper_url="https://doi.org/10.1038/s41467-022-35094-8",
        code_url="https://github.com/caokai1073/uniPort",
        package="uniport",
        requires=("uniport",),
        install_hint="pip install -c constraints.txt uniport",
        quick_note="trains at most quick_epochs (30) epochs instead of up to iteration (30000) mini-batch iterations",
    )

    @dataclass
    class Params:
        iteration: int = 30000
        lambda_kl: float = 5.0
        lambda_s: float = 0.5
        lambda_recon: float = 1.0
        lambda_ot: float = 1.0
        reg: float = 0.1
        reg_m: float = 1.0
        batch_size: int = 256
        lr: float = 2e-4
        patience: int = 30
        loss_type: str = "BCE"
        #: Epochs under ``--quick`` (not an authors' parameter).
        quick_epochs: int = 30

    def fit_predict(self, task: ImputationTask) -> Prediction:
        import scanpy as sc
        import torch
        import uniport as up

        train = list(task.training_genes)
        targets = list(task.target_genes)
        genes = task.genes

        sp_counts = dense(task.spatial.layers[COUNTS_LAYER]).astype(np.float64)
        ref_counts = dense(task.reference[:, genes].layers[COUNTS_LAYER]).astype(np.float64)
        ref_keep = ref_counts.sum(axis=1) > 0
        if ref_keep.sum() < 2:
            raise ValueError("uniPort: fewer than 2 reference cells with counts on the panel genes")
        ref_counts = ref_counts[ref_keep]

        # The tutorial's objects: spatial (training genes), reference (all panel genes) and the
        # stacked training genes, each normalised and scaled on its own.
        spatial = _adata(sp_counts, "s", train, "spatial", "0")
        reference = _adata(ref_counts, "r", genes, "RNA", "1")
        adata_cm = _adata(np.vstack([sp_counts, ref_counts[:, : len(train)]]), "c", train, "spatial", "0")
        adata_cm.obs["source"] = ["spatial"] * sp_counts.shape[0] + ["RNA"] * ref_counts.shape[0]
        adata_cm.obs["domain_id"] = pd.Categorical(
            ["0"] * sp_counts.shape[0] + ["1"] * ref_counts.shape[0], categories=["0", "1"])
        ref_max = None
        for a in (adata_cm, spatial, reference):
            sc.pp.normalize_total(a)
            sc.pp.log1p(a)
            if a is reference:
                ref_max = np.abs(np.asarray(a.X, dtype=np.float64)).max(axis=0)  # MaxAbsScaler's scale
            up.batch_scale(a)

        # Run's training loader drops the last partial batch, so with fewer cells than one batch it
        # would have no batch at all (and Run divides by its length): the batch shrinks to fit.
        batch_size = max(2, min(int(self.params.batch_size), adata_cm.n_obs))
        iterations = int(self.params.iteration)
        if task.quick:  # one epoch is n_cells // batch_size iterations
            iterations = min(iterations, int(self.params.quick_epochs) * (adata_cm.n_obs // batch_size))
        use_cuda = task.device in ("cuda", "auto") and torch.cuda.is_available()
        outdir = Path(task.workdir) / "uniport"
        outdir.mkdir(parents=True, exist_ok=True)
        p = self.params
        with _uniport_sandbox(task.seed, use_cuda):
            up.Run(
                adatas=[spatial, reference], adata_cm=adata_cm, mode="h", lambda_s=p.lambda_s,
                lambda_recon=p.lambda_recon, lambda_kl=p.lambda_kl, lambda_ot=p.lambda_ot, iteration=iterations,
                reg=p.reg, reg_m=p.reg_m, batch_size=batch_size, lr=p.lr, loss_type=p.loss_type,
                outdir=str(outdir), seed=int(task.seed), num_workers=0, patience=int(p.patience),
            )
            predicted = up.Run(adata_cm=spatial, out="predict", pred_id=1, outdir=str(outdir),
                               batch_size=batch_size, seed=int(task.seed))
        scaled = np.asarray(predicted.obsm["predict"], dtype=np.float64)  # spatial cells x genes (in [0, 1])
        col = {g: j for j, g in enumerate(genes)}
        idx = [col[g] for g in targets]
        if task.preprocessing == "spage":
            values = scaled[:, idx] * ref_max[idx]  # already the task's scale (see the docstring)
        else:
            # read the decoded expression as expected counts (per cell, up to one factor) and
            # normalise them the way the task normalised its spatial X
            expected = np.expm1(scaled * ref_max)
            train_total = expected[:, [col[g] for g in train]].sum(axis=1)
            values = expected_counts_to_task_scale(train_total, expected[:, idx], task)
        values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
        return Prediction(
            pd.DataFrame(values, index=task.spatial.obs_names, columns=targets),
            info={"max_iterations": iterations, "batch_size": batch_size, "device": "cuda" if use_cuda else "cpu",
                  "reference_cells_without_counts": int((~ref_keep).sum())},
        )
