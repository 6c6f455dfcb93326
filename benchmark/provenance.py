"""Where a number came from: code version, package versions, machine."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
import subprocess
import sys
from functools import lru_cache
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
    import os

    return {"platform": platform.platform(), "processor": platform.machine(), "cpus": os.cpu_count(),
            "python_executable": sys.executable}


def stable_hash(obj: Any, length: int = 16) -> str:
    """Hash of a JSON-serialisable object, independent of dict order."""
    blob = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:length]
