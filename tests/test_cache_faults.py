"""A damaged cache costs one recomputation, not the run; runs that share a cache all finish.

Each damage test runs a small benchmark, damages one job's cache entry the way a disk, a full
file system or a careless hand would, and runs the same configuration again: the rerun must
succeed, print one line naming the entry, recompute that job only and give the undamaged
run's scores. The sharing tests start two real processes on one cache folder.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark import cache
from benchmark.harness import RunConfig, run_benchmark
from benchmark.methods.base import Method, MethodInfo
from benchmark.task import Prediction

from _helpers import registered, require_module

DAMAGED = "damaged cache entry"


def _cfg(out: Path, **kw) -> RunConfig:
    kw.setdefault("methods", ["mean", "knn"])
    return RunConfig(out=out, n_folds=3, cluster=False, **kw)


def _entry(result, method: str, split: str) -> Path:
    row = result.jobs.query("method == @method and split == @split").iloc[0]
    return result.out / "cache" / row["dataset"] / method / row["cache_key"]


def _scores(df: pd.DataFrame) -> pd.DataFrame:
    """Results without the measured rows (runtime, memory), which differ between runs."""
    return df[df["scope"] != "run"].reset_index(drop=True)


def _truncate(entry: Path) -> None:
    p = entry / "prediction.npy"
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _garbage(entry: Path) -> None:
    p = entry / "prediction.npy"
    p.write_bytes(b"\x00garbage, not an array\n" * 40)


def _broken_json(entry: Path) -> None:
    p = entry / "job.json"
    p.write_text(p.read_text()[:40])  # cut mid-record, as by a full disk


def _flipped_prediction(entry: Path) -> None:
    """Same size, still a valid array: only the checksum can tell."""
    p = entry / "prediction.npy"
    raw = bytearray(p.read_bytes())
    for i in range(len(raw) - 64, len(raw) - 8):  # inside the last values, past the header
        raw[i] ^= 0xFF
    p.write_bytes(bytes(raw))
    np.load(p)  # loads fine: the damage is silent without a checksum


def _edited_record(entry: Path) -> None:
    """Valid JSON with every field: only the record's own checksum can tell."""
    p = entry / "job.json"
    rec = json.loads(p.read_text())
    rec["target_genes"] = list(reversed(rec["target_genes"]))  # would mislabel every predicted gene
    p.write_text(json.dumps(rec, indent=1))


def _no_prediction(entry: Path) -> None:
    (entry / "prediction.npy").unlink()


def _emptied(entry: Path) -> None:
    for f in entry.iterdir():
        f.unlink()


DAMAGES = {"truncated prediction": (_truncate, "prediction.npy"),
           "garbage prediction": (_garbage, "prediction.npy"),
           "broken job.json": (_broken_json, "job.json is not readable JSON"),
           "flipped bytes, same size": (_flipped_prediction, "prediction.npy does not match its checksum"),
           "edited record": (_edited_record, "record does not match its checksum"),
           "missing prediction": (_no_prediction, "prediction.npy"),
           "empty entry": (_emptied, "neither job.json nor failure.json")}


@pytest.fixture
def finished(tiny_pair, tmp_path):
    """A finished run of mean and knn (3 gene folds) and its configuration."""
    cfg = _cfg(tmp_path / "run")
    first = run_benchmark(cfg, [tiny_pair], progress=False)
    assert not first.jobs["from_cache"].any()
    return cfg, first


def _damaged_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if DAMAGED in line]


@pytest.mark.parametrize("kind", list(DAMAGES))
def test_damaged_entry_is_reported_discarded_and_recomputed(kind, finished, tiny_pair, capsys):
    cfg, first = finished
    damage, reason = DAMAGES[kind]
    entry = _entry(first, "knn", "1")
    damage(entry)
    capsys.readouterr()
    again = run_benchmark(cfg, [tiny_pair], progress=False)  # before checksums: a traceback (or wrong scores)
    lines = _damaged_lines(capsys.readouterr().err)
    assert len(lines) == 1, lines
    assert entry.name in lines[0] and "knn" in lines[0] and reason in lines[0]
    assert "\n" not in lines[0] and "Traceback" not in lines[0]
    recomputed = again.jobs.loc[~again.jobs["from_cache"], ["method", "split"]].values.tolist()
    assert recomputed == [["knn", "1"]]  # only the damaged job ran again
    assert (again.jobs["status"] == "ok").all()
    pd.testing.assert_frame_equal(_scores(again.results), _scores(first.results))
    run = json.loads((again.out / "run.json").read_text())
    assert [d["cache"] for d in run["cache_damaged"]] == [entry.name]
    assert reason in run["cache_damaged"][0]["reason"]
    # the entry was written anew, with its checksums, and the next run reads all of it
    assert "checksums" in json.loads((entry / "job.json").read_text())
    third = run_benchmark(cfg, [tiny_pair], progress=False)
    assert third.jobs["from_cache"].all() and not _damaged_lines(capsys.readouterr().err)
    assert json.loads((third.out / "run.json").read_text())["cache_damaged"] == []


def test_entries_written_before_checksums_are_still_read(finished, tiny_pair, capsys):
    cfg, first = finished
    for record in (first.out / "cache").glob("*/*/*/job.json"):  # as an older version wrote them
        rec = json.loads(record.read_text())
        del rec["checksums"]
        record.write_text(json.dumps(rec, indent=1))
    capsys.readouterr()
    again = run_benchmark(cfg, [tiny_pair], progress=False)
    assert again.jobs["from_cache"].all() and not _damaged_lines(capsys.readouterr().err)
    pd.testing.assert_frame_equal(_scores(again.results), _scores(first.results))
    # without a checksum a file that does not load is still found out
    entry = _entry(first, "mean", "2")
    _truncate(entry)
    third = run_benchmark(cfg, [tiny_pair], progress=False)
    assert len(_damaged_lines(capsys.readouterr().err)) == 1
    assert third.jobs.loc[~third.jobs["from_cache"], ["method", "split"]].values.tolist() == [["mean", "2"]]
    pd.testing.assert_frame_equal(_scores(third.results), _scores(first.results))


class Crashing(Method):
    info = MethodInfo(name="crashing-cached", summary="test", control=True)

    @dataclass
    class Params:
        pass

    def fit_predict(self, task):
        raise RuntimeError("deliberate crash")


def test_damaged_failure_record_is_recomputed(tiny_pair, tmp_path, capsys):
    cfg = _cfg(tmp_path / "run", methods=["crashing-cached"], isolate=False)
    with registered(Crashing):
        first = run_benchmark(cfg, [tiny_pair], progress=False)
        assert set(first.jobs["status"]) == {"failed"}
        entry = _entry(first, "crashing-cached", "0")
        record = json.loads((entry / "failure.json").read_text())
        assert "checksums" in record
        (entry / "failure.json").write_text('{"status": "failed"')
        capsys.readouterr()
        again = run_benchmark(cfg, [tiny_pair], progress=False)
    lines = _damaged_lines(capsys.readouterr().err)
    assert len(lines) == 1 and entry.name in lines[0] and "failure.json" in lines[0]
    assert again.jobs["from_cache"].tolist() == [False, True, True]
    assert "deliberate crash" in again.jobs["error"].iloc[0]


def test_damaged_entry_under_the_dask_executor(tmp_path, capsys):
    distributed = require_module("distributed", "the Dask executor needs dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster:
        cfg = RunConfig(datasets=["synthetic-small"], methods=["mean", "knn"], out=tmp_path / "run", n_folds=3,
                        cluster=False, executor="dask", scheduler=cluster.scheduler_address)
        first = run_benchmark(cfg, progress=False)
        entries = [_entry(first, "knn", "0"), _entry(first, "mean", "2")]
        _flipped_prediction(entries[0])
        _broken_json(entries[1])
        capsys.readouterr()
        again = run_benchmark(cfg, progress=False)
    lines = _damaged_lines(capsys.readouterr().err)
    assert len(lines) == 2 and all(any(e.name in line for line in lines) for e in entries)
    recomputed = sorted(again.jobs.loc[~again.jobs["from_cache"], ["method", "split"]].values.tolist())
    assert recomputed == [["knn", "0"], ["mean", "2"]]
    pd.testing.assert_frame_equal(_scores(again.results), _scores(first.results))
    run = json.loads((again.out / "run.json").read_text())
    assert sorted(d["cache"] for d in run["cache_damaged"]) == sorted(e.name for e in entries)


def test_stale_scratch_folders_are_removed_only_when_their_owner_is_dead(finished, tiny_pair):
    cfg, first = finished
    entry = _entry(first, "knn", "0")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = entry.with_name(f"{entry.name}.tmp{dead.pid}")
        busy = entry.with_name(f"{entry.name}.tmp{alive.pid}")
        for d in (stale, busy):
            d.mkdir()
            (d / "log.txt").write_text("an attempt")
        (entry / "job.json").unlink()  # damaged: recomputed, and its debris cleared
        run_benchmark(cfg, [tiny_pair], progress=False)
        assert not stale.exists()  # its process is gone
        assert busy.is_dir()  # its process lives: not ours to remove
    finally:
        alive.kill()
        alive.wait()


def _hold_lock(jobdir: str, ready) -> None:
    with cache.job_lock(Path(jobdir)):
        ready.set()
        time.sleep(60)


def test_a_lock_is_released_when_its_holder_dies(tmp_path):
    jobdir = tmp_path / "ds" / "m" / "key"
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(jobdir), ready))
    holder.start()
    try:
        assert ready.wait(30)
        with cache.job_lock(jobdir, blocking=False) as held:
            assert not held
        assert cache.lock_holder(jobdir).split()[0] == str(holder.pid)
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.join()
    with cache.job_lock(jobdir, blocking=False) as held:
        assert held
        with cache.job_lock(jobdir, blocking=False) as again:  # re-entrant in one thread
            assert again


class Slow(Method):
    """The mean control, slowed down so that two runs are surely inside one job at once; each
    computation is logged (one line, appended) to count them."""

    info = MethodInfo(name="slow-mean", summary="test", control=True)
    log: Path | None = None

    @dataclass
    class Params:
        pass

    def fit_predict(self, task):
        with open(type(self).log, "a") as f:
            f.write(f"{os.getpid()} {','.join(task.target_genes)}\n")
        time.sleep(0.7)
        ref = task.reference[:, task.target_genes].X
        return Prediction(pd.DataFrame(np.tile(np.asarray(ref.mean(axis=0)).ravel(), (task.n_cells, 1)),
                                       index=task.spatial.obs_names, columns=task.target_genes))


def _concurrent_run(cfg: RunConfig, data, barrier, errors: str) -> None:
    try:
        barrier.wait(60)
        run_benchmark(cfg, [data], progress=False)
    except BaseException:  # noqa: BLE001 - the parent reads it
        import traceback

        Path(errors).write_text(traceback.format_exc())
        os._exit(1)
    os._exit(0)


def test_two_processes_share_one_cache(tiny_pair, tmp_path):
    """Before the job lock, the second run deleted the first's scratch folder and one of them
    died with FileNotFoundError; now each job is computed once and the other run waits for it."""
    Slow.log = tmp_path / "computed.log"
    Slow.log.touch()
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2)
    cfgs = [_cfg(tmp_path / name, methods=["slow-mean", "mean"], cache_dir=tmp_path / "cache") for name in "ab"]
    with registered(Slow):
        procs = [ctx.Process(target=_concurrent_run, args=(c, tiny_pair, barrier, str(tmp_path / f"{i}.err")))
                 for i, c in enumerate(cfgs)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(180)
    errors = [f.read_text() for f in tmp_path.glob("*.err")]
    assert [p.exitcode for p in procs] == [0, 0], errors
    jobs = [pd.read_csv(c.out / "jobs.csv") for c in cfgs]
    results = [pd.read_csv(c.out / "results.csv") for c in cfgs]
    assert all((j["status"] == "ok").all() for j in jobs)
    pd.testing.assert_frame_equal(_scores(results[0]), _scores(results[1]))
    # every job computed by exactly one of the runs; the other waited for it, or found it done
    cached_in_one = jobs[0]["from_cache"].astype(int) + jobs[1]["from_cache"].astype(int)
    assert cached_in_one.tolist() == [1] * len(jobs[0])
    assert len(Slow.log.read_text().splitlines()) == 3  # the slow method ran once per split, not twice
    # the runs did overlap: the second started before the first finished
    runs = [json.loads((c.out / "run.json").read_text()) for c in cfgs]
    assert max(r["started"] for r in runs) < min(r["finished"] for r in runs)
    assert not list((tmp_path / "cache").glob("*/*/*.tmp*"))  # no scratch folder left behind


def test_two_cli_runs_share_one_cache(tmp_path):
    """`python -m benchmark run` twice at once on one --cache-dir: both exit 0, same scores."""
    cmd = [sys.executable, "-m", "benchmark", "run", "--datasets", "synthetic-small", "--methods", "mean", "knn",
           "--folds", "2", "--no-cluster", "--quiet", "--cache-dir", str(tmp_path / "cache")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(cmd + ["--out", str(tmp_path / name)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for name in "ab"]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    results = [pd.read_csv(tmp_path / name / "results.csv") for name in "ab"]
    pd.testing.assert_frame_equal(_scores(results[0]), _scores(results[1]))
    jobs = [pd.read_csv(tmp_path / name / "jobs.csv") for name in "ab"]
    cached_in_one = jobs[0]["from_cache"].astype(int) + jobs[1]["from_cache"].astype(int)
    assert cached_in_one.tolist() == [1] * len(jobs[0])  # each job computed once, by one of them
