"""Where a number came from: code version, package versions, machine."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from . import __version__
from .config import repo_root

#: Distributions whose versions every run records.
TRACKED_PACKAGES = (
    "numpy", "scipy", "pandas", "anndata", "scikit-learn", "igraph", "leidenalg", "pyarrow",
    "torch", "torch-geometric", "scvi-tools", "tangram-sc", "tissue-sc", "stPlus", "transpa",
    "uniport", "novosparc", "moscot", "harmonypy", "scanorama", "pyliger", "cellpin", "fair-esm",
)


@lru_cache(maxsize=1)
def git_commit() -> str:
    """Commit of the checkout the code runs from, ``+dirty`` if it has uncommitted changes."""
    root = repo_root()
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except Exception:
        return "unknown"


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "st-impute-bench": __version__}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def machine() -> dict[str, Any]:
    """The machine a run ran on.

    The CPU model and its widest vector instruction set are recorded because floating-point
    libraries (BLAS, torch) pick their kernels by them: a trained method's numbers can differ in
    the third decimal between two hosts with identical packages and code. Thread limits set in the
    environment and the load average when the run started are recorded because they set the
    timings: on 2 cores, a fold's time has varied twentyfold with the machine's load.
    """
    import os

    limits = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
              if k in os.environ}
    try:
        load = round(os.getloadavg()[0], 2)
    except OSError:  # not available on this platform
        load = None
    return {"platform": platform.platform(), "processor": platform.machine(), "cpus": os.cpu_count(),
            "python_executable": sys.executable, **_cpu(), "thread_limits": limits, "load_average_1min": load}


def _cpu() -> dict[str, str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux
        return {}
    first = text.split("\n\n", 1)[0]  # the first processor's block
    fields = {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in first.splitlines() if ":" in line)}
    flags = set(fields.get("flags", "").split())
    simd = next((f for f in ("avx512f", "avx2", "avx", "sse4_2") if f in flags), "")
    return {"cpu_model": fields.get("model name", ""), "cpu_simd": simd}


def stable_hash(obj: Any, length: int = 16) -> str:
    """Hash of a JSON-serialisable object, independent of dict order."""
    blob = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:length]
