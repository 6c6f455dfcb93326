"""Where the suite looks for data and caches."""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable naming the data directory (real datasets such as osmFISH).
DATA_DIR_ENV = "ST_IMPUTE_BENCH_DATA"

_REPO_ROOT = Path(__file__).resolve().parent.parent


def default_data_dir() -> Path:
    """The data directory: ``$ST_IMPUTE_BENCH_DATA``, else ``../shared/data`` beside a checkout,
    else ``~/.cache/st-impute-bench/data``."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    shared = _REPO_ROOT.parent / "shared" / "data"
    if shared.is_dir():
        return shared
    return Path.home() / ".cache" / "st-impute-bench" / "data"


def repo_root() -> Path:
    return _REPO_ROOT
