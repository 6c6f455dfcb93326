"""Highly variable gene selection on the reference, for gene panels too large to benchmark whole.

The stImpute paper kept the top 2,000 highly variable genes of its largest panels. Flavour:
scanpy's ``highly_variable_genes(flavor="seurat")`` (Satija et al. 2015), reimplemented here
so the core install needs no scanpy:

1. The reference counts are normalised per cell to 10,000 over **all** reference genes and
   log1p-transformed (the usual input of that flavour).
2. For each candidate gene (the genes shared with the spatial data), on ``expm1`` of that
   matrix: mean, and dispersion = variance / mean; both are log-transformed
   (``log(dispersion)``, ``log1p(mean)``).
3. Genes are put in 20 equal-width bins of log mean; each gene's log dispersion is z-scored
   within its bin (a bin with a single gene gives it 1, as scanpy does).
4. The ``n`` genes with the highest normalised dispersion are kept (ties: earlier gene first),
   returned in the spatial data's gene order.

Only the reference is used, so the choice of genes carries no information about spatial values.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from benchmark.errors import InputError


def select_hvg(reference: ad.AnnData, genes: list[str], n: int, n_bins: int = 20, values: str = "counts") -> list[str]:
    """The ``n`` most variable of ``genes`` on ``reference``, in the order of ``genes``.

    If ``n`` is at least ``len(genes)`` all genes are kept. ``values`` says what the reference
    ``X`` holds (datasets/base.py ``VALUE_KINDS``): counts are normalised and logged first (step 1);
    log-normalised values skip step 1; intensities and ranks are used as given (``expm1`` of the
    step-1 matrix is replaced by the values themselves).
    """
    if n < 2:
        raise InputError(f"--hvg must be at least 2 (got {n})")
    genes = list(genes)
    if n >= len(genes):
        return genes
    x = reference.X
    totals = np.asarray(x.sum(axis=1)).ravel().astype(np.float64)
    scale = np.zeros_like(totals)
    scale[totals > 0] = 1e4 / totals[totals > 0]
    cols = reference.var_names.get_indexer(genes)
    sub = x[:, cols]
    sub = sub.toarray() if sp.issparse(sub) else np.asarray(sub, dtype=np.float64)
    if values in ("counts", "normalized"):
        y = np.expm1(np.log1p(sub * scale[:, None]))
    elif values == "lognorm":  # already normalised and logged: do not do it twice
        y = np.expm1(np.asarray(sub, dtype=np.float64))
    else:  # intensities, ranks: their own scale
        y = np.asarray(sub, dtype=np.float64)
    mean = y.mean(axis=0)
    var = y.var(axis=0, ddof=1) if y.shape[0] > 1 else np.zeros_like(mean)
    mean_safe = np.where(mean == 0, 1e-12, mean)
    with np.errstate(divide="ignore", invalid="ignore"):
        disp = np.log(np.where(var / mean_safe == 0, np.nan, var / mean_safe))
    logmean = np.log1p(mean)
    df = pd.DataFrame({"mean": logmean, "disp": disp}, index=genes)
    df["bin"] = pd.cut(df["mean"], bins=n_bins)
    grouped = df.groupby("bin", observed=True)["disp"]
    mu, sd = grouped.transform("mean"), grouped.transform("std")
    single = sd.isna()
    sd = sd.where(~single, mu)  # scanpy: a lone gene's z-score is disp / disp = 1
    mu = mu.where(~single, 0.0)
    norm = ((df["disp"] - mu) / sd).fillna(-np.inf).to_numpy()  # zero-variance genes last
    top = np.argsort(-norm, kind="stable")[:n]
    keep = set(np.asarray(genes)[top])
    return [g for g in genes if g in keep]
