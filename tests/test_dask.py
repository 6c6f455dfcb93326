"""The Dask executor gives the serial executor's results, and resumes from the same cache."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from _helpers import require_module

distributed = require_module("distributed", "the Dask executor needs dask.distributed")

from benchmark.harness import RunConfig, run_benchmark  # noqa: E402

METHODS = ["mean", "knn", "stimpute"]


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded workers in this process (processes=False keeps the test fast)."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as c:
        yield c


def _cfg(out, **kw) -> RunConfig:
    return RunConfig(datasets=["synthetic-small"], methods=METHODS, out=out, quick=True, cluster=False,
                     n_folds=2, **kw)


def _predictions(result) -> dict:
    jobs = result.jobs
    assert (jobs["status"] == "ok").all(), jobs[["method", "split", "error"]]
    return {(r.method, r.split): r.cache_key for r in jobs.itertuples()}


def test_dask_matches_serial_and_resumes(tmp_path, cluster):
    serial = run_benchmark(_cfg(tmp_path / "serial"), progress=False)
    dask = run_benchmark(_cfg(tmp_path / "dask", executor="dask", scheduler=cluster.scheduler_address),
                         progress=False)
    # the same jobs (same cache keys: same data, code, parameters, split and seed) ...
    assert _predictions(serial) == _predictions(dask)
    # ... computing the same predictions, bit for bit
    for key in _predictions(serial).values():
        method = next(m for m in METHODS if (tmp_path / "serial" / "cache" / "synthetic-small" / m / key).exists())
        a = np.load(tmp_path / "serial" / "cache" / "synthetic-small" / method / key / "prediction.npy")
        b = np.load(tmp_path / "dask" / "cache" / "synthetic-small" / method / key / "prediction.npy")
        np.testing.assert_array_equal(a, b)
    cols = ["dataset", "method", "fold", "seed", "metric", "scope", "item", "stat"]
    drop = {"runtime_s", "peak_memory_mb"}
    s = serial.results[~serial.results["metric"].isin(drop)].set_index(cols)["value"].sort_index()
    d = dask.results[~dask.results["metric"].isin(drop)].set_index(cols)["value"].sort_index()
    pd.testing.assert_series_equal(s, d)
    # the same command again finds every job in the cache
    again = run_benchmark(_cfg(tmp_path / "dask", executor="dask", scheduler=cluster.scheduler_address),
                          progress=False)
    assert again.jobs["from_cache"].all()


def test_local_cluster_is_started_and_closed(tmp_path, monkeypatch):
    from benchmark import executors

    started = []
    real = executors.dask_client

    def spy(scheduler, n_workers, processes=True):
        client, close = real(scheduler, n_workers, processes=False)
        started.append(len(client.scheduler_info()["workers"]))
        return client, close

    monkeypatch.setattr(executors, "dask_client", spy)
    cfg = RunConfig(datasets=["synthetic-small"], methods=["mean"], out=tmp_path, cluster=False, n_folds=2,
                    executor="dask", dask_workers=2)
    result = run_benchmark(cfg, progress=False)
    assert started == [2] and (result.jobs["status"] == "ok").all()


def test_unreachable_scheduler_is_a_clear_error(tmp_path):
    from benchmark.errors import InputError
    from benchmark.executors import dask_client

    with pytest.raises(InputError, match="cannot reach the Dask scheduler"):
        dask_client("tcp://127.0.0.1:9", None, timeout="2s")
