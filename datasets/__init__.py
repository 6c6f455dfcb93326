"""Registry of datasets: built-in generators and real data read from the data directory.

Each module in this folder may call :func:`register_dataset`; modules are imported on first use.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from benchmark.config import default_data_dir
from benchmark.errors import InputError, UnknownNameError

from .base import DatasetSpec, PairedData

_REGISTRY: dict[str, DatasetSpec] = {}
_DISCOVERED = False
_NOT_DATASET_MODULES = {"base", "io", "validation", "preprocessing", "embeddings"}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    if spec.name in _REGISTRY and _REGISTRY[spec.name] != spec:
        raise ValueError(f"two datasets are registered as {spec.name!r}")
    _REGISTRY[spec.name] = spec
    return spec


def _discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    _DISCOVERED = True
    for mod in pkgutil.iter_modules(__path__):
        if mod.name not in _NOT_DATASET_MODULES and not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}")


def all_datasets() -> dict[str, DatasetSpec]:
    _discover()
    return dict(sorted(_REGISTRY.items()))


def get_dataset_spec(name: str) -> DatasetSpec:
    specs = all_datasets()
    if name not in specs:
        raise UnknownNameError("dataset", name, list(specs))
    return specs[name]


def load_dataset(name: str, data_dir: str | Path | None = None) -> PairedData:
    """Load a registered dataset; a missing file gives an :class:`InputError` naming it."""
    spec = get_dataset_spec(name)
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    missing = spec.missing_files(data_dir)
    if missing:
        raise InputError(
            f"dataset {name!r} needs {', '.join(str(m) for m in missing)}, which does not exist. "
            f"Looked in the data directory {data_dir}; point --data-dir or $ST_IMPUTE_BENCH_DATA "
            "at the folder that holds it."
        )
    return spec.loader(data_dir)


def default_datasets() -> list[str]:
    return [n for n, s in all_datasets().items() if s.default]


__all__ = [
    "DatasetSpec",
    "PairedData",
    "register_dataset",
    "all_datasets",
    "get_dataset_spec",
    "load_dataset",
    "default_datasets",
]
