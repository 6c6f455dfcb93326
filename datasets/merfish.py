"""MERFISH mouse nucleus accumbens (Chen et al. 2021), one slice, spatial only.

``merfish_nucleus_accumbens`` (``merfish_nucleus_accumbens.h5ad``, from the iSpatial repository):
6,000 cells of slice 10 x 253 genes in the file; run it as ``self:merfish_nucleus_accumbens``.
Quirks:

* **X is volume-normalised** (counts divided by the cell's volume, 0.02-2.63), declared
  ``normalized``: not integer counts, but proportional to counts within a cell, so the run's
  total-count normalisation (which cancels any per-cell factor) still applies.
* one gene name was turned into a date by a spreadsheet program: ``3/1/2018`` is restored as
  ``March1`` (month 3, day 1: the mouse symbol of the time, MGI ``Marchf1`` since 2019); the
  source name is kept in ``var["source_name"]``. Any other date-like name stops the load.
* 5 genes (Chrna3, Penk, Sst, Tacr1, Tmem212) are zero in every cell of the file (probably
  measured in rounds the export left out): the loader drops them, since a gene with no signal
  cannot be scored (its correlation is undefined). 248 genes remain.
* labels: ``obs["CellType"]`` (8 types). ``CellTypes`` is the same grouping with a misspelled
  ``Oligodenrocyte``; ``NewAnno`` has 40 subtypes, not 8 as the data MANIFEST says.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import register_dataset
from .base import DatasetSpec, PairedData
from .io import read_anndata
from .quirks import fix_mangled_names

FILES = {
    "merfish_nucleus_accumbens.h5ad": "4efa50c42c905a09db1541caedd8ce3960e33f37728026feac733ae4a0ae5921",
}

#: Spreadsheet-mangled gene names of the release and the names restored.
MANGLED = {"3/1/2018": "March1"}


def load_merfish_nucleus_accumbens(data_dir: Path) -> PairedData:
    spatial = read_anndata(Path(data_dir) / "merfish_nucleus_accumbens.h5ad", "MERFISH nucleus accumbens file")
    spatial.var["source_name"] = list(spatial.var_names)
    spatial.var_names = fix_mangled_names(list(spatial.var_names), MANGLED)
    detected = np.asarray((spatial.X != 0).sum(axis=0)).ravel() > 0
    dropped = list(spatial.var_names[~detected])
    spatial = spatial[:, detected].copy()
    return PairedData(
        name="merfish_nucleus_accumbens",
        spatial=spatial,
        reference=None,
        label_key="CellType",
        spatial_key="spatial",
        meta={"source": "Chen et al. 2021 MERFISH nucleus accumbens (slice 10, 6,000 cells), via Czh3/iSpatial",
              "files": FILES, "renamed_genes": dict(MANGLED), "dropped_all_zero_genes": dropped},
        spatial_values="normalized",
    )


register_dataset(
    DatasetSpec(
        name="merfish_nucleus_accumbens",
        summary="MERFISH mouse nucleus accumbens (Chen et al. 2021), 6,000 cells x 248 genes, 8 cell types, "
        "volume-normalised (not counts); spatial-only, run as self:merfish_nucleus_accumbens.",
        loader=load_merfish_nucleus_accumbens,
        technology="MERFISH",
        tissue="mouse nucleus accumbens",
        organism="Mus musculus",
        source="Czh3/iSpatial at ea12be2, data/NA_merFISH.rda (MIT)",
        citation="Chen et al., Nat. Neurosci. 24:1757 (2021)",
        files=tuple(FILES),
        sha256=dict(FILES),
        kind="spatial",
        n_spatial_cells=6000,
        n_genes=248,
        label_key="CellType",
        spatial_key="spatial",
        spatial_values="normalized",
        coordinate_dims=2,
        notes="X is volume-normalised (declared 'normalized': per-cell scaled counts, not integers). Gene "
        "'3/1/2018' (spreadsheet date) restored as March1 (MGI Marchf1), source name in var['source_name']. "
        "The file's 253 genes include 5 with no signal in any cell (Chrna3, Penk, Sst, Tacr1, Tmem212), "
        "dropped. One slice, one coordinate frame.",
    )
)
