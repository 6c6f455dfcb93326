#!/usr/bin/env python
"""gimVI on osmFISH under the li2022 preset, outside the harness, to compare scvi-tools versions.

Usage (any Python environment with scvi-tools, anndata, scipy, pandas; the suite's own packages
are not imported, so it runs in an old scvi-tools environment too)::

    python scripts/gimvi_scvi_version.py [--data-dir DIR] [--folds 5] [--seed 0] [--epochs 200]
        [--train-seed 1] [--only-folds 0 1] [--out-csv /tmp/gv/gimvi_VERSION.csv] [--check-tasks suite_tasks.json]

What it reproduces: the job ``python -m benchmark run --config li2022 --datasets osmfish
--methods gimvi --seeds 0 --folds 5`` (``methods/gimvi.py`` under ``preprocessing: raw`` and
``scoring_space: counts``), with only the scvi-tools version free:

* data: ``osmfish_spatial.h5ad`` and ``osmfish_reference.h5ad`` of the data directory, raw counts,
  every cell; the shared genes in the spatial file's order;
* folds: the suite's ``kfold`` protocol (genes permuted by ``numpy.random.default_rng(seed)``,
  cut by ``numpy.array_split``); a fold's model genes are its training genes then its targets;
* cell order: the harness's seeded order (pandas SipHash of each cell name keyed by the seed,
  ties broken by name), for the spatial and the reference cells;
* model: cells with a zero total over the genes given are left out (reference: over the model
  genes; spatial: over the training genes) and filled afterwards with the mean prediction;
  ``setup_anndata`` on both, ``GIMVI(seq, spatial, n_latent=10)``, ``epochs`` (200) epochs,
  ``kappa=5``, batch size 128, seed ``scvi.settings.seed = seed``; CPU;
* output: ``get_imputed_values(normalized=True)`` rescaled to the spatial cell's observed
  training-gene total (``p_g / sum_train p * T``, as ``methods/_count_scale.py`` does for the
  ``raw`` scheme) -- column ``pcc``; also ``get_imputed_values(normalized=False)`` as returned,
  the call of Li et al. 2022 -- column ``pcc_unnormalized``;
* score: per-gene Pearson correlation over all spatial cells between the assembled 5-fold
  prediction and the raw spatial counts (0 for a constant prediction, as ``metrics/expression.py``).

scvi-tools API: >= 0.15 or so ``scvi.external.GIMVI`` with ``GIMVI.setup_anndata`` and
``train(max_epochs=...)``; the 0.7-0.8 releases ``scvi.model.GIMVI`` with
``scvi.data.setup_anndata`` and ``train(n_epochs=...)``; 0.9-0.14 ``scvi.external.GIMVI`` with
``scvi.data.setup_anndata``. The script picks by what the installed version has.

Writes the per-gene table (gene, fold, pcc, pcc_unnormalized, li2022 Dataset2 value) to
``--out-csv`` after every fold, and prints per-fold seconds and the mean gene PCC, with the
Spearman correlation of the per-gene PCC against Li et al.'s Dataset2 values
(``leaderboard/published/li2022_dataset15.csv``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = ROOT / "leaderboard" / "published" / "li2022_dataset15.csv"


def default_data_dir() -> Path:
    """The suite's lookup (benchmark/config.py), repeated here so the suite need not import:
    ``$ST_IMPUTE_BENCH_DATA``, else ``../shared/data`` beside the checkout, else the user cache."""
    env = os.environ.get("ST_IMPUTE_BENCH_DATA")
    if env:
        return Path(env).expanduser()
    shared = ROOT.parent / "shared" / "data"
    return shared if shared.is_dir() else Path.home() / ".cache" / "st-impute-bench" / "data"


def gene_folds(genes: list[str], n_folds: int, seed: int) -> list[list[str]]:
    """The suite's kfold protocol: a seeded permutation of the genes cut into near-equal folds."""
    order = np.random.default_rng(seed).permutation(len(genes))
    return [[genes[j] for j in sorted(part.tolist())] for part in np.array_split(order, n_folds)]


def name_hash_order(names, seed: int) -> np.ndarray:
    """The harness's seeded cell order: SipHash of each name keyed by the seed, ties by name."""
    values = np.asarray(pd.Index(names).astype(str), dtype=object)
    key = f"{int(seed) & 0xFFFFFFFF:016x}"
    return np.lexsort((values, pd.util.hash_array(values, hash_key=key, categorize=False)))


def gene_pcc(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Per-column Pearson r; NaN for a constant truth, 0 for a constant prediction."""
    tc = truth - truth.mean(axis=0)
    pc = pred - pred.mean(axis=0)
    nt = np.sqrt((tc * tc).sum(axis=0))
    npr = np.sqrt((pc * pc).sum(axis=0))
    out = np.full(truth.shape[1], np.nan)
    ok = nt > 1e-12 * np.maximum(1.0, np.abs(truth).max(axis=0))
    both = ok & (npr > 1e-12 * np.maximum(1.0, np.abs(pred).max(axis=0)))
    out[both] = (tc * pc).sum(axis=0)[both] / (nt[both] * npr[both])
    out[ok & ~both] = 0.0
    return np.clip(out, -1.0, 1.0)


def make_adata(counts, obs, var):
    import anndata as ad

    return ad.AnnData(X=sp.csr_matrix(counts, dtype=np.float32, copy=True),
                      obs=pd.DataFrame(index=pd.Index([str(c) for c in obs])),
                      var=pd.DataFrame(index=pd.Index(list(var))))


def scvi_api():
    """(version, GIMVI class, setup function, api name) of the installed scvi-tools."""
    import scvi

    version = metadata.version("scvi-tools")
    try:
        from scvi.external import GIMVI
    except ImportError:
        from scvi.model import GIMVI  # 0.7 / 0.8
    if hasattr(GIMVI, "setup_anndata"):
        return version, GIMVI, GIMVI.setup_anndata, "new"
    return version, GIMVI, scvi.data.setup_anndata, "old"


def run_fold(seq_counts, seq_obs, sp_counts, sp_obs, genes, train, seed, epochs, workdir):
    """Train gimVI for one fold; return (frequencies over ``genes``, rates as returned) for the kept
    spatial cells, the kept mask, and the seconds taken."""
    import scvi

    version, GIMVI, setup, api = scvi_api()
    sp_tot = np.asarray(sp_counts.sum(axis=1)).ravel()
    ref_tot = np.asarray(seq_counts.sum(axis=1)).ravel()
    sp_keep, ref_keep = sp_tot > 0, ref_tot > 0
    adata_seq = make_adata(seq_counts[ref_keep], np.asarray(seq_obs)[ref_keep], genes)
    adata_sp = make_adata(sp_counts[sp_keep], np.asarray(sp_obs)[sp_keep], train)
    adata_seq.obs_names_make_unique()
    adata_sp.obs_names_make_unique()
    t0 = time.perf_counter()
    if api == "new":
        scvi.settings.logging_dir = str(workdir)
        scvi.settings.dl_num_workers = 0
    scvi.settings.seed = seed
    setup(adata_seq)
    setup(adata_sp)
    if api == "new":
        model = GIMVI(adata_seq, adata_sp, n_latent=10)
        model.train(max_epochs=epochs, accelerator="cpu", devices=1, kappa=5, batch_size=128,
                    default_root_dir=str(workdir), enable_progress_bar=False)
    else:
        model = GIMVI(adata_seq, adata_sp, n_latent=10, use_cuda=False)
        model.train(epochs, kappa=5)  # batch size 128, train_size 0.9: the Trainer's defaults
    _, freq = model.get_imputed_values(normalized=True)
    _, rate = model.get_imputed_values(normalized=False)
    return (np.asarray(freq, dtype=np.float64), np.asarray(rate, dtype=np.float64), sp_keep,
            time.perf_counter() - t0)


def li_gimvi(path: Path = PUBLISHED) -> pd.Series | None:
    if not path.exists():
        return None
    t = pd.read_csv(path)
    t = t[(t.method == "gimVI") & (t.metric == "pcc") & (t.release == "Dataset2")]
    return pd.Series(t.value.to_numpy(float), index=t.gene.str.lower())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0, help="folds, cell order and (by default) training seed")
    p.add_argument("--train-seed", type=int, default=None,
                   help="scvi.settings.seed only (default: --seed); the folds and cell order stay --seed's")
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--only-folds", type=int, nargs="*", default=None, help="run these folds only")
    p.add_argument("--out-csv", type=Path, default=None)
    p.add_argument("--check-tasks", type=Path, default=None,
                   help="JSON dump of the harness's tasks (genes, cell orders) to check the inputs against")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)

    import anndata as ad
    import torch

    torch.set_num_threads(a.threads)
    version, _, _, api = scvi_api()
    out_csv = a.out_csv or Path(f"/tmp/gv/gimvi_scvi_{version}.csv")
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    data_dir = a.data_dir or default_data_dir()
    spatial = ad.read_h5ad(data_dir / "osmfish_spatial.h5ad")
    reference = ad.read_h5ad(data_dir / "osmfish_reference.h5ad")
    ref_genes = set(reference.var_names)
    shared = [g for g in spatial.var_names if g in ref_genes]
    sp_all = sp.csr_matrix(spatial[:, shared].X, dtype=np.float64)
    truth = sp_all.toarray()
    sp_order = name_hash_order(spatial.obs_names, a.seed)
    ref_order = name_hash_order(reference.obs_names, a.seed)
    ref_all = sp.csr_matrix(reference.X, dtype=np.float32)
    ref_col = {g: j for j, g in enumerate(reference.var_names)}
    sp_col = {g: j for j, g in enumerate(shared)}
    folds = gene_folds(shared, a.folds, a.seed)
    check = json.loads(a.check_tasks.read_text()) if a.check_tasks else None
    print(f"scvi-tools {version} ({api} API), torch {torch.__version__}, python {sys.version.split()[0]}, "
          f"{len(shared)} genes, {spatial.n_obs} spatial x {reference.n_obs} reference cells", flush=True)

    pred = np.full(truth.shape, np.nan)
    pred_raw = np.full(truth.shape, np.nan)
    fold_of = {}
    li = li_gimvi()
    train_seed = a.seed if a.train_seed is None else a.train_seed
    todo = range(a.folds) if a.only_folds is None else a.only_folds
    for k in todo:
        targets = folds[k]
        train = [g for g in shared if g not in set(targets)]
        genes = train + targets
        sp_counts = sp.csr_matrix(sp_all[sp_order][:, [sp_col[g] for g in train]], dtype=np.float32)
        seq_counts = sp.csr_matrix(ref_all[ref_order][:, [ref_col[g] for g in genes]], dtype=np.float32)
        sp_obs = np.asarray(spatial.obs_names)[sp_order]
        seq_obs = np.asarray(reference.obs_names)[ref_order]
        if check is not None:
            c = check["folds"][k]
            same = (c["targets"] == targets and c["genes"] == genes and c["sp_obs"] == list(map(str, sp_obs))
                    and c["ref_obs"] == list(map(str, seq_obs)) and abs(c["sp_sum"] - sp_counts.sum()) < 1e-3
                    and abs(c["ref_sum"] - seq_counts.sum()) < 1e-3
                    and np.allclose(c["sp_first_row"], sp_counts[0].toarray().ravel())
                    and np.allclose(c["ref_first_row"], seq_counts[0].toarray().ravel()))
            print(f"fold {k}: inputs identical to the harness's task: {same}", flush=True)
            if not same:
                return 2
        with tempfile.TemporaryDirectory(prefix="gimvi_ver_") as wd:
            freq, rate, keep, secs = run_fold(seq_counts, seq_obs, sp_counts, sp_obs, genes, train, train_seed,
                                              a.epochs, wd)
        tot = np.asarray(sp_counts.sum(axis=1)).ravel()[keep].astype(np.float64)
        ntr = len(train)
        mass = np.where(freq[:, :ntr].sum(axis=1) > 0, freq[:, :ntr].sum(axis=1), np.finfo(float).tiny)
        vals = freq[:, ntr:] / mass[:, None] * tot[:, None]      # the wrapper's c / C x T
        raw = rate[:, ntr:]                                       # normalized=False, as returned
        full = np.empty((len(keep), len(targets)))
        full_raw = np.empty_like(full)
        full[keep], full_raw[keep] = vals, raw
        if (~keep).any():
            full[~keep], full_raw[~keep] = vals.mean(axis=0), raw.mean(axis=0)
        back = np.empty_like(sp_order)
        back[sp_order] = np.arange(len(sp_order))                 # method order -> file order
        cols = [sp_col[g] for g in targets]
        pred[:, cols] = np.nan_to_num(full[back], nan=0.0, posinf=0.0, neginf=0.0)
        pred_raw[:, cols] = np.nan_to_num(full_raw[back], nan=0.0, posinf=0.0, neginf=0.0)
        fold_of.update({g: k for g in targets})
        r_fold = gene_pcc(truth[:, cols], pred[:, cols])
        print(f"fold {k}: {secs:.0f} s, {len(targets)} targets, {int((~keep).sum())} spatial cells without "
              f"training counts, max |rescaled - unnormalized| {np.abs(full - full_raw).max():.2e}, "
              f"fold mean PCC {np.nanmean(r_fold):.4f}", flush=True)

        done = [g for g in shared if g in fold_of]
        dcols = [sp_col[g] for g in done]
        table = pd.DataFrame({"gene": done, "fold": [fold_of[g] for g in done],
                              "pcc": gene_pcc(truth[:, dcols], pred[:, dcols]),
                              "pcc_unnormalized": gene_pcc(truth[:, dcols], pred_raw[:, dcols])})
        table["li2022_dataset2"] = [li.get(g.lower(), np.nan) if li is not None else np.nan for g in done]
        table["scvi_tools"] = version
        table.to_csv(out_csv, index=False)

    from scipy.stats import spearmanr

    msg = (f"scvi-tools {version}: {len(table)} genes, mean gene PCC {table.pcc.mean():.4f} "
           f"(normalized=False as returned: {table.pcc_unnormalized.mean():.4f})")
    both = table.dropna(subset=["li2022_dataset2"])
    if len(both) > 2:
        rho = spearmanr(both.pcc, both.li2022_dataset2).correlation
        msg += (f"; Li et al. Dataset2 over the same genes {both.li2022_dataset2.mean():.4f}, "
                f"Spearman rho {rho:.3f}")
    print(msg)
    print(f"per-gene table: {out_csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
