"""Forked jobs must not deadlock on thread pools that the parent process started.

Both failures below were seen in CI: a job process asleep forever in libgomp after earlier
tests had run scikit-learn in the pytest process, and forked runs ended by SIGTERM from numba's
GNU OpenMP layer. benchmark/forksafety.py explains both.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors

from benchmark.methods.base import Method, MethodInfo
from benchmark.task import Prediction


@numba.njit(parallel=True, cache=False)
def _row_sums(x):
    out = np.zeros(x.shape[0])
    for i in numba.prange(x.shape[0]):
        out[i] = x[i].sum()
    return out


def _threaded_work(x: np.ndarray) -> np.ndarray:
    """Neighbours by scikit-learn (OpenMP) and a numba parallel kernel: the two pools that broke."""
    _, idx = NearestNeighbors(n_neighbors=3, algorithm="brute").fit(x).kneighbors(x)
    return _row_sums(x[idx[:, 1]])


class ThreadedMean(Method):
    """The mean control, after parallel work of the two kinds that did not survive a fork."""

    info = MethodInfo(name="threaded-mean", summary="test", control=True)

    @dataclass
    class Params:
        pass

    def fit_predict(self, task):
        x = np.asarray(task.spatial.X.todense() if hasattr(task.spatial.X, "todense") else task.spatial.X, float)
        shift = _threaded_work(np.repeat(x, 20, axis=0))  # big enough for sklearn to go parallel
        ref = np.asarray(task.reference[:, task.target_genes].X.mean(axis=0)).ravel()
        pred = np.tile(ref, (task.n_cells, 1)) + 0.0 * shift[: task.n_cells, None]
        return Prediction(pd.DataFrame(pred, index=task.spatial.obs_names, columns=task.target_genes))


_SCENARIO = """
import sys
sys.path.insert(0, {tests!r})
import numpy as np
from threadpoolctl import threadpool_limits
from benchmark.datasets.synthetic import make_synthetic_pair
from benchmark.harness import RunConfig, run_benchmark
from _helpers import registered
from test_forksafety import ThreadedMean, _threaded_work
import numba

pair = make_synthetic_pair(n_spatial=300, n_reference=400, n_shared=15, n_reference_only=20, n_types=4,
                           n_modules=4, seed=1, name="tiny")
with threadpool_limits(limits=2, user_api="openmp"), registered(ThreadedMean):
    _threaded_work(np.random.default_rng(0).random((6000, 15)))  # this process now holds an OpenMP pool
    assert numba.threading_layer() != "omp", "benchmark should have asked numba for a fork-safe layer"
    res = run_benchmark(RunConfig(datasets=[], methods=["threaded-mean"], out={out!r}, n_folds=2, cluster=False,
                                  time_budget=60), [pair], progress=False)
print(res.jobs["status"].tolist(), [f.get("error", "")[:300] for f in res.failures])
assert res.failures == [] and (res.jobs["status"] == "ok").all()
"""


def test_forked_jobs_survive_the_parents_openmp_and_numba_pools(tmp_path):
    """In a fresh interpreter: pytest's process has torch loaded, whose libgomp then serves
    scikit-learn too and (measured) hides the hang; a user's script need not import torch."""
    script = _SCENARIO.format(tests=str(Path(__file__).parent), out=str(tmp_path / "run"))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=400)
    # before the fix: both jobs were killed at the time budget (a futex wait in libgomp)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
