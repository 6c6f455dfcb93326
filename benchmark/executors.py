"""Where the jobs of a run execute: in this process one after another, or on a Dask cluster.

Both executors take the same plan of ``(PreparedData, Job, cache folder)`` triples and run
each job through :func:`benchmark.runner.run_job`, so a job computes the same thing wherever
it runs: same data, parameters, seed and code. The cache is read by this process before
anything is sent out, exactly as in the serial executor, so an interrupted run resumes the
same way with either executor.

Both read and compute a job under its lock (benchmark/cache.py): a job that another run
sharing the cache is computing is waited for and then read, and a damaged entry is reported
in one line, discarded and computed again. The Dask executor checks the cache here without
waiting (a job locked elsewhere is sent out, and its worker waits for it).

On Dask (``dask.distributed``) each job is one task; the prepared data sets are scattered to
the workers once, not once per job. A worker still runs each job in its own forked process
with the time budget (the runner's isolation), so a crashing method cannot take a worker
down. The cache folder must be on a file system that every worker can write (a shared
home or scratch directory on a cluster); the finished job is also sent back to this process,
which builds the results as in a serial run.

Cluster set-up is Dask's: ``scheduler=None`` starts a ``LocalCluster`` on this machine; an
address joins a running scheduler, e.g. one started by ``dask-jobqueue`` on Slurm or by the
Dask Helm chart / ``dask-kubernetes`` on Kubernetes (see docs/scaling.md).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

from . import cache
from .errors import InputError
from .runner import JobOutcome, obtain, read_cached

EXECUTORS = ("serial", "dask")


def _say(line: str) -> None:
    """Print a line above the progress bar (or on stderr alone when there is none)."""
    from tqdm.auto import tqdm

    tqdm.write(line, file=sys.stderr)


def _pending(plan, should_retry: Callable[[JobOutcome], bool]):
    """Split the plan into cached outcomes (by position), the jobs still to run, and why the
    entries found damaged were discarded (by position)."""
    done: dict[int, JobOutcome] = {}
    todo = []
    damaged: dict[int, str] = {}
    for i, (prep, job, jobdir) in enumerate(plan):
        # without waiting: a job another run is computing goes to a worker, which waits for it
        with cache.job_lock(jobdir, blocking=False) as held:
            if not held:
                todo.append(i)
                continue
            cached, damage = read_cached(jobdir, job, prep.truth.index)
            if damage is not None:
                _say(cache.damage_line(jobdir, job.describe(), damage))
                cache.discard(jobdir)
                damaged[i] = damage
        if cached is not None and not should_retry(cached):
            done[i] = cached
        else:
            todo.append(i)
    return done, todo, damaged


def run_serial(plan, *, should_retry, time_budget, isolate, device, progress: bool = True,
               memory_budget_mb: float | None = None) -> list[JobOutcome]:
    """Run the plan's jobs one after another in this process (each forked unless ``isolate`` is off)."""
    from tqdm.auto import tqdm

    outcomes = []
    bar = tqdm(total=len(plan), desc="jobs", unit="job", disable=not progress, file=sys.stderr, dynamic_ncols=True)
    for prep, job, jobdir in plan:
        bar.set_postfix_str(job.describe(), refresh=True)

        def waiting(holder: str, job=job) -> None:  # another run computes this job: say so while waiting
            bar.set_postfix_str(f"waiting for {job.describe()} (another run{', pid ' + holder if holder else ''})",
                                refresh=True)

        outcomes.append(obtain(job, prep, jobdir, should_retry=should_retry, report=_say, waiting=waiting,
                               time_budget=time_budget, isolate=isolate, device=device,
                               memory_budget_mb=memory_budget_mb))
        bar.update(1)
    bar.close()
    return outcomes


def _dask_task(job, prep, jobdir: str, time_budget, isolate, device, memory_budget_mb,
               should_retry=None) -> JobOutcome:
    """What a Dask worker runs: the serial executor's read-or-compute, under the job's lock (the
    entry may have been finished by another run since this process looked)."""
    return obtain(job, prep, Path(jobdir), should_retry=should_retry or (lambda cached: False), time_budget=time_budget,
                  isolate=isolate, device=device, memory_budget_mb=memory_budget_mb)


def dask_client(scheduler: str | None = None, n_workers: int | None = None, processes: bool = True,
                timeout: str = "30s"):
    """A ``dask.distributed.Client``: joined to ``scheduler`` (an address such as
    ``tcp://host:8786``), or on a new ``LocalCluster`` of ``n_workers`` single-threaded workers.

    Returns the client and a function that closes what was started here (a joined cluster is
    left running).
    """
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise InputError("--executor dask needs dask.distributed: pip install -c constraints.txt "
                         "'dask[distributed]'") from None
    if scheduler:
        try:
            client = Client(scheduler, timeout=timeout)
        except OSError as exc:
            raise InputError(f"cannot reach the Dask scheduler at {scheduler!r}: {exc}") from None
        return client, client.close
    import os

    n = n_workers or max(1, min(4, os.cpu_count() or 1))
    # one thread per worker: jobs are CPU-heavy and each forks its own process anyway
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=processes,
                           dashboard_address=":0")  # any free port: never collide with another cluster
    client = Client(cluster)

    def close() -> None:
        client.close()
        cluster.close()

    return client, close


def run_dask(plan, *, should_retry, time_budget, isolate, device, progress: bool = True,
             scheduler: str | None = None, n_workers: int | None = None, processes: bool = True,
             memory_budget_mb: float | None = None, client=None) -> list[JobOutcome]:
    """Run the plan's jobs as Dask tasks; return the outcomes in plan order.

    ``client`` (an existing ``dask.distributed.Client``) overrides ``scheduler``/``n_workers``.
    """
    from tqdm.auto import tqdm

    done, todo, damaged = _pending(plan, should_retry)
    bar = tqdm(total=len(plan), desc="jobs (dask)", unit="job", disable=not progress, file=sys.stderr,
               dynamic_ncols=True)
    bar.update(len(done))
    if todo:
        from dask.distributed import as_completed

        close: Callable[[], Any] = lambda: None  # noqa: E731
        if client is None:
            client, close = dask_client(scheduler, n_workers, processes)
        try:
            scattered: dict[int, Any] = {}  # one copy of each prepared data set per cluster
            futures = {}
            for i in todo:
                prep, job, jobdir = plan[i]
                if id(prep) not in scattered:
                    scattered[id(prep)] = client.scatter(prep, broadcast=False, hash=False)
                fut = client.submit(_dask_task, job, scattered[id(prep)], str(jobdir), time_budget, isolate, device,
                                    memory_budget_mb, should_retry, key=f"job-{Path(jobdir).name}-{i}", pure=False)
                futures[fut] = i
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    done[i] = fut.result()
                    if i in damaged:  # found and discarded here, before the worker computed it again
                        done[i].cache_damage = damaged[i]
                except Exception as exc:  # noqa: BLE001 - a lost worker must not lose the other jobs
                    # not written to the cache: the job did not fail, its worker did; the next run retries it
                    done[i] = JobOutcome(plan[i][1], "failed",
                                         error=f"the Dask task failed: {type(exc).__name__}: {exc}")
                bar.set_postfix_str(plan[i][1].describe(), refresh=False)
                bar.update(1)
        finally:
            close()
    bar.close()
    return [done[i] for i in range(len(plan))]


__all__ = ["EXECUTORS", "run_serial", "run_dask", "dask_client"]
