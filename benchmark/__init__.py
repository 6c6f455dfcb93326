"""st-impute-bench: a benchmark of gene imputation for imaging-based spatial transcriptomics.

The harness lives in this package; methods, datasets, metrics and reports live in the
top-level folders of the same names, installed as ``benchmark.methods``,
``benchmark.datasets``, ``benchmark.metrics`` and ``benchmark.reports``.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .forksafety import prefer_forksafe_numba  # noqa: E402

prefer_forksafe_numba()  # before anything imports numba: jobs run in forked processes

from .errors import BenchmarkError, InputError  # noqa: E402
from .task import ImputationTask, Prediction  # noqa: E402

__all__ = ["BenchmarkError", "InputError", "ImputationTask", "Prediction", "__version__"]
