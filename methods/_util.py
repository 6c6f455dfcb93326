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
    return standardize_inplace(np.array(x, dtype=np.float64))


def standardize_inplace(x: np.ndarray) -> np.ndarray:
    """:func:`standardize` of a float64 array (or a row block of one) in place; the same
    arithmetic, without the copies (2.4 GB each for a million cells x 301 genes)."""
    sd = x.std(axis=0)
    sd[sd == 0] = 1.0
    x -= x.mean(axis=0)
    x /= sd
    return x


def neighbour_average(values: np.ndarray, idx: np.ndarray, weights: np.ndarray | None = None,
                      batch_cells: int = 50_000) -> np.ndarray:
    """Average rows of ``values`` over each cell's neighbours, a batch of cells at a time.

    Parameters
    ----------
    values
        Reference cells x genes.
    idx
        Query cells x k neighbour indices into the rows of ``values``.
    weights
        Query cells x k weights (each row summing to one); ``None`` for the plain mean.
    batch_cells
        Query cells per batch. ``values[idx]`` is cells x k x genes: for a million cells, 20
        neighbours and 377 genes that is 60 GB at once; in batches it is bounded. The result
        does not depend on the batch size (each cell's sum is computed alone either way).

    Returns
    -------
    Query cells x genes, float64.
    """
    values = np.asarray(values, dtype=np.float64)
    out = np.empty((idx.shape[0], values.shape[1]), dtype=np.float64)
    step = max(1, int(batch_cells))
    for start in range(0, idx.shape[0], step):
        rows = slice(start, start + step)
        nbr = values[idx[rows]]
        out[rows] = nbr.mean(axis=1) if weights is None else np.einsum("ck,ckg->cg", weights[rows], nbr)
    return out


def varying_shared_genes(task) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """The task's training genes that vary in both data sets (SpaGE z-scores them: a constant
    gene would give NaN).

    Returns
    -------
    spatial, reference
        Float64 copies, cells x used genes, of the spatial and reference expression.
    used, dropped
        The training genes kept and left out, in the task's order.
    """
    genes = list(task.training_genes)
    sp_x = dense(task.spatial.X).astype(np.float64, copy=True)
    ref_shared = dense(task.reference[:, genes].X).astype(np.float64, copy=True)
    keep = (sp_x.std(axis=0) > 0) & (ref_shared.std(axis=0) > 0)
    used = [g for g, k in zip(genes, keep) if k]
    dropped = [g for g, k in zip(genes, keep) if not k]
    return sp_x[:, keep], ref_shared[:, keep], used, dropped
