"""Preprocessing schemes, applied identically to every method's input.

The default, ``spage``, is the one the stImpute paper used for all methods (after SpaGE):
divide each cell's counts by its total, multiply by the median total over the cells of that
data set, and take ``log1p``. Spatial and reference data are normalised separately.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import scipy.sparse as sp

from benchmark.errors import UnknownNameError


def normalize_spage(counts, *, target_sum: float | None = None):
    """SpaGE-style log-normalisation of a cells x genes count matrix.

    Cells whose total is zero stay zero. Sparse input gives sparse output (float32).

    Parameters
    ----------
    counts
        Raw counts, dense or sparse.
    target_sum
        Scale after dividing by the cell total; the median of the non-zero totals by default.
    """
    if sp.issparse(counts):
        x = sp.csr_matrix(counts, dtype=np.float32, copy=True)
        totals = np.asarray(x.sum(axis=1)).ravel()
    else:
        x = np.array(counts, dtype=np.float32, copy=True)
        totals = x.sum(axis=1)
    nonzero = totals > 0
    if target_sum is None:
        target_sum = float(np.median(totals[nonzero])) if nonzero.any() else 1.0
    scale = np.zeros_like(totals, dtype=np.float64)
    scale[nonzero] = target_sum / totals[nonzero]
    if sp.issparse(x):
        x = sp.diags(scale.astype(np.float32)) @ x
        x = sp.csr_matrix(x)
        np.log1p(x.data, out=x.data)
    else:
        x *= scale[:, None].astype(np.float32)
        np.log1p(x, out=x)
    return x


PREPROCESSING: dict[str, Callable] = {"spage": normalize_spage}


def get_preprocessing(name: str) -> Callable:
    if name not in PREPROCESSING:
        raise UnknownNameError("preprocessing", name, list(PREPROCESSING))
    return PREPROCESSING[name]
