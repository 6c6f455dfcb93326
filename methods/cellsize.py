"""``cellsize``: the cell-size control."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmark.datasets.preprocessing import get_counts_inverse, no_counts_inverse_reason
from benchmark.errors import BenchmarkError
from benchmark.task import COUNTS_LAYER, ImputationTask, Prediction

from . import register
from .base import Method, MethodInfo


@register
class CellSizeControl(Method):
    """Predicts each target gene as the reference's share of that gene scaled by the cell's size.

    What is computed, for spatial cell ``i`` and target gene ``g``:

    1. The reference mean is taken on the **raw count** scale, relative to the training genes:
       ``q_g = mean_j c_jg / mean_j T_j``, where ``c_jg`` are the raw counts of reference cell
       ``j`` (``reference.layers["counts"]``) and ``T_j = sum over the task's training genes of
       c_jh``. ``q_g`` is the reference's expected count of ``g`` per count of the training genes
       (a ratio of means over all reference cells, so no reference cell with a small total
       dominates).
    2. The predicted count is ``q_g * t_i``, with ``t_i`` the spatial cell's raw count total over
       the training genes (``spatial.layers["counts"]``).
    3. It is returned on the task's preprocessed scale by the forward form of the task's scheme
       with the same per-cell divisors ``d_i`` its ``X`` was normalised with (computed from the
       training-gene counts, :class:`benchmark.datasets.preprocessing.CountsInverse`):
       ``f(q_g t_i / d_i)``. For ``spage`` (``d_i = t_i / m``, ``m`` the median non-zero total)
       that is ``log1p(q_g m)``, the same for every cell; for ``tangram`` ``q_g m``; for
       ``scran`` (``d_i`` = pooled size factor) ``log1p(q_g t_i / s_i)``. Cells with no training
       counts get 0, as the scheme gives them.

    Taken back to counts with the inverse of the scheme (``--scoring-space counts``), the
    prediction is exactly ``q_g t_i``: proportional, for every gene, to the cell's training-gene
    count total. Its gene-level PCC in counts space is therefore what cell size alone earns.
    In the normalised space it carries no information under ``spage`` and ``tangram`` (constant
    per gene, gene PCC 0, like ``mean``), because those schemes divide the cell's size out.
    Note that any prediction constant per gene on the ``spage`` scale (``mean``'s, for one)
    becomes proportional to ``t_i`` in counts space, so there ``mean`` has the same gene PCC.
    """

    info = MethodInfo(
        name="cellsize",
        needs_counts=True,  # models molecule counts (layers["counts"]); not applicable to other values
        summary="Control: each gene's reference share of the training-gene counts times the cell's training-gene total.",
        control=True,
        # constant per gene under spage and tangram, by design: those schemes divide the cell size out
        expected_flags=("constant_prediction",),
    )

    @dataclass
    class Params:
        pass

    def fit_predict(self, task: ImputationTask) -> Prediction:
        inverse = get_counts_inverse(task.preprocessing)
        if inverse is None:
            raise BenchmarkError(f"cellsize needs a preprocessing scheme with an inverse to counts; "
                                 f"{task.preprocessing!r} has none: {no_counts_inverse_reason(task.preprocessing)}")
        ref = task.reference
        ref_counts = ref.layers[COUNTS_LAYER]
        train_idx = ref.var_names.get_indexer(task.training_genes)
        target_idx = ref.var_names.get_indexer(task.target_genes)
        if (train_idx < 0).any() or (target_idx < 0).any():
            raise BenchmarkError("cellsize needs every training and target gene in the reference")
        # sums over reference cells (the ratio of sums is the ratio of means), in float64: the counts
        # layer is float32, whose running sums over thousands of cells lose digits
        ref_train_total = float(np.asarray(ref_counts[:, train_idx].sum(dtype=np.float64)))
        if not ref_train_total > 0:
            raise BenchmarkError("the reference has no counts in the training genes: cellsize has no scale")
        share = np.asarray(ref_counts[:, target_idx].sum(axis=0, dtype=np.float64)).ravel() / ref_train_total
        spatial_counts = task.spatial.layers[COUNTS_LAYER]
        totals = np.asarray(spatial_counts.sum(axis=1, dtype=np.float64)).ravel()
        divisors = inverse.divisors(spatial_counts)
        live = divisors > 0
        ratio = np.zeros_like(totals)  # t_i / d_i: the forward scale of the predicted counts q_g t_i
        ratio[live] = totals[live] / divisors[live]
        if live.any():
            # Under spage and tangram t_i / d_i is the median total m for every cell, up to rounding;
            # snap those to one value so the prediction is exactly constant per gene (a z-score of
            # rounding noise would otherwise give the cluster metrics random structure). Under scran
            # the ratios differ by far more than this tolerance and stay as they are.
            mid = float(np.median(ratio[live]))
            ratio[live & np.isclose(ratio, mid, rtol=1e-9, atol=0.0)] = mid
        values = np.outer(ratio, share)
        if inverse.log:
            values = np.log1p(values)
        return Prediction(
            pd.DataFrame(values, index=task.spatial.obs_names, columns=task.target_genes),
            info={"reference_train_total": ref_train_total},
        )
