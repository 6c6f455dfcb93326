"""``transimplr``: TransImpLR (Qiao & Huang) from the ``transpa`` package."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmark.task import ImputationTask, Prediction

from . import register
from .base import Method, MethodInfo
from ._util import dense, keep_global_rng


def _keep_global_rng():
    """transpa seeds python's and NumPy's global generators; restore them afterwards."""
    return keep_global_rng()


@register
class TransImpLRMethod(Method):
    """TransImpLR: a low-rank, non-negative linear translation from reference cells to spatial
    cells, fitted on the training genes and applied to the target genes.

    What it does: the configuration the authors document as "TransImpLR" (transpa docs, Main
    API): ``signature_mode="cell"`` (every reference cell is a signature), ``mapping_mode=
    "lowrank"`` (mapping ``clip(W1**2, clip_max) @ softmax(W2)`` with ``mapping_lowdim=256``
    hidden dimensions), ``n_epochs=2000``, ``lr=1e-2``, ``weight_decay=1e-2`` (AdamW),
    ``clip_max=10``, no L1/L2 weight (``None``), and no spatial regulariser: "LR" means
    low-rank, not "without spatial term"; TransImpSpa is the same call plus ``spa_adj``. Without
    ``spa_adj``/``locations`` the spatial term is inactive whatever ``wt_spa`` is (the package
    default 1.0 is kept). The loss is 1 - cosine similarity per spatial cell plus 1 - cosine per
    gene. Inputs are the task's ``X`` (SpaGE-style log-normalised) of both data sets: the
    reference restricted to training and target genes, the spatial cells on the training genes.

    The call is ``transpa.util.fit_transImp`` (the fitting function ``expTransImp`` calls,
    with the same arguments) instead of ``expTransImp`` itself, because ``expTransImp`` returns
    only ``model.predict(test_X)``, i.e. the raw translation divided by its global standard
    deviation, and the fitted model is needed to put that on the task's scale (below).

    Output scale: the cosine losses make the translation's overall scale arbitrary (the
    package's ``predict`` just divides by the global std). The prediction is the raw translation
    of the target genes, ``model(test_X)``, multiplied by one global factor ``s`` fitted by least
    squares on the training genes: ``s = <Yhat_train, Y_train> / <Yhat_train, Yhat_train>``,
    with ``Yhat_train = model(train_X)`` and ``Y_train`` the task's spatial ``X``. Up to that
    single positive factor the prediction equals ``expTransImp``'s output.

    Quick mode (``task.quick``): ``quick_epochs`` (100) epochs instead of 2000.
    Device: CPU unless ``task.device`` is ``cuda``/``auto`` and torch sees a GPU. Writes no
    files. Deterministic on CPU: ``seed=task.seed`` is passed (transpa seeds torch, NumPy and
    python's ``random``; the latter two global states are restored afterwards).
    """

    info = MethodInfo(
        name="transimplr",
        summary="TransImpLR (transpa): low-rank translation from reference cells to spatial cells, fitted on shared genes.",
        paper_url="https://www.sciencedirect.com/science/article/pii/S2666389924001545",
        code_url="https://github.com/qiaochen/tranSpa",
        package="transpa",
        requires=("transpa", "torch"),
        install_hint="pip install -c constraints.txt --no-deps stplus transpa",
        quick_note="trains quick_epochs (100) epochs instead of n_epochs (2000)",
    )

    @dataclass
    class Params:
        n_epochs: int = 2000
        lr: float = 1e-2
        weight_decay: float = 1e-2
        mapping_lowdim: int = 256
        clip_max: int = 10
        signature_mode: str = "cell"
        mapping_mode: str = "lowrank"
        #: Epochs under ``--quick`` (not an authors' parameter).
        quick_epochs: int = 100

    def fit_predict(self, task: ImputationTask) -> Prediction:
        import torch
        from transpa.util import fit_transImp

        train = list(task.training_genes)
        targets = list(task.target_genes)
        genes = task.genes
        # neutral column tokens: no case or duplicate issue can touch the task's gene names
        token = {g: f"g{i}" for i, g in enumerate(genes)}
        df_ref = pd.DataFrame(
            np.array(dense(task.reference[:, genes].X), dtype=np.float32, copy=True),
            columns=[token[g] for g in genes],
        )
        df_sp = pd.DataFrame(
            np.array(dense(task.spatial.X), dtype=np.float32, copy=True),
            columns=[token[g] for g in train],
        )

        epochs = int(self.params.quick_epochs if task.quick else self.params.n_epochs)
        use_cuda = task.device in ("cuda", "auto") and torch.cuda.is_available()
        device = torch.device("cuda:0" if use_cuda else "cpu")

        with _keep_global_rng():
            model, train_x, train_y, test_x = fit_transImp(
                df_ref, df_sp,
                [token[g] for g in train], [token[g] for g in targets],
                lr=float(self.params.lr), weight_decay=float(self.params.weight_decay), n_epochs=epochs,
                classes=None, ct_list=None, autocorr_method="moranI",
                mapping_mode=self.params.mapping_mode, mapping_lowdim=int(self.params.mapping_lowdim),
                spa_adj=None, clip_max=self.params.clip_max, signature_mode=self.params.signature_mode,
                wt_spa=1.0, wt_l1norm=None, wt_l2norm=None, locations=None,
                device=device, seed=int(task.seed),
            )
            model.eval()
            with torch.no_grad():
                yhat_train = model(train_x).double().cpu().numpy()
                yhat_test = model(test_x).double().cpu().numpy()
        y_train = train_y.double().cpu().numpy()
        yhat_train = np.nan_to_num(yhat_train)
        denom = float((yhat_train * yhat_train).sum())
        scale = float((yhat_train * y_train).sum()) / denom if denom > 0 else 0.0
        values = np.nan_to_num(scale * yhat_test, nan=0.0, posinf=0.0, neginf=0.0)
        return Prediction(
            pd.DataFrame(values, index=task.spatial.obs_names, columns=targets),
            info={"epochs": epochs, "device": str(device), "scale": scale},
        )
