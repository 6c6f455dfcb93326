"""``truth``: the perfect-information control (tests and metric calibration only)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from benchmark.errors import BenchmarkError
from benchmark.task import ImputationTask, Prediction

from . import register
from .base import Method, MethodInfo


@register
class TruthControl(Method):
    """Returns the measured values of the held-out genes.

    It is the only method the harness gives the truth to (flagged ``oracle``), so that each
    metric can be shown to reach its best value. It is never part of a default run.
    """

    info = MethodInfo(
        name="truth",
        summary="Perfect-information control: returns the measured held-out values (tests only).",
        control=True,
        oracle=True,
    )

    @dataclass
    class Params:
        pass

    def fit_predict(self, task: ImputationTask) -> Prediction:
        raise BenchmarkError("the truth control needs the held-out values: call fit_predict_oracle")

    def fit_predict_oracle(self, task: ImputationTask, truth: pd.DataFrame) -> Prediction:
        return Prediction(truth.loc[:, task.target_genes].copy())
