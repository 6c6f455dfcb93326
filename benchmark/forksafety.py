"""Keep forked job processes from deadlocking on thread pools that the parent started.

The harness runs each job in a forked process (benchmark/runner.py). A fork copies only the
calling thread, and two thread pools that scientific Python starts do not survive that:

* **GNU OpenMP** (libgomp, used by scikit-learn, torch and numba) keeps one worker pool per
  thread that opened a parallel region. In the child, the pool of the main thread names workers
  that no longer exist, and the first parallel region there waits for them forever (measured:
  ``KNeighborsMixin.kneighbors`` in a child of a process that had run it once sleeps on a
  futex). A thread created in the child has no pool yet and gets a fresh one, so the job runs
  in a new thread (:func:`run_in_fresh_thread`).
* **numba's ``omp`` threading layer** checks the process id instead and ends a child that
  launches a parallel kernel with ``SIGTERM`` ("fork() called from a process already using GNU
  OpenMP, this is unsafe"). Its layer is chosen once, at the first parallel kernel, so
  :func:`prefer_forksafe_numba` asks for a fork-safe one (``tbb`` if installed, else
  ``workqueue``) unless the user chose a layer.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Callable

NUMBA_LAYER_ENV = "NUMBA_THREADING_LAYER"


def prefer_forksafe_numba() -> None:
    """Ask numba for a fork-safe threading layer, unless the user set one or it is already chosen."""
    if os.environ.get(NUMBA_LAYER_ENV):
        return
    os.environ[NUMBA_LAYER_ENV] = "forksafe"  # read when numba is imported
    numba = sys.modules.get("numba")
    if numba is not None:  # imported already: its config was read, set it there too
        numba.config.THREADING_LAYER = "forksafe"


def numba_layer_unsafe_for_fork() -> str | None:
    """The reason a forked child cannot launch numba kernels, or ``None``.

    Set when numba's GNU OpenMP layer already runs in this process (a caller started it before
    importing the benchmark, or chose it with ``NUMBA_THREADING_LAYER=omp``).
    """
    numba = sys.modules.get("numba")
    if numba is None:
        return None
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel kernel launched yet: the layer is still to be chosen
        return None
    if layer == "omp":
        return ("numba's GNU OpenMP threading layer was started in the parent process, and numba ends a forked "
                "child that uses it (SIGTERM); set NUMBA_THREADING_LAYER=workqueue (or install tbb) before "
                "importing numba or scanpy")
    return None


def run_in_fresh_thread(fn: Callable[[], int]) -> int:
    """Run ``fn`` in a new thread of this (forked) process and return its result.

    A new thread owns no OpenMP pool, so its parallel regions start their own workers instead of
    waiting for the parent's. ``fn`` must handle its own exceptions; one that escapes gives 1.
    """
    result = [1]

    def target() -> None:
        result[0] = fn()

    thread = threading.Thread(target=target, name="benchmark-job")
    thread.start()
    thread.join()
    return result[0]
