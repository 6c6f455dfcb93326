"""Small helpers shared by method wrappers."""

from __future__ import annotations

import contextlib
import random

import numpy as np
import scipy.sparse as sp


@contextlib.contextmanager
def keep_global_rng(seed: int | None = None, seed_torch: bool = False):
    """Run a block that uses (or reseeds) the global random generators, then restore them.

    Packages that draw from NumPy's or Python's global generator, or reseed it, must not change
    what later code in the same process sees. With ``seed``, NumPy's generator (and torch's, if
    ``seed_torch``) is seeded for the block.
    """
    np_state, py_state = np.random.get_state(), random.getstate()
    if seed is not None:
        np.random.seed(seed % 2**32)
        if seed_torch:
            import torch

            torch.manual_seed(seed)
    try:
        yield
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)


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
