"""Registry of datasets: built-in generators and real data read from the data directory.

Each module in this folder may call :func:`register_dataset`; modules are imported on first use.
A registered spatial-only dataset ``NAME`` can be run as ``self:NAME``: its cells are split into a
reference half and a spatial half (see :mod:`benchmark.datasets.self_pair`).
"""

from __future__ import annotations

from pathlib import Path

from benchmark.config import default_data_dir
from benchmark.errors import InputError, UnknownNameError
from benchmark.registry import Registry

from .base import VALUE_KINDS, DatasetSpec, PairedData

#: Modules of this folder that define no dataset (readers, preprocessing, helpers).
_NOT_DATASET_MODULES = {"base", "io", "validation", "preprocessing", "embeddings", "download", "self_pair", "hvg",
                        "quirks"}

#: Prefix of a dataset name that asks for a self-paired version of a spatial data set.
SELF_PREFIX = "self:"

#: Entry-point group through which installed packages register datasets (a module that calls
#: :func:`register_dataset`, or a :class:`DatasetSpec`).
ENTRY_POINT_GROUP = "st_impute_bench.datasets"


def _check_spec(spec: DatasetSpec) -> None:
    if not isinstance(spec, DatasetSpec):
        raise ValueError(f"a dataset must be registered as a DatasetSpec, not a {type(spec).__name__}")
    if spec.kind not in ("paired", "spatial"):
        raise ValueError(f"dataset {spec.name!r}: kind must be 'paired' or 'spatial', not {spec.kind!r}")


#: The dataset registry: this folder's modules, then the entry points of :data:`ENTRY_POINT_GROUP`.
#: A dataset module needs nothing optional, so one that fails to import is an error, not a note.
REGISTRY: Registry[DatasetSpec] = Registry(
    "dataset",
    key=lambda spec: spec.name,
    package=__name__,
    skip_modules=_NOT_DATASET_MODULES,
    entry_point_group=ENTRY_POINT_GROUP,
    accepts=lambda obj: isinstance(obj, DatasetSpec),
    accepts_what="a module or a DatasetSpec",
    validate=_check_spec,
    tolerate_broken=False,
)


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Add a dataset to the registry under ``spec.name``.

    Raises
    ------
    ValueError
        For a kind other than ``"paired"`` or ``"spatial"``, or a name already registered by a
        different spec.
    """
    return REGISTRY.register(spec)


def all_datasets() -> dict[str, DatasetSpec]:
    """Registered datasets by name (available or not)."""
    return REGISTRY.all()


def get_dataset_spec(name: str) -> DatasetSpec:
    specs = all_datasets()
    base = name[len(SELF_PREFIX):] if name.startswith(SELF_PREFIX) else name
    if base not in specs:
        valid = list(specs) + [SELF_PREFIX + n for n in specs]
        raise UnknownNameError("dataset", name, valid)
    return specs[base]


def load_dataset(
    name: str,
    data_dir: str | Path | None = None,
    *,
    verify: bool = False,
    self_pair_seed: int = 0,
    self_pair_fraction: float = 0.5,
) -> PairedData:
    """Load a registered dataset.

    Parameters
    ----------
    name
        A registered name, or ``self:NAME`` for a self-paired split of dataset ``NAME``.
    data_dir
        Where real data files are read from (default: :func:`benchmark.config.default_data_dir`).
    verify
        Check each file's sha256 against the manifest before reading it.
    self_pair_seed, self_pair_fraction
        Seed and reference fraction of the cell split of a ``self:`` dataset.

    Raises
    ------
    InputError
        A missing file (naming it and the folder searched), a wrong sha256, or a spatial-only
        dataset asked for without ``self:``.
    """
    spec = get_dataset_spec(name)
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    spec.require_files(data_dir)
    if verify:
        spec.verify(data_dir)
    want_self = name.startswith(SELF_PREFIX)
    if spec.kind == "spatial" and not want_self:
        raise InputError(
            f"dataset {name!r} is spatial-only (no scRNA-seq reference); run it as '{SELF_PREFIX}{name}', "
            "which splits its cells into a reference half and a spatial half"
        )
    data = spec.loader(data_dir)
    if want_self:
        from .self_pair import make_self_pair

        data = make_self_pair(data, seed=self_pair_seed, reference_fraction=self_pair_fraction)
    return data


def default_datasets() -> list[str]:
    return [n for n, s in all_datasets().items() if s.default]


__all__ = [
    "DatasetSpec",
    "PairedData",
    "VALUE_KINDS",
    "SELF_PREFIX",
    "REGISTRY",
    "ENTRY_POINT_GROUP",
    "register_dataset",
    "all_datasets",
    "get_dataset_spec",
    "load_dataset",
    "default_datasets",
]
