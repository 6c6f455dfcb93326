"""The order in which a method sees cells: seeded, and carrying no information.

Data files are often sorted by cell type (the osmFISH file is 31 contiguous blocks of types).
A method that batches cells (mini-batch training, BatchNorm in training mode at inference,
chunked prediction) then sees batches of one or a few types, and its output depends on how the
file was sorted, not only on the cells. The harness therefore hands every method its spatial and
reference cells in an order drawn from the job's seed, and restores the file order of the
prediction afterwards.

The order is a function of the seed and the cell *names* only: the same cells in any file order
give the same order, so permuting the input file permutes the output exactly, for every method,
deterministic or not (checked for every registered method by ``contract.check_order_invariance``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Bumped when the ordering changes: part of every job's cache key, since a method's output
#: depends on the order of its input.
ORDER_VERSION = "name-hash-v1"


def seeded_order(names, seed: int) -> np.ndarray:
    """Positions of ``names`` in a pseudo-random order that depends on ``seed`` and the names only.

    Parameters
    ----------
    names
        Cell names (unique, as the validation of a pair requires).
    seed
        The job's seed; another seed gives an unrelated order.

    Returns
    -------
    numpy.ndarray
        An integer permutation ``p`` of ``range(len(names))``: the cell at position ``i`` of the
        method's input is ``names[p[i]]``.
    """
    values = np.asarray(pd.Index(names).astype(str), dtype=object)
    # pandas' vectorised SipHash of each name, keyed by the seed (16 characters): fast at a million cells
    key = f"{int(seed) & 0xFFFFFFFF:016x}"
    h = pd.util.hash_array(values, hash_key=key, categorize=False)
    return np.lexsort((values, h))  # the name breaks the (unlikely) tie of two equal hashes


def restore_order(frame: pd.DataFrame, index: pd.Index) -> pd.DataFrame:
    """``frame`` (rows indexed by cell name, in any order) in the order of ``index``."""
    if frame.index.equals(index):
        return frame
    return frame.loc[index]


__all__ = ["ORDER_VERSION", "seeded_order", "restore_order"]
