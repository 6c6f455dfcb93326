"""Small helpers shared by method wrappers."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def dense(x) -> np.ndarray:
    """A dense float ndarray view or copy of a (possibly sparse) matrix."""
    if sp.issparse(x):
        return x.toarray()
    return np.asarray(x)


def standardize(x: np.ndarray) -> np.ndarray:
    """Z-score each column; constant columns become zero instead of NaN."""
    x = np.asarray(x, dtype=np.float64)
    sd = x.std(axis=0)
    sd[sd == 0] = 1.0
    return (x - x.mean(axis=0)) / sd
