"""Resolve Molecular Cartography, mouse cortex: 3 sections, raw counts, spatial only.

``molecular_cartography_cortex`` (``molecular_cartography_cortex.h5ad``, from the SpatialNF
examples): 11,775 cells x 100 genes from three sections (``obs["sample"]``: A1, A2, B1), raw
counts, no cell-type labels; run it as ``self:molecular_cartography_cortex``.

Each section's coordinates are in its own frame (all three start near the origin), so the loader
keeps them in ``obsm["spatial_field"]`` and places the sections side by side in
``obsm["spatial"]`` (:func:`benchmark.datasets.quirks.tile_fields`); ``field_key`` is
``"sample"``. A self-pair split is stratified by section: each section gives the same share of
its cells to the reference. Splitting by whole sections instead (reference = one section, spatial
= the others) would add a batch effect, but three sections of unequal size cannot give the
requested fraction, so the stratified split is the default; see docs/datasets.md.
"""

from __future__ import annotations

from pathlib import Path

from . import register_dataset
from .base import DatasetSpec, PairedData
from .io import read_anndata
from .quirks import separate_fields

FILES = {
    "molecular_cartography_cortex.h5ad": "d7d02faebdff5062fd29a755ae439dad22b7b324add9a2b966acdf7d23787ef8",
}


def load_molecular_cartography_cortex(data_dir: Path) -> PairedData:
    spatial = read_anndata(Path(data_dir) / "molecular_cartography_cortex.h5ad", "Molecular Cartography file")
    separate_fields(spatial, "sample")
    return PairedData(
        name="molecular_cartography_cortex",
        spatial=spatial,
        reference=None,
        spatial_key="spatial",
        meta={"source": "Resolve Molecular Cartography mouse cortex, via aertslab/SpatialNF examples",
              "files": FILES,
              "coordinates": "per-section in obsm['spatial_field']; sections tiled side by side in obsm['spatial']"},
        field_key="sample",
    )


register_dataset(
    DatasetSpec(
        name="molecular_cartography_cortex",
        summary="Resolve Molecular Cartography mouse cortex, 11,775 cells x 100 genes from 3 sections, raw counts, "
        "no labels; spatial-only, run as self:molecular_cartography_cortex.",
        loader=load_molecular_cartography_cortex,
        technology="Molecular Cartography (Resolve Biosciences)",
        tissue="mouse cortex",
        organism="Mus musculus",
        source="aertslab/SpatialNF at a5fac24, examples/data/mouse_cortex_molecular_cartography/{A1,A2,B1} (GPL-3)",
        citation="as the file's uns['source'] gives it: Bravo Gonzalez-Blas et al., Nat. Methods 20:1355 (2023) "
        "(SCENIC+); data of the SpatialNF examples",
        files=tuple(FILES),
        sha256=dict(FILES),
        kind="spatial",
        n_spatial_cells=11775,
        n_genes=100,
        spatial_key="spatial",
        field_key="sample",
        coordinate_dims=2,
        notes="Three sections (obs['sample']: A1 3,522, A2 3,794, B1 4,459 cells), each in its own coordinate "
        "frame: kept in obsm['spatial_field'], tiled side by side in obsm['spatial']. Self-pair splits are "
        "stratified by section.",
    )
)
