"""osmFISH mouse somatosensory cortex (Codeluppi et al. 2018) with its paired SMART-seq reference.

Read from the data directory (see ``shared/data/MANIFEST.md`` in the project's shared folder):
``osmfish_spatial.h5ad`` (3,405 cells x 33 genes, labels in ``obs["ClusterName"]``),
``osmfish_reference.h5ad`` (5,613 cells x 33 genes) and ``esm2_osmfish.parquet``
(ESM-2 embeddings of 275 genes, all 33 panel genes included).

``osmfish_full`` is the original release (``osmfish_full.h5ad``, 6,471 cells); it has no
scRNA-seq partner and is registered as spatial-only, run as ``self:osmfish_full``. Its loader
keeps the 4,839 cells with ``Valid == 1`` (the others are labelled ``Excluded``, and 41 of them
are empty). Both osmFISH files flag the release's duplicated cells in ``obs["source_duplicate"]``.
"""

from __future__ import annotations

from pathlib import Path

from . import register_dataset
from .base import DatasetSpec, PairedData
from .io import read_anndata, read_embeddings

FULL_FILES = {
    "osmfish_full.h5ad": "ecd955203f80035728babbf38780c69081588660c06b88a035ec8ad60fa671fa",
    "esm2_osmfish.parquet": "6db8b5c8c111e7d5dc9ca767408112415f9513810cffb07a691c4cc018736f9d",
}

FILES = {
    "osmfish_spatial.h5ad": "c6f68fb61e839c5e301dac8f75970276f5be0aacb7a61b210a6454b16a13b8ff",
    "osmfish_reference.h5ad": "320e9be9e330b294297d7e51925e07134e68d13cdcebc721d0bcfdb0b291e503",
    "esm2_osmfish.parquet": "6db8b5c8c111e7d5dc9ca767408112415f9513810cffb07a691c4cc018736f9d",
}


def load_osmfish(data_dir: Path) -> PairedData:
    data_dir = Path(data_dir)
    spatial = read_anndata(data_dir / "osmfish_spatial.h5ad", "osmFISH spatial file")
    reference = read_anndata(data_dir / "osmfish_reference.h5ad", "osmFISH reference file")
    emb = read_embeddings(data_dir / "esm2_osmfish.parquet")
    return PairedData(
        name="osmfish",
        spatial=spatial,
        reference=reference,
        label_key="ClusterName",
        spatial_key="spatial",
        gene_embeddings=emb,
        meta={"source": "Codeluppi et al. 2018 (osmFISH) + Allen SMART-seq reference, via stDiff", "files": FILES},
        duplicate_key="source_duplicate",
    )


def load_osmfish_full(data_dir: Path) -> PairedData:
    """The original osmFISH release, ``Valid == 1`` cells only (4,839 of 6,471); spatial-only."""
    data_dir = Path(data_dir)
    full = read_anndata(data_dir / "osmfish_full.h5ad", "osmFISH full file")
    valid = full.obs["Valid"].to_numpy() == 1
    spatial = full[valid].copy()
    emb = read_embeddings(data_dir / "esm2_osmfish.parquet")
    return PairedData(
        name="osmfish_full",
        spatial=spatial,
        reference=None,
        label_key="ClusterName",
        spatial_key="spatial",
        gene_embeddings=emb,
        meta={"source": "Codeluppi et al. 2018 osmFISH loom (Linnarsson lab), via DSSC", "files": FULL_FILES,
              "filter": "Valid == 1"},
        duplicate_key="source_duplicate",
    )


register_dataset(
    DatasetSpec(
        name="osmfish",
        summary="osmFISH SSp cortex, 3,405 cells x 33 genes, 31 labelled cell types; paired SMART-seq reference "
        "(5,613 cells); ESM-2 gene embeddings.",
        loader=load_osmfish,
        technology="osmFISH",
        tissue="mouse somatosensory cortex",
        organism="Mus musculus",
        source="stDiff repository (fdu-wangfeilab/stDiff), data of Codeluppi et al. 2018",
        citation="Codeluppi et al., Nat. Methods 15:932 (2018)",
        files=tuple(FILES),
        sha256=dict(FILES),
        n_spatial_cells=3405,
        n_reference_cells=5613,
        n_genes=33,
        label_key="ClusterName",
        spatial_key="spatial",
        duplicate_key="source_duplicate",
        notes="634 spatial cells are 317 pairs duplicated in the source release (same coordinates and counts); "
        "cell splits keep each pair on one side. Reference has no labels; SMART-seq read counts.",
    )
)

register_dataset(
    DatasetSpec(
        name="osmfish_full",
        summary="osmFISH SSp cortex, original release: 4,839 valid cells (of 6,471) x 33 genes, 31 cell types, "
        "coordinates; spatial-only, run as self:osmfish_full.",
        loader=load_osmfish_full,
        technology="osmFISH",
        tissue="mouse somatosensory cortex (and hippocampus, white matter, ventricle)",
        organism="Mus musculus",
        source="original Linnarsson-lab loom (osmFISH_SScortex_mouse_all_cells.loom), via xianglin226/DSSC "
        "at e2830686868c6e786e140053a03a6cc15d334879",
        citation="Codeluppi et al., Nat. Methods 15:932 (2018)",
        files=tuple(FULL_FILES),
        sha256=dict(FULL_FILES),
        kind="spatial",
        n_spatial_cells=4839,
        n_genes=33,
        label_key="ClusterName",
        spatial_key="spatial",
        duplicate_key="source_duplicate",
        notes="The file holds 6,471 cells; the loader keeps the 4,839 with Valid == 1 (the others are 'Excluded', "
        "41 are empty). 1,056 cells of the file are 528 duplicated pairs (same coordinates and counts); splits "
        "keep each pair on one side. Self-pairing is a proxy without a platform effect.",
    )
)
