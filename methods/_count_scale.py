"""Put expected counts predicted by a count-based method onto the task's preprocessed scale."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from benchmark.task import COUNTS_LAYER, ImputationTask


def expected_counts_to_task_scale(expected_train_total: np.ndarray, expected_targets: np.ndarray,
                                  task: ImputationTask, rows: np.ndarray | None = None) -> np.ndarray:
    """Normalise predicted counts of the target genes the way the task normalised its spatial ``X``.

    A count-based method predicts, for spatial cell i, expected counts ``c_ig`` on its own library
    scale. They are first rescaled so that their total over the training genes, ``C_i``, equals
    the cell's observed training-gene total ``T_i`` (``c_ig / C_i * T_i``: the expected count in
    the cell's own units), then the task's per-cell normalisation is applied:

    * ``spage``: ``log1p(c / C * T * m / T) = log1p(c / C * m)``, ``m`` = median non-zero ``T``;
    * ``tangram``: the same without the log;
    * ``raw``: ``c / C * T``, the expected count in the cell's own units (the task's ``X`` is counts);
    * ``scran``: ``log1p(c / C * T / s)`` with the pooled size factors ``s`` of the spatial
      training-gene counts (:func:`benchmark.datasets.preprocessing.scran_size_factors`);
      a cell with ``s = 0`` (no counts) uses ``T / s = median of T / s`` over the other cells.

    Parameters
    ----------
    expected_train_total
        ``C_i``, one value per spatial cell (positive).
    expected_targets
        ``c_ig``, spatial cells x target genes.
    task
        The task (its ``preprocessing`` and spatial counts).
    rows
        Positions of the spatial cells the two arrays hold, if not all cells in order.

    Raises
    ------
    ValueError
        For a preprocessing scheme this mapping does not know.
    """
    c_total = np.asarray(expected_train_total, dtype=np.float64)
    c_total = np.where(c_total > 0, c_total, np.finfo(float).tiny)
    frac = np.asarray(expected_targets, dtype=np.float64) / c_total[:, None]
    counts = sp.csr_matrix(task.spatial.layers[COUNTS_LAYER], dtype=np.float64)
    totals = np.asarray(counts.sum(axis=1)).ravel()
    nonzero = totals > 0
    scheme = task.preprocessing
    if scheme in ("spage", "tangram"):
        m = float(np.median(totals[nonzero])) if nonzero.any() else 1.0  # over all cells, as the task
        out = frac * m
        return np.log1p(out) if scheme == "spage" else out
    if scheme == "raw":
        per_cell = totals if rows is None else totals[np.asarray(rows)]
        return frac * per_cell[:, None]
    if scheme == "scran":
        from benchmark.datasets.preprocessing import scran_size_factors

        sf = np.asarray(scran_size_factors(counts), dtype=np.float64)
        ok = sf > 0
        per_cell = np.empty_like(totals)
        per_cell[ok] = totals[ok] / sf[ok]
        per_cell[~ok] = float(np.median(per_cell[ok])) if ok.any() else 1.0
        if rows is not None:
            per_cell = per_cell[np.asarray(rows)]
        return np.log1p(frac * per_cell[:, None])
    raise ValueError(f"no mapping of predicted counts onto the {scheme!r} preprocessing scale; "
                     "known: spage, tangram, scran, raw")
