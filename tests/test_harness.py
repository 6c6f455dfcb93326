"""End-to-end runs: results schema, provenance, caching and resume, failure isolation, determinism."""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from benchmark.harness import RunConfig, run_benchmark
from benchmark.methods.base import Method, MethodInfo
from benchmark.results import COLUMNS, read_results
from benchmark.task import ImputationTask, Prediction

from _helpers import registered


def _cfg(tmp_path, **kw):
    kw.setdefault("methods", ["mean", "knn"])
    kw.setdefault("n_folds", 3)
    return RunConfig(out=tmp_path / "run", **kw)


def test_end_to_end_results_schema_and_provenance(tiny_pair, tmp_path):
    res = run_benchmark(_cfg(tmp_path), [tiny_pair], progress=False)
    out = res.out
    for f in ["results.parquet", "results.csv", "summary.csv", "jobs.csv", "run.json"]:
        assert (out / f).is_file(), f
    df = read_results(out)
    assert list(df.columns) == COLUMNS
    assert set(df["fold"]) == {"0", "1", "2", "all"}
    # every scope of the metric registry that applies here (tiny has coordinates, labels and reference labels)
    assert set(df["scope"]) == {"cell", "gene", "cluster", "spatial", "uncertainty", "celltype", "run"}
    allrows = df[(df.fold == "all") & (df.method == "knn")]
    # per-item values of every cell and every shared gene are kept for the assembled matrix
    cells = allrows[(allrows.scope == "cell") & (allrows.metric == "css") & (allrows.stat == "value")]
    genes = allrows[(allrows.scope == "gene") & (allrows.metric == "css") & (allrows.stat == "value")]
    assert len(cells) == tiny_pair.spatial.n_obs and len(genes) == tiny_pair.spatial.n_vars
    run = json.loads((out / "run.json").read_text())
    for key in ["command", "config", "git_commit", "packages", "started", "finished", "failures", "datasets"]:
        assert key in run
    assert run["packages"]["numpy"] == np.__version__
    # knn uses the spatial data, mean does not: knn must win where cell-to-cell variation counts
    # (cell-level metrics across genes are dominated by each gene's level, which mean gets right)
    s = res.summary.loc["tiny"]
    assert s.loc["knn", "gene_pcc"] > 0.2 and s.loc["mean", "gene_pcc"] == 0.0
    assert s.loc["knn", "cluster_ari"] > s.loc["mean", "cluster_ari"]


def test_truth_control_reaches_best_values_through_the_harness(tiny_pair, tmp_path):
    res = run_benchmark(_cfg(tmp_path, methods=["truth"], cluster=False), [tiny_pair], progress=False)
    s = res.summary.loc[("tiny", "truth")]
    for col in ["cell_css", "gene_css", "cell_pcc", "gene_pcc"]:
        assert s[col] == pytest.approx(1.0)
    for col in ["cell_mse", "gene_mse"]:
        assert s[col] == pytest.approx(0.0)


def _without_timings(df: pd.DataFrame) -> pd.DataFrame:
    return df[df.scope != "run"].reset_index(drop=True)


def test_same_seed_same_results(tiny_pair, tmp_path):
    a = run_benchmark(_cfg(tmp_path / "a"), [tiny_pair], progress=False)
    b = run_benchmark(_cfg(tmp_path / "b"), [tiny_pair], progress=False)
    # timings are measured and differ; every other number must be identical, byte for byte
    assert _without_timings(a.results).to_csv() == _without_timings(b.results).to_csv()
    c = run_benchmark(_cfg(tmp_path / "c", seeds=[1]), [tiny_pair], progress=False)
    assert not np.allclose(
        _without_timings(a.results).query("fold == '0'")["value"].to_numpy()[:20],
        _without_timings(c.results).query("fold == '0'")["value"].to_numpy()[:20],
    )


def test_rerun_uses_cache_and_changed_params_recompute_only_what_changed(tiny_pair, tmp_path):
    first = run_benchmark(_cfg(tmp_path), [tiny_pair], progress=False)
    assert not first.jobs["from_cache"].any()
    again = run_benchmark(_cfg(tmp_path), [tiny_pair], progress=False)
    assert again.jobs["from_cache"].all()
    assert _without_timings(again.results).equals(_without_timings(first.results))
    changed = run_benchmark(_cfg(tmp_path, method_params={"knn": {"k": 5}}), [tiny_pair], progress=False)
    cached = changed.jobs.groupby("method")["from_cache"].all()
    assert cached["mean"] and not changed.jobs.query("method == 'knn'")["from_cache"].any()


class Interrupting(Method):
    """Behaves like the mean control, but the run is 'killed' (Ctrl-C) on its third job."""

    info = MethodInfo(name="interrupting", summary="test", control=True)
    calls = 0
    interrupt_at = 3

    @dataclass
    class Params:
        pass

    def fit_predict(self, task: ImputationTask) -> Prediction:
        type(self).calls += 1
        if type(self).calls == type(self).interrupt_at:
            raise KeyboardInterrupt
        ref = task.reference[:, task.target_genes].X
        return Prediction(pd.DataFrame(np.tile(np.asarray(ref.mean(axis=0)).ravel(), (task.n_cells, 1)),
                                       index=task.spatial.obs_names, columns=task.target_genes))


def test_interrupted_run_resumes_without_redoing_finished_jobs(tiny_pair, tmp_path):
    Interrupting.calls = 0
    cfg = _cfg(tmp_path, methods=["interrupting"], n_folds=5, isolate=False)
    with registered(Interrupting):
        with pytest.raises(KeyboardInterrupt):
            run_benchmark(cfg, [tiny_pair], progress=False)
        assert not (cfg.out / "results.parquet").exists()
        res = run_benchmark(cfg, [tiny_pair], progress=False)
    assert res.jobs["from_cache"].tolist() == [True, True, False, False, False]
    assert Interrupting.calls == 2 + 1 + 3  # two finished, one interrupted, three after resuming
    assert res.failures == []


def test_killed_cli_run_resumes(tmp_path):
    """A real kill -9 of `python -m benchmark run` in the middle; the re-run reuses finished jobs."""
    import subprocess
    import sys

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "benchmark", "run", "--datasets", "synthetic-small", "--methods", "knn",
           "--folds", "5", "--seeds", "0", "1", "2", "--out", str(out), "--quiet", "--no-cluster"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    def finished():  # job folders are renamed into place once complete; '.tmp' ones are in progress
        return [p for p in out.glob("cache/*/*/*/job.json") if ".tmp" not in p.parent.name]

    deadline = time.time() + 120
    while time.time() < deadline and len(finished()) < 2:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(finished())
    assert done_before >= 2
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    jobs = pd.read_csv(out / "jobs.csv")
    assert len(jobs) == 15 and (jobs["status"] == "ok").all()
    assert jobs["from_cache"].sum() == done_before
    assert not [p for p in out.glob("cache/*/*/*") if ".tmp" in p.name]  # no debris of the killed job


class Crashing(Method):
    info = MethodInfo(name="crashing", summary="test", control=True)

    @dataclass
    class Params:
        pass

    def fit_predict(self, task):
        raise RuntimeError("deliberate crash in fold")


class Sleeping(Method):
    info = MethodInfo(name="sleeping", summary="test", control=True)

    @dataclass
    class Params:
        pass

    def fit_predict(self, task):
        time.sleep(60)


class Dying(Method):
    info = MethodInfo(name="dying", summary="test", control=True)

    @dataclass
    class Params:
        pass

    def fit_predict(self, task):
        os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's OOM killer would


class Nan(Method):
    info = MethodInfo(name="nan", summary="test", control=True)

    @dataclass
    class Params:
        pass

    def fit_predict(self, task):
        return Prediction(pd.DataFrame(np.nan, index=task.spatial.obs_names, columns=task.target_genes))


def test_failures_are_recorded_and_the_run_goes_on(tiny_pair, tmp_path):
    cfg = _cfg(tmp_path, methods=["crashing", "sleeping", "dying", "nan", "mean"], n_folds=2, time_budget=2.0)
    with registered(Crashing, Sleeping, Dying, Nan):
        t0 = time.time()
        res = run_benchmark(cfg, [tiny_pair], progress=False)
        elapsed = time.time() - t0
    assert elapsed < 30  # two sleeping jobs were stopped at the 2 s budget, not after 60 s
    status = res.jobs.groupby("method")["status"].agg(set)
    assert status["crashing"] == {"failed"} and status["sleeping"] == {"timeout"}
    assert status["dying"] == {"failed"} and status["nan"] == {"failed"} and status["mean"] == {"ok"}
    errors = res.jobs.set_index(["method", "split"])["error"]
    assert "deliberate crash in fold" in errors[("crashing", "0")]
    assert "time budget of 2 s" in errors[("sleeping", "0")]
    assert "signal 9" in errors[("dying", "0")]
    assert "NaN" in errors[("nan", "0")]
    assert len(res.failures) == 8
    run = json.loads((res.out / "run.json").read_text())
    assert len(run["failures"]) == 8
    assert set(res.results["method"]) == {"mean"}  # failed methods have no scores...
    assert res.summary.loc[("tiny", "crashing"), "failed_jobs"] == 2  # ...but show up as failures


def test_timeout_inline(tiny_pair, tmp_path):
    cfg = _cfg(tmp_path, methods=["sleeping"], n_folds=2, time_budget=1.0, isolate=False)
    with registered(Sleeping):
        res = run_benchmark(cfg, [tiny_pair], progress=False)
    assert set(res.jobs["status"]) == {"timeout"}


def test_holdout_protocol(tiny_pair, tmp_path):
    res = run_benchmark(_cfg(tmp_path, protocol="holdout", holdout_fraction=0.8, repeats=2), [tiny_pair],
                        progress=False)
    assert set(res.results["fold"]) == {"h0", "h1"}
    assert res.jobs["n_target_genes"].eq(12).all()
    assert "gene_css" in res.summary.columns


def test_provenance_records_thread_limits_and_load(monkeypatch):
    """Timings depend on the threads a run may use and on the machine's load: both are recorded."""
    from benchmark import provenance

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    m = provenance.machine()
    assert m["thread_limits"].get("OMP_NUM_THREADS") == "1" and "MKL_NUM_THREADS" not in m["thread_limits"]
    assert m["load_average_1min"] is None or m["load_average_1min"] >= 0
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert "OMP_NUM_THREADS" not in provenance.machine()["thread_limits"]
