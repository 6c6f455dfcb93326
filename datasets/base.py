"""A paired spatial + reference data set, and the registry entry (manifest) that loads one."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import anndata as ad
import pandas as pd

from benchmark.errors import InputError

#: What a data set's ``X`` may hold, with what it means for preprocessing. A dataset declares one
#: kind per side (``PairedData.spatial_values`` / ``reference_values``), because the two sides of a
#: pair can differ (BDTNP: in situ intensities against a log-normalised reference).
VALUE_KINDS: dict[str, str] = {
    "counts": "raw molecule or read counts (integers); normalised by the run's preprocessing",
    "normalized": "counts divided by a per-cell factor (e.g. MERFISH volume normalisation), not logged; the "
    "run's total-count normalisation cancels the per-cell factor, so it still applies, but the values are not "
    "integer counts",
    "lognorm": "already normalised and log-transformed (e.g. log1p of counts per 10,000); must not be "
    "normalised or logged again",
    "intensity": "continuous in situ intensities (not molecule counts); must not be count-normalised or logged",
    "rank": "rank or quantile-transformed values (one scale shared by both sides); must not be normalised or "
    "logged",
}

#: Kinds that the run's preprocessing (total-count normalisation + log1p, etc.) may be applied to.
NORMALIZABLE_VALUES = frozenset({"counts", "normalized"})


def check_value_kind(kind: str, what: str = "values") -> str:
    """Return ``kind`` if it is one of :data:`VALUE_KINDS`, else raise naming the valid kinds."""
    if kind not in VALUE_KINDS:
        raise InputError(f"{what} must be one of {', '.join(VALUE_KINDS)} (what X holds), not {kind!r}")
    return kind


def is_normalizable(kind: str) -> bool:
    """Whether the run's count preprocessing may be applied to values of this kind."""
    return check_value_kind(kind) in NORMALIZABLE_VALUES


def is_raw_counts(kind: str) -> bool:
    """Whether values of this kind are raw counts (what a method that needs counts requires)."""
    return check_value_kind(kind) == "counts"


@dataclass
class PairedData:
    """A spatial data set and its scRNA-seq reference (raw counts unless declared otherwise).

    Attributes
    ----------
    name
        Dataset name used in results.
    spatial, reference
        AnnData objects, cells x genes, with raw counts in ``X`` unless ``spatial_values`` /
        ``reference_values`` say otherwise. ``reference`` is ``None`` for a spatial-only data set
        (usable through self-pairing, see :mod:`benchmark.datasets.self_pair`).
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
    field_key
        Column of ``spatial.obs`` naming the coordinate frame of each cell (imaging field of view,
        tissue section), or ``None`` when all cells share one frame. Cells with different values
        must never be compared spatially (neighbours, rasterised maps, spatial metrics); a
        self-pair split is stratified by it.
    spatial_values, reference_values
        What ``X`` holds on each side: a key of :data:`VALUE_KINDS` (default ``"counts"``). Only
        ``counts`` and ``normalized`` may be count-normalised and logged by the run's
        preprocessing; see docs/datasets.md, "Data that are not counts". Both are also recorded in
        ``meta["values"]`` (provenance).
    """

    name: str
    spatial: ad.AnnData
    reference: ad.AnnData | None
    label_key: str | None = None
    spatial_key: str | None = None
    gene_embeddings: pd.DataFrame | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    duplicate_key: str | None = None
    field_key: str | None = None
    spatial_values: str = "counts"
    reference_values: str = "counts"

    def __post_init__(self) -> None:
        check_value_kind(self.spatial_values, f"dataset {self.name!r}: spatial_values")
        check_value_kind(self.reference_values, f"dataset {self.name!r}: reference_values")
        # run.json records meta, not the dataclass fields: keep the declaration visible there
        self.meta = {**self.meta, "values": {"spatial": self.spatial_values, "reference": self.reference_values}}
        if self.field_key is not None:
            self.meta["field_key"] = self.field_key


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
    label_key, spatial_key, duplicate_key, field_key
        Keys of the loaded spatial data (cell types, coordinates, source-duplicate flag, coordinate
        frame: imaging field or section; see :class:`PairedData`).
    spatial_values, reference_values
        What ``X`` holds on each side (a key of :data:`VALUE_KINDS`).
    coordinate_dims
        Columns of the coordinates (2, or 3 for a 3-D atlas).
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
    field_key: str | None = None
    spatial_values: str = "counts"
    reference_values: str = "counts"
    coordinate_dims: int | None = None
    notes: str = ""

    def __post_init__(self) -> None:
        check_value_kind(self.spatial_values, f"dataset {self.name!r}: spatial_values")
        check_value_kind(self.reference_values, f"dataset {self.name!r}: reference_values")

    def values_summary(self) -> str:
        """``"counts"`` when both sides hold counts, else ``"spatial: KIND, reference: KIND"``."""
        if self.kind == "spatial" or self.spatial_values == self.reference_values:
            return self.spatial_values
        return f"spatial: {self.spatial_values}, reference: {self.reference_values}"

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
            "label key": self.label_key or "none (no cell-type labels: no cluster metrics)",
            "coordinate key": self.spatial_key,
            "coordinate dims": self.coordinate_dims,
            "field key": self.field_key or "none (one coordinate frame)",
            "values (X)": self.values_summary(),
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
