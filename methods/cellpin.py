"""``cellpin``: CellPin (``cellpin`` package), a two-view VAE that imputes unmeasured genes from a panel."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from benchmark.task import COUNTS_LAYER, ImputationTask, Prediction

from . import register
from .base import Method, MethodInfo
from ._count_scale import expected_counts_to_task_scale
from ._util import keep_global_rng


def _counts_adata(counts, obs_names, var_names):
    import anndata as ad

    return ad.AnnData(
        X=sp.csr_matrix(counts, dtype=np.float32, copy=True),
        obs=pd.DataFrame(index=pd.Index([str(c) for c in obs_names])),
        var=pd.DataFrame(index=pd.Index([str(g) for g in var_names])),
    )


@contextlib.contextmanager
def _torch_state(use_cuda: bool):
    """Keep torch's float32 matmul precision (cellpin sets "high" at import) and, for a CPU
    run, hide CUDA from cellpin's ``embed_and_impute``, which moves the model to the GPU
    whenever one is visible."""
    import torch

    old_precision = torch.get_float32_matmul_precision()
    old_available = torch.cuda.is_available
    if not use_cuda:
        torch.cuda.is_available = lambda: False
    try:
        yield
    finally:
        torch.cuda.is_available = old_available
        torch.set_float32_matmul_precision(old_precision)


@register
class CellPinMethod(Method):
    """CellPin: a VAE over the reference's full gene set with a second encoder that sees only
    the spatial panel; the panel encoder is distilled onto the full-gene latent space, and the
    spatial cells are decoded into every reference gene.

    What it does (the package's documented workflow): the raw counts (``layers["counts"]``)
    of the reference, restricted to the training and target genes, and of the spatial cells
    (training genes) are copied into new AnnData objects; ``cellpin.pp.setup_data(ref, spatial)``;
    ``cellpin.CellPin(sc_dataset)`` with the package's default architecture and losses;
    ``fit(sc_dataset)`` with the authors' defaults (``pretrain_epochs=50``, ``train_epochs=60``,
    ``batch_size=256``, early stopping with patience 10 on an 80/20 split, gradient clipping 0.5);
    then ``impute(DataLoader(st_dataset, batch_size=256))`` with
    its defaults (50 Monte-Carlo passes, 20% of panel genes masked per pass), which returns the
    mean negative-binomial rate ``mu_ig`` of every reference gene for each spatial cell.

    Output scale: ``mu_ig`` are expected counts on the reference's library scale (the library
    is encoded from the panel). They are rescaled so that their training-gene total equals the
    cell's observed one and normalised as the task normalised ``X`` (``methods/_count_scale.py``);
    for the default SpaGE scheme the prediction is ``log1p(mu_ig / M_i * m)``, where
    ``M_i = sum of mu_ig over the training genes`` and ``m`` is the median of the non-zero
    spatial totals over the training genes (as the ``gimvi`` wrapper does).

    Deviations: numeric precision ``"auto"`` keeps the authors' ``"bf16-mixed"`` on a GPU but
    uses ``"32-true"`` on CPU: on this suite's CPU (AMD EPYC, AVX2, no native bf16) one 1+1-epoch
    fit on 512 cells took 69 s in float32 and did not finish within 600 s in bf16-mixed.
    ``num_workers=0`` (the package's data loaders default to 4 worker processes);
    progress bars off; all of CellPin's logs (TensorBoard and CSV, written even with
    ``save_checkpoints=False``, by default to ``./cellpin_output``) and its printed messages go
    to ``task.workdir``. Quick mode (``task.quick``): ``quick_pretrain_epochs`` (2) +
    ``quick_train_epochs`` (2) epochs, ``quick_mc_samples`` (5) Monte-Carlo passes and a small
    network (hidden width 128, 2 encoder layers, 16 latent dimensions instead of 1024, 16, 192),
    so that contract tests run in seconds: the same code path, not a benchmark setting.

    Cost: slow on CPU. Measured on the shared 2-core machine (under contention, so inflated):
    see ``docs/methods.md``. Device: CPU unless ``task.device`` is ``cuda``/``auto`` and torch
    sees a GPU.

    Seeds: NumPy, python and torch are seeded with ``task.seed`` before the model is built
    (weights), Lightning's ``seed_everything(task.seed)`` runs before each stage, and torch is
    reseeded before imputation (masking and latent samples); NumPy's and python's global states
    are restored afterwards. The train/validation split uses CellPin's fixed seed 42. CPU
    training with bf16 autocast is not guaranteed bit-for-bit reproducible across machines;
    on one machine it is (the contract test checks it).
    """

    info = MethodInfo(
        name="cellpin",
        needs_counts=True,  # models molecule counts (layers["counts"]); not applicable to other values
        summary="CellPin: panel-encoder VAE distilled onto a full-gene VAE of the reference; decodes every gene.",
        paper_url="https://pypi.org/project/cellpin/",
        code_url="https://pypi.org/project/cellpin/",
        package="cellpin",
        requires=("cellpin",),
        install_hint="pip install -c constraints.txt cellpin",
        quick_note=("2+2 epochs instead of 50+60, 5 Monte-Carlo passes instead of 50, a small network "
                    "(width 128, 2 encoder layers, 16 latent dims); for tests only"),
        cost_note=("needs a GPU: with its authors' settings, about 1.8 h per osmFISH fold on a 2-core CPU "
                   "(measured: 50 s per pretraining epoch, 60 s per training epoch, 372 s for the 50-pass "
                   "imputation, 4.0 GB peak; 50 + 60 epochs unless early stopping ends a stage), about 9 h for "
                   "5 folds; see docs/methods.md"),
    )

    @dataclass
    class Params:
        pretrain_epochs: int = 50
        train_epochs: int = 60
        batch_size: int = 256
        gradient_clip_val: float = 0.5
        early_stopping_patience: int = 10
        train_size: float = 0.8
        #: ``"auto"``: the authors' ``"bf16-mixed"`` on a GPU, ``"32-true"`` on CPU (see docstring).
        precision: str = "auto"
        mc_samples: int = 50
        mask_fraction: float = 0.2
        impute_batch_size: int = 256
        #: Under ``--quick`` (not the authors' settings).
        quick_pretrain_epochs: int = 2
        quick_train_epochs: int = 2
        quick_mc_samples: int = 5
        quick_n_hidden: int = 128
        quick_encoder_layers: int = 2
        quick_n_latent: int = 16

    def fit_predict(self, task: ImputationTask) -> Prediction:
        import torch
        from torch.utils.data import DataLoader

        p = self.params
        train = list(task.training_genes)
        targets = list(task.target_genes)
        genes = task.genes

        sp_counts = sp.csr_matrix(task.spatial.layers[COUNTS_LAYER], dtype=np.float32)
        ref_counts = sp.csr_matrix(task.reference[:, genes].layers[COUNTS_LAYER], dtype=np.float32)
        if ref_counts.shape[0] < 5:
            raise ValueError("cellpin: the reference needs at least 5 cells (80/20 train/validation split)")
        # neutral gene tokens: CellPin matches genes by name; tokens rule out any renaming issue
        token = {g: f"g{i}" for i, g in enumerate(genes)}
        ad_ref = _counts_adata(ref_counts, task.reference.obs_names, [token[g] for g in genes])
        ad_sp = _counts_adata(sp_counts, task.spatial.obs_names, [token[g] for g in train])
        ad_ref.obs_names_make_unique()
        ad_sp.obs_names_make_unique()

        quick = bool(task.quick)
        pre_epochs = int(p.quick_pretrain_epochs if quick else p.pretrain_epochs)
        main_epochs = int(p.quick_train_epochs if quick else p.train_epochs)
        mc_samples = int(p.quick_mc_samples if quick else p.mc_samples)
        use_cuda = task.device in ("cuda", "auto") and torch.cuda.is_available()
        precision = str(p.precision)
        if precision == "auto":
            precision = "bf16-mixed" if use_cuda else "32-true"
        config = ({"n_hidden": int(p.quick_n_hidden), "encoder_layers": int(p.quick_encoder_layers),
                   "n_latent": int(p.quick_n_latent)} if quick else None)
        workdir = task.workdir
        workdir.mkdir(parents=True, exist_ok=True)
        log_path = workdir / "cellpin_stdout.log"

        with open(log_path, "w") as log, contextlib.redirect_stdout(log), _torch_state(use_cuda), \
                keep_global_rng(task.seed, seed_torch=True):
            import cellpin

            sc_ds, st_ds = cellpin.pp.setup_data(ad_ref, ad_sp)
            model = cellpin.CellPin(sc_ds, config=config)
            t0 = time.perf_counter()
            model.fit(
                sc_ds, pretrain_epochs=pre_epochs, train_epochs=main_epochs, batch_size=int(p.batch_size),
                gradient_clip_val=float(p.gradient_clip_val), early_stopping_patience=int(p.early_stopping_patience),
                train_size=float(p.train_size), save_checkpoints=False, output_dir=str(workdir / "cellpin_output"),
                accelerator="gpu" if use_cuda else "cpu", devices=1, precision=precision, num_workers=0,
                enable_progress_bar=False, seed=int(task.seed), default_root_dir=str(workdir),
            )
            fit_s = time.perf_counter() - t0
            torch.manual_seed(int(task.seed))
            t0 = time.perf_counter()
            loader = DataLoader(st_ds, batch_size=int(p.impute_batch_size), shuffle=False, num_workers=0)
            out = model.impute(loader, obs_adata=None, mc_samples=mc_samples, mask_fraction=float(p.mask_fraction),
                               return_norm=False, return_sparse=False)
            impute_s = time.perf_counter() - t0

        epochs_run = {}
        for stage, path in (("pretrain", model._pretrain_output_dir), ("train", model._train_output_dir)):
            try:  # CellPin's CSV log: the epochs actually run (early stopping may end a stage early)
                epochs_run[stage] = int(pd.read_csv(path / "metrics.csv")["epoch"].max()) + 1
            except Exception:  # noqa: BLE001 - informative only
                epochs_run[stage] = None
        mu = pd.DataFrame(np.asarray(out.X, dtype=np.float64), columns=[str(v) for v in out.var_names])
        values = expected_counts_to_task_scale(mu[[token[g] for g in train]].to_numpy().sum(axis=1),
                                               mu[[token[g] for g in targets]].to_numpy(), task)
        values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
        return Prediction(
            pd.DataFrame(values, index=task.spatial.obs_names, columns=targets),
            info={"pretrain_epochs": pre_epochs, "epochs_run": epochs_run, "train_epochs": main_epochs, "mc_samples": mc_samples,
                  "accelerator": "gpu" if use_cuda else "cpu", "precision": precision, "quick_architecture": config,
                  "fit_seconds": round(fit_s, 1), "impute_seconds": round(impute_s, 1)},
        )
