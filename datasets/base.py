"""A paired spatial + reference data set, and the registry entry that loads one."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import anndata as ad
import pandas as pd


@dataclass
class PairedData:
    """Raw counts of a spatial data set and its scRNA-seq reference.

    Attributes
    ----------
    name
        Dataset name used in results.
    spatial, reference
        AnnData objects with raw counts in ``X`` (cells x genes).
    label_key
        Column of ``spatial.obs`` with known cell types (for cluster metrics), or ``None``.
    spatial_key
        Key of ``spatial.obsm`` with coordinates, or ``None``.
    gene_embeddings
        Optional genes x dimensions table (e.g. ESM-2 protein embeddings).
    meta
        Facts about the data (source, generator parameters) kept in provenance.
    """

    name: str
    spatial: ad.AnnData
    reference: ad.AnnData
    label_key: str | None = None
    spatial_key: str | None = None
    gene_embeddings: pd.DataFrame | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetSpec:
    """Registry entry of a dataset: what it is and how to load it.

    ``loader(data_dir)`` returns a :class:`PairedData`. ``files`` are paths relative to the
    data directory (empty for built-in data), with their sha256 in ``sha256``.
    """

    name: str
    summary: str
    loader: Callable[[Path], PairedData]
    technology: str = ""
    tissue: str = ""
    organism: str = ""
    source: str = ""
    citation: str = ""
    files: tuple[str, ...] = ()
    sha256: dict[str, str] = field(default_factory=dict)
    builtin: bool = False
    default: bool = False

    def missing_files(self, data_dir: Path) -> list[Path]:
        return [Path(data_dir) / f for f in self.files if not (Path(data_dir) / f).is_file()]

    def availability(self, data_dir: Path) -> tuple[bool, str]:
        missing = self.missing_files(data_dir)
        if missing:
            return False, f"missing {', '.join(str(m) for m in missing)} (set --data-dir or $ST_IMPUTE_BENCH_DATA)"
        return True, ""
