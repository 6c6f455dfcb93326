"""``stplus``: stPlus (Shengquan Chen et al. 2021) from the ``stPlus`` package."""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import tempfile
import types
from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmark.task import ImputationTask, Prediction

from . import register
from .base import Method, MethodInfo
from ._util import dense


@contextlib.contextmanager
def _stplus_on_cpu():
    """Import ``stPlus`` and make it run on the CPU, for the duration of the block only.

    stPlus 0.0.6 imports ``torchvision`` (unused), calls
    ``torch.set_default_tensor_type('torch.cuda.FloatTensor')`` at import time and calls
    ``.cuda()`` on its network and batches. This installs, as INSTALL-NOTES.md describes, a stub
    ``torchvision`` module and a no-op ``torch.set_default_tensor_type`` during the import
    (both removed right after it), and ``torch.Tensor.cuda`` / ``torch.nn.Module.cuda`` as
    identities plus a ``DataLoader`` with ``num_workers=0`` in ``stPlus.model`` while the block
    runs. These patches are process-global while active (the harness runs each job in its own
    forked process); they are undone when the block exits, also on error.
    """
    import torch
    from torch.utils.data import DataLoader

    if "stPlus.model" not in sys.modules:
        stub = None
        if "torchvision" not in sys.modules and importlib.util.find_spec("torchvision") is None:
            stub = types.ModuleType("torchvision")
            stub.datasets = None
            sys.modules["torchvision"] = stub
        saved = torch.set_default_tensor_type
        torch.set_default_tensor_type = lambda *a, **k: None
        try:
            import stPlus  # noqa: F401
        finally:
            torch.set_default_tensor_type = saved
            if stub is not None and sys.modules.get("torchvision") is stub:
                del sys.modules["torchvision"]
    model_mod = sys.modules["stPlus.model"]

    tensor_cuda, module_cuda, loader = torch.Tensor.cuda, torch.nn.Module.cuda, model_mod.DataLoader
    torch.Tensor.cuda = lambda self, *a, **k: self
    torch.nn.Module.cuda = lambda self, *a, **k: self
    def in_process_loader(*args, **kwargs):
        kwargs["num_workers"] = 0  # stPlus passes num_workers=4 explicitly; override it
        return DataLoader(*args, **kwargs)

    model_mod.DataLoader = in_process_loader if loader is DataLoader else loader
    try:
        yield model_mod
    finally:
        torch.Tensor.cuda, torch.nn.Module.cuda = tensor_cuda, module_cuda
        model_mod.DataLoader = loader


@register
class StPlusMethod(Method):
    """stPlus: an autoencoder embeds spatial and reference cells jointly (reconstructing the
    shared genes of spatial cells and predicting the reference-only genes of reference cells from
    their shared genes), then each spatial cell's target genes are a weighted mean over its
    nearest reference cells (cosine distance in the embedding), averaged over the ``t_min``
    lowest-loss checkpoints.

    What it does: ``stPlus.stPlus(spatial_df, scrna_df, genes_to_predict, ...)`` with the
    authors' defaults (``t_min=5``, ``n_neighbors=50``, ``converge_ratio=0.004``,
    ``max_epoch_num=10000``, ``batch_size=512``, ``learning_rate=None`` i.e. 4e-3 below 10,000
    reference cells, ``weight_decay=2e-4``, ``data_quality=None``) and ``random_seed=task.seed``.
    Inputs: stPlus expects "normalized and logarithmized" data (its docstring), so it gets the
    task's ``X`` (SpaGE-style log-normalised): the spatial cells on the training genes and the
    reference with all its genes (stPlus uses the reference-only genes, beyond training and
    target genes, as extra features). Genes are passed as neutral tokens (``g0``, ``g1``, ...)
    and mapped back to the task's names.

    Deviations (all forced by the data or the platform, none by choice of results):

    * ``top_k`` (2000: number of most variable reference-only genes used) is capped at
      ``n_ref_genes - n_training - n_target`` (the number of reference-only genes), since
      ``np.argpartition`` fails ("kth out of bounds") when fewer exist. With no reference-only
      gene at all (e.g. the osmFISH pair, whose reference has the same 33 genes), stPlus's gene
      selection would crash on an empty matrix; the wrapper then passes ``top_k=0`` and makes
      ``select_top_variable_genes`` return no index, so the autoencoder sees the training and
      target genes only. Everything else in stPlus is unchanged.
    * ``n_neighbors`` (50) is capped at the number of reference cells.
    * Runs on the CPU only (``task.device`` is ignored): the package hard-codes CUDA; see
      :func:`_stplus_on_cpu` for the patches, which are applied only inside ``fit_predict``
      and undone afterwards.
    * ``DataLoader(num_workers=4)`` is hard-coded in stPlus (it only warns on a 2-core machine);
      this wrapper swaps in ``num_workers=0`` while it runs. The shuffling order comes from
      torch's global generator either way, so results are unchanged.
    * ``verbose=False`` (no per-epoch printing).
    * Checkpoints (``stPlus-5min*.pt``) go to a fresh temporary directory inside
      ``task.workdir`` (``save_path_prefix``), so no stale checkpoint can be reused.

    Output scale: stPlus's prediction is, per spatial cell, a convex combination (weights sum
    to one) of the reference cells' values, i.e. already on the task's ``X`` scale; it is
    returned as is. stPlus yields NaN for a cell when only one neighbour (or none with a
    non-zero distance sum) lies at cosine distance below 1; such rows (counted in ``info``) are
    replaced by the reference mean of the target genes.

    Quick mode (``task.quick``): at most ``quick_max_epochs`` (30) epochs instead of
    ``max_epoch_num`` (10000; training normally stops earlier at ``converge_ratio``).
    Deterministic on CPU: stPlus calls ``torch.manual_seed(random_seed)`` before building the
    network and the data loaders.
    """

    info = MethodInfo(
        name="stplus",
        summary="stPlus: joint autoencoder embedding of spatial and reference cells, then kNN over reference cells.",
        paper_url="https://doi.org/10.1093/bioinformatics/btab298",
        code_url="https://github.com/xy-chen16/stPlus",
        package="stPlus",
        requires=("stPlus", "torch"),
        install_hint="pip install -c constraints.txt --no-deps stplus transpa",
        quick_note="trains at most quick_max_epochs (30) epochs instead of max_epoch_num (10000)",
    )

    @dataclass
    class Params:
        top_k: int = 2000
        t_min: int = 5
        n_neighbors: int = 50
        converge_ratio: float = 0.004
        max_epoch_num: int = 10000
        batch_size: int = 512
        learning_rate: float | None = None
        weight_decay: float = 0.0002
        data_quality: float | None = None
        #: Epoch cap under ``--quick`` (not an authors' parameter).
        quick_max_epochs: int = 30

    def fit_predict(self, task: ImputationTask) -> Prediction:
        train = list(task.training_genes)
        targets = list(task.target_genes)
        ref_genes = list(task.reference.var_names)
        fixed = set(train) | set(targets)
        others = [g for g in ref_genes if g not in fixed]
        n_other = len(dict.fromkeys(others))
        top_k = min(int(self.params.top_k), n_other) if n_other else 0

        genes = task.genes + list(dict.fromkeys(others))
        token = {g: f"g{i}" for i, g in enumerate(genes)}
        ref_idx = [ref_genes.index(g) for g in genes]
        scrna_df = pd.DataFrame(
            np.array(dense(task.reference.X), dtype=np.float64)[:, ref_idx],
            columns=[token[g] for g in genes],
        )
        spatial_df = pd.DataFrame(
            np.array(dense(task.spatial.X), dtype=np.float64, copy=True),
            columns=[token[g] for g in train],
        )
        n_neighbors = max(1, min(int(self.params.n_neighbors), scrna_df.shape[0]))
        epochs = int(min(self.params.quick_max_epochs, self.params.max_epoch_num) if task.quick
                     else self.params.max_epoch_num)

        task.workdir.mkdir(parents=True, exist_ok=True)
        ckpt_dir = tempfile.mkdtemp(prefix="stplus-", dir=str(task.workdir))
        with _stplus_on_cpu() as stplus_model:
            select = stplus_model.select_top_variable_genes
            if top_k == 0:  # argpartition of an empty matrix fails; select no extra gene instead
                stplus_model.select_top_variable_genes = lambda mtx, k: np.zeros(0, dtype=np.int64)
            try:
                res = stplus_model.stPlus(
                    spatial_df, scrna_df, np.array([token[g] for g in targets]),
                    save_path_prefix=f"{ckpt_dir}/stPlus", top_k=top_k, t_min=int(self.params.t_min),
                    data_quality=self.params.data_quality, random_seed=int(task.seed), verbose=False,
                    n_neighbors=n_neighbors, converge_ratio=float(self.params.converge_ratio),
                    max_epoch_num=epochs, batch_size=int(self.params.batch_size),
                    learning_rate=self.params.learning_rate, weight_decay=float(self.params.weight_decay),
                )
            finally:
                stplus_model.select_top_variable_genes = select
        if not isinstance(res, pd.DataFrame):
            raise RuntimeError(f"stPlus returned {res!r} instead of a table (a target gene missing from the reference?)")
        values = res[[token[g] for g in targets]].to_numpy(dtype=np.float64)
        bad_rows = ~np.isfinite(values).all(axis=1)
        if bad_rows.any():
            fallback = np.asarray(dense(task.reference[:, targets].X), dtype=np.float64).mean(axis=0)
            values[bad_rows] = fallback
        return Prediction(
            pd.DataFrame(values, index=task.spatial.obs_names, columns=targets),
            info={"max_epochs": epochs, "top_k": top_k, "n_neighbors": n_neighbors,
                  "rows_replaced_by_reference_mean": int(bad_rows.sum()), "device": "cpu"},
        )
