"""``mean``: the no-information control."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmark.task import ImputationTask, Prediction

from . import register
from .base import Method, MethodInfo
from ._util import dense


@register
class MeanControl(Method):
    """Predicts each target gene's mean over the reference cells, the same value for every cell.

    It uses no information about the spatial cells, so any method should beat it; a metric on
    which it scores well (gene-level CSS of a non-negative matrix, for one) says little.
    """

    info = MethodInfo(
        name="mean",
        summary="No-information control: each gene's reference mean, identical for every spatial cell.",
        control=True,
        expected_flags=("constant_prediction",),  # the same value in every cell, by design
    )

    @dataclass
    class Params:
        pass

    def fit_predict(self, task: ImputationTask) -> Prediction:
        ref = task.reference[:, task.target_genes]
        means = np.asarray(dense(ref.X).mean(axis=0), dtype=np.float64).ravel()
        values = np.broadcast_to(means, (task.n_cells, len(task.target_genes)))
        return Prediction(pd.DataFrame(values.copy(), index=task.spatial.obs_names, columns=task.target_genes))
