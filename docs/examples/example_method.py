"""``example-ridge``: predict hidden genes from measured ones by ridge regression on the reference.

A complete, minimal method for CONTRIBUTING.md. To add your own, copy this file to
``methods/<your_method>.py``, rename the class and ``info.name``, and replace ``fit_predict``:
nothing else needs editing. ``python -m benchmark validate methods/<your_method>.py`` checks it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# Absolute imports: the same file works in methods/, on its own (validate) and in a plug-in package.
from benchmark.methods import register
from benchmark.methods.base import Method, MethodInfo
from benchmark.task import ImputationTask, Prediction


def _dense(x) -> np.ndarray:
    """``X`` may be a scipy sparse matrix (many .h5ad files are); the contract tests pass one."""
    return x.toarray() if hasattr(x, "toarray") else np.asarray(x)


def _zscore(x: np.ndarray) -> np.ndarray:
    """Standardise each gene within its own data set, so platform differences in scale cancel."""
    sd = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


@register
class ExampleRidge(Method):
    """Ridge regression from the training genes to each target gene, fitted on the reference cells.

    The reference measures every gene, so a linear map from the training genes to the target
    genes learned there can be applied to the spatial cells, which measure the training genes only.
    """

    info = MethodInfo(
        name="example-ridge",
        summary="Example: ridge regression from the measured to the hidden genes, fitted on the reference.",
        requires=("sklearn",),  # importable modules; if one is missing the method is listed as unavailable
        install_hint="pip install scikit-learn",
    )

    @dataclass
    class Params:  # every parameter has a default: the method's published setting
        alpha: float = 1.0

    def fit_predict(self, task: ImputationTask) -> Prediction:
        from sklearn.linear_model import Ridge  # optional dependencies are imported here, never at the top

        train = task.training_genes
        x_ref = _zscore(_dense(task.reference[:, train].X).astype(np.float64))
        y_ref = _dense(task.reference[:, task.target_genes].X).astype(np.float64)
        x_sp = _zscore(_dense(task.spatial.X).astype(np.float64))
        # Ridge has a closed-form solution: no random state, so the same seed gives the same output.
        model = Ridge(alpha=self.params.alpha).fit(x_ref, y_ref)
        values = model.predict(x_sp)  # on the reference's (preprocessed) scale, as the metrics expect
        return Prediction(pd.DataFrame(values, index=task.spatial.obs_names, columns=task.target_genes))
