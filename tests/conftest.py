"""Shared fixtures: small built-in data, temporary method registration, the real data directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmark.config import default_data_dir
from benchmark.datasets.synthetic import make_synthetic_pair

IN_CI = os.environ.get("CI", "").lower() == "true"

# Test problems are tiny: one torch thread is faster than two, and far faster when the two
# cores are busy with anything else (idle OpenMP threads spin and starve each other).
try:
    import torch

    torch.set_num_threads(1)
except ImportError:
    pass


@pytest.fixture
def tiny_pair():
    """A fresh small pair (300 spatial cells x 15 genes; reference 400 x 35)."""
    return make_synthetic_pair(
        n_spatial=300, n_reference=400, n_shared=15, n_reference_only=20, n_types=4, n_modules=4, seed=1,
        name="tiny",
    )


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real data directory. Missing files skip on a user's clone, but fail in CI."""
    d = default_data_dir()
    needed = ["osmfish_spatial.h5ad", "osmfish_reference.h5ad", "osmfish_full.h5ad", "esm2_osmfish.parquet"]
    missing = [f for f in needed if not (d / f).is_file()]
    if missing:
        msg = f"real data not found in {d}: {missing} (set $ST_IMPUTE_BENCH_DATA)"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return d
