"""Where the jobs of a run execute: in this process one after another, or on a Dask cluster.

Both executors take the same plan of ``(PreparedData, Job, cache folder)`` triples and run
each job through :func:`benchmark.runner.run_job`, so a job computes the same thing wherever
it runs: same data, parameters, seed and code. The cache is read by this process before
anything is sent out, exactly as in the serial executor, so an interrupted run resumes the
same way with either executor.

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

from .errors import InputError
from .runner import JobOutcome, load_cached, run_job

EXECUTORS = ("serial", "dask")


def _pending(plan, should_retry: Callable[[JobOutcome], bool]):
    """Split the plan into cached outcomes (by position) and the jobs still to run."""
    done: dict[int, JobOutcome] = {}
    todo = []
    for i, (prep, job, jobdir) in enumerate(plan):
        cached = load_cached(jobdir, job, prep.truth.index) if Path(jobdir).exists() else None
        if cached is not None and not should_retry(cached):
            done[i] = cached
        else:
            todo.append(i)
    return done, todo


def run_serial(plan, *, should_retry, time_budget, isolate, device, progress: bool = True,
               memory_budget_mb: float | None = None) -> list[JobOutcome]:
    """Run the plan's jobs one after another in this process (each forked unless ``isolate`` is off)."""
    from tqdm.auto import tqdm

    outcomes = []
    bar = tqdm(total=len(plan), desc="jobs", unit="job", disable=not progress, file=sys.stderr, dynamic_ncols=True)
    for prep, job, jobdir in plan:
        bar.set_postfix_str(job.describe(), refresh=True)
        cached = load_cached(jobdir, job, prep.truth.index) if Path(jobdir).exists() else None
        if cached is not None and not should_retry(cached):
            outcomes.append(cached)
        else:
            outcomes.append(run_job(job, prep, jobdir, time_budget=time_budget, isolate=isolate, device=device,
                                    memory_budget_mb=memory_budget_mb))
        bar.update(1)
    bar.close()
    return outcomes


def _dask_task(job, prep, jobdir: str, time_budget, isolate, device, memory_budget_mb) -> JobOutcome:
    """What a Dask worker runs: the same runner call as the serial executor."""
    return run_job(job, prep, Path(jobdir), time_budget=time_budget, isolate=isolate, device=device,
                   memory_budget_mb=memory_budget_mb)


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

    done, todo = _pending(plan, should_retry)
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
                                    memory_budget_mb, key=f"job-{Path(jobdir).name}-{i}", pure=False)
                futures[fut] = i
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    done[i] = fut.result()
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
