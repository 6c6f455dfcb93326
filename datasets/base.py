"""A paired spatial + reference data set, and the registry entry (manifest) that loads one."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import anndata as ad
import pandas as pd

from benchmark.errors import InputError


@dataclass
class PairedData:
    """Raw counts of a spatial data set and its scRNA-seq reference.

    Attributes
    ----------
    name
        Dataset name used in results.
    spatial, reference
        AnnData objects with raw counts in ``X`` (cells x genes). ``reference`` is ``None`` for a
        spatial-only data set (usable through self-pairing, see :mod:`benchmark.datasets.self_pair`).
    label_key
        Column of ``spatial.obs`` with known cell types (for cluster metrics), or ``None``.
    spatial_key
        Key of ``spatial.obsm`` with coordinates, or ``None``.
    gene_embeddings
        Optional genes x dimensions table (e.g. ESM-2 protein embeddings).
    meta
        Facts about the data (source, generator parameters) kept in provenance.
    duplicate_key
        Boolean column of ``spatial.obs`` flagging cells that the source release duplicated
        (identical coordinates and counts), or ``None``. Cell splits keep each duplicate group on
        one side.
    """

    name: str
    spatial: ad.AnnData
    reference: ad.AnnData | None
    label_key: str | None = None
    spatial_key: str | None = None
    gene_embeddings: pd.DataFrame | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    duplicate_key: str | None = None


def sha256_of(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class DatasetSpec:
    """Registry entry of a dataset: its manifest (what it is, where it comes from) and its loader.

    ``loader(data_dir)`` returns a :class:`PairedData`. ``files`` are paths relative to the
    data directory (empty for built-in data), with their sha256 in ``sha256``.

    Attributes
    ----------
    kind
        ``"paired"`` (spatial + reference) or ``"spatial"`` (spatial only; run it as ``self:NAME``).
    n_spatial_cells, n_reference_cells, n_genes
        Counts as loaded (after the loader's documented filtering), for the manifest.
    label_key, spatial_key, duplicate_key
        Keys of the loaded spatial data (cell types, coordinates, source-duplicate flag).
    notes
        Anything a user must know (filters applied, quirks of the release).
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
    kind: str = "paired"
    n_spatial_cells: int | None = None
    n_reference_cells: int | None = None
    n_genes: int | None = None
    label_key: str | None = None
    spatial_key: str | None = None
    duplicate_key: str | None = None
    notes: str = ""

    def missing_files(self, data_dir: Path) -> list[Path]:
        return [Path(data_dir) / f for f in self.files if not (Path(data_dir) / f).is_file()]

    def availability(self, data_dir: Path) -> tuple[bool, str]:
        missing = self.missing_files(data_dir)
        if missing:
            return False, f"missing {', '.join(str(m) for m in missing)} (set --data-dir or $ST_IMPUTE_BENCH_DATA)"
        return True, ""

    def verify(self, data_dir: Path) -> dict[str, str]:
        """Check every file's sha256 against the manifest; return file -> sha256.

        Raises
        ------
        InputError
            If a file is missing, or its sha256 differs from the manifest's (naming both).
        """
        data_dir = Path(data_dir)
        self.require_files(data_dir)
        out = {}
        for f in self.files:
            got = sha256_of(data_dir / f)
            want = self.sha256.get(f)
            if want is not None and got != want:
                raise InputError(
                    f"dataset {self.name!r}: file {data_dir / f} has sha256 {got}, but the manifest expects {want}. "
                    "The file is corrupt or a different version; download it again or point --data-dir at the "
                    "right copy."
                )
            out[f] = got
        return out

    def require_files(self, data_dir: Path) -> None:
        """Raise an :class:`InputError` naming each missing file and the folder searched."""
        missing = self.missing_files(data_dir)
        if missing:
            raise InputError(
                f"dataset {self.name!r} needs {', '.join(m.name for m in missing)}, which was not found: looked "
                f"for {', '.join(str(m) for m in missing)} in the data directory {data_dir}. Point --data-dir or "
                "$ST_IMPUTE_BENCH_DATA at the folder that holds it"
                + ("; `python -m benchmark download --list` shows the files that can be fetched." if not
                   self.builtin else ".")
            )

    def manifest(self, data_dir: Path | None = None) -> dict[str, Any]:
        """The manifest entry as a flat dict (what ``ls datasets --long`` prints)."""
        where = "built-in (generated)" if self.builtin else (str(data_dir) if data_dir is not None else "data directory")
        entry: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "summary": self.summary,
            "technology": self.technology,
            "tissue": self.tissue,
            "organism": self.organism,
            "spatial cells": self.n_spatial_cells,
            "reference cells": self.n_reference_cells if self.kind == "paired" else "none (spatial only; use self:"
            + self.name + ")",
            "genes": self.n_genes,
            "label key": self.label_key,
            "coordinate key": self.spatial_key,
            "duplicate flag": self.duplicate_key,
            "source": self.source,
            "citation": self.citation,
            "files": {f: self.sha256.get(f, "") for f in self.files} or "none",
            "read from": where,
            "default": self.default,
            "notes": self.notes,
        }
        if data_dir is not None and not self.builtin:
            ok, reason = self.availability(Path(data_dir))
            entry["available"] = "yes" if ok else f"no: {reason}"
        return entry
