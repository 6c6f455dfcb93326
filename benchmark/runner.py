"""Running one job: in its own process, with a time budget, cached on disk.

A job is (dataset, method, parameters, split, seed). Its cache entry is a folder named by a key
hashed from everything that can change its output: the data fingerprint, the method's name,
parameters, source file and wrapped package version, the split's genes, the seed and the
quick flag. A folder with ``job.json`` is a finished job; ``failure.json`` a recorded failure.

Each record carries checksums of the entry's files and of itself; an entry that is truncated,
unreadable or fails them is reported in one line, discarded and computed again. Reading or
computing a job holds its lock, so runs that share a cache wait for each other's jobs instead
of breaking them (benchmark/cache.py).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import resource
import shutil
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import cache, forksafety, quality
from .errors import JobTimeout
from .order import ORDER_VERSION, restore_order
from .prepare import PreparedData
from .provenance import stable_hash
from .splits import GeneSplit

RESULT_FILE = "job.json"
FAILURE_FILE = "failure.json"
PREDICTION_FILE = "prediction.npy"
LOG_FILE = "log.txt"


@dataclass
class Job:
    dataset: str
    method: str
    params: dict[str, Any]
    split: GeneSplit
    seed: int
    quick: bool = False
    #: tuning settings of a tuned job (``{"budget": N, "inner_folds": K}``, plus ``"max_cells"`` with
    #: ``--tune-cells``; benchmark/tuning.py), else None
    tune: dict[str, int] | None = None

    def key(self, fingerprint: str, method_fingerprint: str) -> str:
        fields = {
            "data": fingerprint,
            "method": self.method,
            "method_code": method_fingerprint,
            "params": self.params,
            "train": list(self.split.train_genes),
            "target": list(self.split.target_genes),
            "seed": self.seed,
            "quick": self.quick,
            "cell_order": ORDER_VERSION,  # the method's input order changes its output
        }
        if self.tune is not None:  # absent for default jobs, so their keys do not change
            from .tuning import SELECTION_VERSION

            fields["tune"] = self.tune
            fields["tune_selection"] = SELECTION_VERSION  # a job chosen by an older rule is another job
        if self.split.cells is not None:  # cell-split protocol; absent otherwise, so older keys stay valid
            fields["cells"] = list(self.split.cells)
        return stable_hash(fields, length=20)

    def describe(self) -> str:
        return f"{self.dataset}/{self.method}/split {self.split.label}/seed {self.seed}"


@dataclass
class JobOutcome:
    job: Job
    status: str  # "ok", "failed", "timeout" or "memory" (over the memory budget)
    from_cache: bool = False
    runtime_s: float | None = None
    peak_memory_mb: float | None = None
    error: str | None = None
    prediction: pd.DataFrame | None = None
    confidence: pd.Series | None = None
    info: dict[str, Any] = field(default_factory=dict)
    key: str = ""
    gpu_peak_memory_mb: float | None = None  # torch.cuda.max_memory_allocated, when the job used CUDA
    #: quality flags of a finished job (benchmark/quality.py): ``{"flag": name, "detail": text}``
    flags: list[dict[str, str]] = field(default_factory=list)
    #: why the job's cache entry was found damaged and discarded before this outcome was computed
    cache_damage: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def method_fingerprint(method_cls) -> str:
    """Hash of the method's source file and wrapped package version: editing a method
    invalidates its cached jobs."""
    try:
        path = Path(inspect.getsourcefile(method_cls))
        # a method that is a folder (methods/stimpute/) depends on every file in it
        files = sorted(path.parent.glob("*.py")) if path.parent.name != "methods" else [path]
        src = b"".join(f.name.encode() + f.read_bytes() for f in files)
    except (TypeError, OSError):
        src = method_cls.__qualname__.encode()
    return stable_hash({"src": hashlib.sha256(src).hexdigest(), "name": method_cls.info.name,
                        "version": method_cls.package_version()})


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _peak_mb() -> float:
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(self_kb, child_kb) / 1024.0  # Linux reports KiB


def _gpu_peak_mb() -> float | None:
    """Peak GPU memory torch allocated in this process, or ``None`` if it never used CUDA."""
    import sys

    torch = sys.modules.get("torch")  # a method that never imported torch used no GPU through it
    try:
        if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
            return torch.cuda.max_memory_allocated() / 2**20
    except Exception:  # noqa: BLE001 - a broken CUDA setup must not fail a finished job
        pass
    return None


def _execute(job: Job, prep: PreparedData, workdir: Path, time_budget: float | None, device: str) -> dict[str, Any]:
    """Run the method and write its output into ``workdir``; return the job record."""
    from .methods import get_method

    baseline = _rss_mb()
    t0 = time.perf_counter()
    method = get_method(job.method, **job.params)
    scratch = workdir / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    task = prep.make_task(job.split, seed=job.seed, workdir=scratch, time_budget=time_budget, quick=job.quick,
                          device=device)
    if job.tune is not None:
        from .tuning import tune_and_predict

        raw = tune_and_predict(type(method), job.params, task, **job.tune)
    elif method.info.oracle:
        raw = method.fit_predict_oracle(task, prep.truth.loc[task.spatial.obs_names, list(job.split.target_genes)])
    else:
        raw = method.fit_predict(task)
    pred = raw.check(task)
    # the task's cells came in a seeded order (benchmark/order.py); store them in the data's order
    pred.expression = restore_order(pred.expression, prep.cells_of(job.split))
    runtime = time.perf_counter() - t0
    np.save(workdir / PREDICTION_FILE, pred.expression.to_numpy(dtype=np.float64))
    shutil.rmtree(scratch, ignore_errors=True)
    record = {
        "status": "ok",
        "job": job.describe(),
        "dataset": job.dataset,
        "method": job.method,
        "params": job.params,
        "split": job.split.label,
        "seed": job.seed,
        "quick": job.quick,
        "target_genes": list(pred.expression.columns),
        "n_cells": int(pred.expression.shape[0]),
        "confidence": None if pred.confidence is None else [float(v) for v in pred.confidence.to_numpy()],
        "info": json.loads(json.dumps(pred.info, default=str)),
        "runtime_s": runtime,
        "peak_memory_mb": _peak_mb(),
        "baseline_memory_mb": baseline,
        "gpu_peak_memory_mb": _gpu_peak_mb(),
        "method_version": type(method).package_version(),
    }
    record["flags"] = quality.flags(pred.expression, pred.info, method.info)  # failures that look like results
    return record


def _write_json(path: Path, obj: dict) -> None:
    """Write a record atomically; a failure record gets its checksum here (a result record is
    sealed by the caller, which knows its data files)."""
    if path.name == FAILURE_FILE and cache.CHECKSUM_KEY not in obj:
        obj = cache.seal(obj, path.parent)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str))
    os.replace(tmp, path)


def _child_main(job, prep, tmpdir: Path, time_budget, device) -> None:  # runs in the forked process
    os.setpgrp()  # own process group, so a timeout kills the method's workers too
    cache.forget_locks_after_fork()  # the job's lock is the parent's: it must not outlive the parent
    log = os.open(tmpdir / LOG_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)

    def work() -> int:
        try:
            record = _execute(job, prep, tmpdir, time_budget, device)
            _write_json(tmpdir / RESULT_FILE, cache.seal(record, tmpdir, [PREDICTION_FILE]))
            return 0
        except BaseException as exc:  # noqa: BLE001 - every failure is recorded
            _write_json(tmpdir / FAILURE_FILE, _failure_record(job, "failed", exc))
            return 1

    code = forksafety.run_in_fresh_thread(work)  # not in this thread: the parent's OpenMP pool is dead here
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _failure_record(job: Job, status: str, exc: BaseException | str, **extra) -> dict[str, Any]:
    if isinstance(exc, BaseException):
        message = f"{type(exc).__name__}: {exc}"
        tb = "".join(traceback.format_exception(exc))
    else:
        message, tb = exc, ""
    return {"status": status, "job": job.describe(), "dataset": job.dataset, "method": job.method,
            "split": job.split.label, "seed": job.seed, "error": message, "traceback": tb, **extra}


def _log_tail(path: Path, n: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


_RESULT_FIELDS = ("status", "target_genes", "runtime_s", "peak_memory_mb")
_FAILURE_FIELDS = ("status", "error")


def _read_record(path: Path, needed: tuple[str, ...]) -> dict[str, Any]:
    """A record file parsed and checked for its fields; raises ``_Damaged`` with the reason."""
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise _Damaged(f"{path.name} is not readable JSON ({cache.one_line(exc)})") from None
    if not isinstance(rec, dict):
        raise _Damaged(f"{path.name} holds a {type(rec).__name__}, not a record")
    missing = [k for k in needed if k not in rec]
    if missing:
        raise _Damaged(f"{path.name} lacks {', '.join(missing)}")
    why = cache.verify(rec, path.parent)
    if why:
        raise _Damaged(why)
    return rec


class _Damaged(Exception):
    """A cache entry that cannot be trusted; the message says why, in one line."""


def read_cached(jobdir: Path, job: Job, cell_index: pd.Index) -> tuple[JobOutcome | None, str | None]:
    """Read a cache entry without changing it: ``(outcome, None)`` for a sound entry, ``(None,
    reason)`` for a damaged one, ``(None, None)`` when there is none.

    Damaged: a record that does not parse or lacks its fields, a file that fails its checksum,
    a prediction that does not load or has the wrong shape, or a folder with neither record. An
    entry written before checksums existed is trusted if it loads.
    """
    jobdir = Path(jobdir)
    try:
        if not jobdir.exists() and not jobdir.is_symlink():
            return None, None
        if not jobdir.is_dir():
            raise _Damaged("it is not a folder")
        res = jobdir / RESULT_FILE
        fail = jobdir / FAILURE_FILE
        if res.exists():
            rec = _read_record(res, _RESULT_FIELDS)
            if job.split.cells is not None:  # cell-split protocol: the job predicted its fold's cells only
                cell_index = pd.Index(job.split.cells)
            genes = rec["target_genes"]
            if not isinstance(genes, list):
                raise _Damaged(f"{RESULT_FILE} has malformed target_genes")
            try:
                values = np.load(jobdir / PREDICTION_FILE)
            except Exception as exc:  # noqa: BLE001 - whatever np.load makes of a bad file, the entry is damaged
                raise _Damaged(f"{PREDICTION_FILE} does not load ({cache.one_line(exc)})") from None
            if values.shape != (len(cell_index), len(genes)):
                raise _Damaged(f"{PREDICTION_FILE} has shape {values.shape}, expected "
                               f"{(len(cell_index), len(genes))}")
            pred = pd.DataFrame(values, index=cell_index, columns=genes)
            conf = None if rec.get("confidence") is None else pd.Series(rec["confidence"], index=genes)
            return JobOutcome(job, "ok", True, rec["runtime_s"], rec["peak_memory_mb"], None, pred, conf,
                              rec.get("info", {}), jobdir.name, rec.get("gpu_peak_memory_mb"),
                              quality.record_flags(rec, pred, job.method)), None  # older job.json: computed now
        if fail.exists():
            rec = _read_record(fail, _FAILURE_FIELDS)
            return JobOutcome(job, rec["status"], True, rec.get("runtime_s"), rec.get("peak_memory_mb"),
                              rec["error"], key=jobdir.name,
                              info={"time_budget": rec.get("time_budget"),
                                    "memory_budget_mb": rec.get("memory_budget_mb")}), None
        raise _Damaged(f"it holds neither {RESULT_FILE} nor {FAILURE_FILE}")
    except _Damaged as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001 - e.g. a record whose values have the wrong types
        return None, f"it cannot be read ({cache.one_line(exc)})"


def _report(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def load_cached(jobdir: Path, job: Job, cell_index: pd.Index, *, report=_report) -> JobOutcome | None:
    """A finished (or failed) job from the cache, or ``None``.

    A damaged entry is ``None`` too: ``report`` (default: stderr) gets one line naming it and
    why, and the entry is removed, so the job is computed again. The removal holds the job's
    lock, and the entry is read once more under it first: what looked damaged may have been
    another run replacing it.
    """
    outcome, damage = read_cached(jobdir, job, cell_index)
    if damage is None:
        return outcome
    with cache.job_lock(jobdir):
        outcome, damage = read_cached(jobdir, job, cell_index)
        if damage is None:
            return outcome
        report(cache.damage_line(jobdir, job.describe(), damage))
        cache.discard(jobdir)
    return None


def obtain(job: Job, prep: PreparedData, jobdir: Path, *, should_retry=lambda cached: False,
           report=_report, waiting=None, **run_options) -> JobOutcome:
    """The job's outcome: its cache entry when that is sound and ``should_retry`` keeps it, else
    computed now by :func:`run_job` (``run_options`` are its keywords).

    Everything happens under the job's lock. If another run is computing the job, this waits
    for it (calling ``waiting(holder)`` first, holder being "pid host") and then reads its
    entry, so a job shared by two runs is computed once. A damaged entry is reported through
    ``report`` (one line), discarded and recomputed; the outcome's ``cache_damage`` says why.
    """
    with cache.job_lock(jobdir, blocking=False) as held:
        if held:
            return _obtain_locked(job, prep, jobdir, should_retry, report, run_options)
    if waiting is not None:
        waiting(cache.lock_holder(jobdir))
    with cache.job_lock(jobdir):
        return _obtain_locked(job, prep, jobdir, should_retry, report, run_options)


def _obtain_locked(job, prep, jobdir, should_retry, report, run_options) -> JobOutcome:
    outcome, damage = read_cached(jobdir, job, prep.truth.index)
    if damage is not None:
        report(cache.damage_line(jobdir, job.describe(), damage))
        cache.discard(jobdir)
    elif outcome is not None and not should_retry(outcome):
        return outcome
    outcome = run_job(job, prep, jobdir, **run_options)
    outcome.cache_damage = damage
    return outcome


def warm_imports(method_names: list[str] = (), device: str = "cpu") -> None:
    """Import commonly used libraries once in the parent, so forked jobs do not each pay for it:
    scikit-learn, and what each method declares safe to preload (``MethodInfo.preload``).

    With a GPU device the methods' modules are not preloaded: some initialise CUDA when imported
    (torch_geometric asks ``torch.cuda.is_available()``), and a process forked after CUDA was
    initialised cannot use it ("CUDA error: initialization error")."""
    import importlib

    import sklearn.decomposition  # noqa: F401
    import sklearn.neighbors  # noqa: F401

    if device != "cpu":
        return
    from . import methods

    for name in method_names:
        for mod in methods.get_method_class(name).info.preload:
            try:
                importlib.import_module(mod)
            except ImportError:
                pass  # the job itself will report the missing dependency


def run_job(
    job: Job,
    prep: PreparedData,
    jobdir: Path,
    *,
    time_budget: float | None = None,
    isolate: bool = True,
    device: str = "cpu",
    memory_budget_mb: float | None = None,
) -> JobOutcome:
    """Run ``job`` and store its outcome in ``jobdir``, replacing whatever entry is there.

    The job's lock is held throughout (benchmark/cache.py): a run that reaches the same job
    meanwhile waits, and the temporary folder this writes in is never removed under it.

    With ``isolate`` (the default) the method runs in a forked process: a crash, a memory
    blow-up or a time-out kills only that process and is recorded as a failure. Without it
    the method runs in this process, and the time budget is enforced with ``SIGALRM``.

    ``memory_budget_mb`` (isolated jobs only) caps the resident memory of the job's process and
    its children, sampled a few times a second: a job above it is killed and recorded with
    status ``"memory"``. Resident memory includes the pages the job shares with this process
    since the fork (its input data), as ``peak_memory_mb`` does. A cap on address space
    (``RLIMIT_AS``) is not used because torch and CUDA reserve far more address space than they use.
    """
    jobdir = Path(jobdir)
    with cache.job_lock(jobdir):  # one process computes a job at a time; re-entrant for obtain()
        return _run_job_locked(job, prep, jobdir, time_budget, isolate, device, memory_budget_mb)


def _run_job_locked(job, prep, jobdir: Path, time_budget, isolate, device, memory_budget_mb) -> JobOutcome:
    """:func:`run_job`'s work, with the job's lock held."""
    cache.discard(jobdir)
    # debris of an attempt that was killed mid-job; a folder whose process is alive is not ours to remove
    cache.remove_stale_tmpdirs(jobdir)
    tmpdir = jobdir.with_name(jobdir.name + f".tmp{os.getpid()}")
    tmpdir.mkdir(parents=True)
    t0 = time.perf_counter()
    if isolate:
        # os.fork rather than multiprocessing: it also works inside daemonic processes (a Dask
        # worker), and the parent's polling loop enforces the time and memory budgets.
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # child: never returns
            try:
                _child_main(job, prep, tmpdir, time_budget, device)
            finally:
                os._exit(1)
        code, over, killed_rss_mb = _watch(pid, t0, time_budget, memory_budget_mb)
        if over == "timeout":
            _write_json(tmpdir / FAILURE_FILE, _failure_record(
                job, "timeout", f"exceeded the time budget of {time_budget:g} s",
                runtime_s=time.perf_counter() - t0, time_budget=time_budget))
        elif over is not None:  # memory: the message says how much
            _write_json(tmpdir / FAILURE_FILE, _failure_record(
                job, "memory", over, runtime_s=time.perf_counter() - t0, memory_budget_mb=memory_budget_mb,
                peak_memory_mb=killed_rss_mb))
        elif not (tmpdir / RESULT_FILE).exists() and not (tmpdir / FAILURE_FILE).exists():
            why = (f"killed by signal {-code}" + (" (likely out of memory)" if code == -signal.SIGKILL else "")
                   if code is not None and code < 0 else f"exited with code {code}")
            tail = _log_tail(tmpdir / LOG_FILE)
            numba_note = forksafety.numba_layer_unsafe_for_fork() if code == -signal.SIGTERM else None
            if numba_note:
                why += f" ({numba_note})"
            _write_json(tmpdir / FAILURE_FILE, _failure_record(
                job, "failed", f"the method's process {why} without a result" + (f"; last output:\n{tail}" if tail else ""),
                runtime_s=time.perf_counter() - t0))
    else:
        _run_inline(job, prep, tmpdir, time_budget, device, t0)
    try:
        os.replace(tmpdir, jobdir)
    except OSError as exc:  # only without working locks: another process published the job first
        if not jobdir.is_dir():
            raise
        print(f"note: {job.describe()} was finished by another run meanwhile ({cache.one_line(exc)}); "
              "using its entry", file=sys.stderr)
        shutil.rmtree(tmpdir, ignore_errors=True)
    outcome, damage = read_cached(jobdir, job, prep.truth.index)
    if outcome is None:  # what was just written does not read back: a failing disk, not the method
        cache.discard(jobdir)
        return JobOutcome(job, "failed", error=f"the job's cache entry does not read back: {damage}",
                          runtime_s=time.perf_counter() - t0, key=jobdir.name)
    outcome.from_cache = False
    return outcome


def _watch(pid: int, t0: float, time_budget: float | None,
           memory_budget_mb: float | None) -> tuple[int, str | None, float | None]:
    """Wait for the forked job ``pid``; kill its process group when it runs over a budget.

    Returns the exit code (negative: killed by that signal); ``None``, ``"timeout"`` or a
    message saying the memory budget was exceeded; and the resident memory (MB) it was killed
    at, for a memory kill (else ``None``).
    """
    import psutil

    delay = 0.02
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status), None, None
        if time_budget is not None and time.perf_counter() - t0 > time_budget:
            _kill_group(pid)
            os.waitpid(pid, 0)
            return -signal.SIGKILL, "timeout", None
        if memory_budget_mb is not None:
            try:
                proc = psutil.Process(pid)
                rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
            except psutil.Error:  # exited between the calls; the next waitpid collects it
                rss = 0
            if rss / 2**20 > memory_budget_mb:
                _kill_group(pid)
                os.waitpid(pid, 0)
                return -signal.SIGKILL, (f"exceeded the memory budget of {memory_budget_mb:g} MB "
                                         f"(resident memory {rss / 2**20:.0f} MB)"), rss / 2**20
        time.sleep(delay)
        delay = min(0.25, delay * 1.5)  # short jobs finish fast, long ones are polled 4 times a second


def _run_inline(job, prep, tmpdir: Path, time_budget, device, t0) -> None:
    def _alarm(signum, frame):
        raise JobTimeout(f"exceeded the time budget of {time_budget:g} s")

    old = None
    if time_budget:
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, time_budget)
    try:
        record = _execute(job, prep, tmpdir, time_budget, device)
        _write_json(tmpdir / RESULT_FILE, cache.seal(record, tmpdir, [PREDICTION_FILE]))
    except JobTimeout as exc:
        _write_json(tmpdir / FAILURE_FILE, _failure_record(job, "timeout", str(exc), runtime_s=time.perf_counter() - t0,
                                                           time_budget=time_budget))
    except Exception as exc:  # noqa: BLE001
        _write_json(tmpdir / FAILURE_FILE, _failure_record(job, "failed", exc, runtime_s=time.perf_counter() - t0))
    finally:
        if time_budget:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
