"""stDiff (stdiff-sc) on one task, run by stDiff's own environment (benchmark/env_child.py calls ``impute``).

Follows the authors' script (test-stDiff.py in github.com/fdu-wangfeilab/stDiff) with its settings:
the reference is augmented with a copy shifted by ``noise_std`` (their ``data_augment``), both
sides are normalised to 10^4 counts per cell, log1p-transformed and divided by each cell's
maximum (their ``scale``), mapped to [-1, 1]; a DiT denoiser is trained on the reference with the
target genes masked, and the spatial cells are sampled with their training genes fixed.

Two departures, both because of the task, not of stDiff: the spatial cells are normalised over
the training genes only (the authors' script normalised them with the held-out genes present),
and the data loaders are built here with a CPU random generator (their ``get_data_loader``
creates ``torch.Generator(device='cuda')``, which fails without CUDA).

Returns, for the target genes, ``expm1`` of the sampled value times the cell's maximum: counts
per 10^4 training-gene counts, which ``methods/stdiff.py`` puts on the task's scale.
"""

import numpy as np
import pandas as pd
import scipy.sparse as sp


def _counts(adata, genes):
    x = adata[:, genes].layers["counts"] if "counts" in adata.layers else adata[:, genes].X
    return np.asarray(x.toarray() if sp.issparse(x) else x, dtype=np.float64)


def impute(task):
    import anndata as ad
    import scanpy as sc
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from model.sample import sample_stDiff
    from model.stDiff_model import DiT_stDiff
    from model.stDiff_scheduler import NoiseScheduler
    from model.stDiff_train import normal_train_stDiff
    from process.data import data_augment, scale

    p = task.params
    train = [str(g) for g in task.spatial.var_names]
    targets = [str(g) for g in task.target_genes]
    genes = train + targets
    n_train = len(train)
    device = torch.device("cuda" if task.device in ("cuda", "auto") and torch.cuda.is_available() else "cpu")
    torch.manual_seed(int(task.seed))
    np.random.seed(int(task.seed))

    ref = ad.AnnData(_counts(task.reference, genes), var=pd.DataFrame(index=genes))
    ref = data_augment(ref, True, noise_std=float(p["noise_std"]))
    sc.pp.normalize_total(ref, target_sum=1e4)
    sc.pp.log1p(ref)
    seq = np.asarray(scale(ref).X, dtype=np.float64)

    spa = ad.AnnData(_counts(task.spatial, train), var=pd.DataFrame(index=train))
    sc.pp.normalize_total(spa, target_sum=1e4)
    sc.pp.log1p(spa)
    log_sp = np.asarray(spa.X, dtype=np.float64)
    cell_max = np.abs(log_sp).max(axis=1)
    spa_scaled = np.asarray(scale(spa).X, dtype=np.float64)
    st = np.zeros((task.spatial.n_obs, len(genes)))
    st[:, :n_train] = spa_scaled

    mask = np.zeros(len(genes), dtype="float32")
    mask[:n_train] = 1
    seq_masked = seq * mask * 2 - 1
    seq = seq * 2 - 1
    st_masked = st * mask * 2 - 1

    quick = bool(task.quick)
    epochs = int(p["quick_epochs"] if quick else p["epochs"])
    steps = int(p["quick_diffusion_steps"] if quick else p["diffusion_steps"])
    batch = int(p["batch_size"])
    gen = torch.Generator(device="cpu")
    gen.manual_seed(int(task.seed))
    loader = DataLoader(TensorDataset(torch.from_numpy(seq.astype(np.float32)),
                                      torch.from_numpy(seq_masked.astype(np.float32))),
                        batch_size=batch, shuffle=True, drop_last=False, generator=gen)
    model = DiT_stDiff(input_size=len(genes), hidden_size=int(p["hidden_size"]), depth=int(p["depth"]),
                       num_heads=int(p["head"]), classes=6, mlp_ratio=4.0, dit_type="dit")
    model.to(device)
    model.train()
    normal_train_stDiff(model, dataloader=loader, lr=float(p["lr"]), num_epoch=epochs, diffusion_step=steps,
                        device=device, pred_type="noise", mask=mask, is_tqdm=False)
    scheduler = NoiseScheduler(num_timesteps=steps, beta_schedule="cosine")
    sp_loader = DataLoader(TensorDataset(torch.from_numpy(st_masked.astype(np.float32)),
                                         torch.from_numpy(st_masked.astype(np.float32))),
                           batch_size=batch, shuffle=False, drop_last=False)
    model.eval()
    out = sample_stDiff(model, device=device, dataloader=sp_loader, noise_scheduler=scheduler, mask=mask,
                        gt=st_masked.astype(np.float32), num_step=steps, sample_shape=(st.shape[0], len(genes)),
                        is_condi=True, sample_intermediate=steps, model_pred_type="noise",
                        is_classifier_guidance=False, omega=0.2)
    scaled = (np.asarray(out, dtype=np.float64)[:, n_train:] + 1) / 2  # their output scale: [0, 1] per cell
    per_10k = np.expm1(np.clip(scaled, 0, None) * cell_max[:, None])
    expr = pd.DataFrame(per_10k, index=[str(c) for c in task.spatial.obs_names], columns=targets)
    return {"expression": expr, "info": {"epochs": epochs, "diffusion_steps": steps, "device": str(device)}}
