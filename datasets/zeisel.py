"""osmFISH (Codeluppi et al. 2018) paired with the Zeisel et al. 2015 STRT-seq UMI reference.

Two pairs share the reference ``zeisel2015_reference.h5ad`` (550 cells of mouse somatosensory
cortex and CA1, whole transcriptome, the 11 cell types harmonised with osmFISH by gpsFISH):

* ``osmfish_gpsfish_zeisel``: ``osmfish_gpsfish_spatial.h5ad``, gpsFISH's balanced subsample of
  537 osmFISH cells (about 50 per type) with the same 11 labels in ``obs["cell_type"]``;
* ``osmfish_full_zeisel``: the 4,839 valid cells of the original osmFISH release
  (``osmfish_full.h5ad``, as :func:`benchmark.datasets.osmfish.load_osmfish_full`), labels
  ``obs["ClusterName"]`` (31 types).

Unlike the ``osmfish`` pair (33-gene SMART-seq reference), the reference measures far more genes
than the panel: 19,972 in the file, of which the loader drops the 2,078 that are zero in all 550
cells (they cannot inform any method, and some methods' scaling divides by a gene's variance).
Both sides are raw counts. The ESM-2 embeddings of the osmFISH genes are attached as for
``osmfish``.
"""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np

from . import register_dataset
from .base import DatasetSpec, PairedData
from .io import read_anndata, read_embeddings
from .osmfish import FULL_FILES, load_osmfish_full
from .self_pair import duplicate_groups

REFERENCE_FILE = {"zeisel2015_reference.h5ad": "7d4c4ce10e4547c03da8b366884e76faeb384af3d23cc970be547c88da186912"}
EMBEDDINGS = {"esm2_osmfish.parquet": "6db8b5c8c111e7d5dc9ca767408112415f9513810cffb07a691c4cc018736f9d"}
GPSFISH_FILES = {
    "osmfish_gpsfish_spatial.h5ad": "b66d9b7234db1ab2fd0fb6b619b5ee6fe3cf051880741661ef9dc40d6a03d7b0",
    **REFERENCE_FILE,
    **EMBEDDINGS,
}
FULL_ZEISEL_FILES = {**FULL_FILES, **REFERENCE_FILE}

#: Zeisel reference genes after dropping those that are zero in every one of the 550 cells.
N_REFERENCE_GENES = 17_894
ZEISEL_CITATION = "Zeisel et al., Science 347:1138 (2015) (reference); Codeluppi et al., Nat. Methods 15:932 (2018)"
ZEISEL_SOURCE = ("gpsFISH repository (kharchenkolab/gpsFISH at 0460c0b, data/*.rda, MIT): Zeisel 2015 STRT-seq UMI "
                 "counts with labels harmonised to osmFISH")


def load_zeisel_reference(data_dir: Path) -> ad.AnnData:
    """The Zeisel 2015 reference without its all-zero genes (550 cells x 17,894 genes)."""
    ref = read_anndata(Path(data_dir) / "zeisel2015_reference.h5ad", "Zeisel 2015 reference file")
    expressed = np.asarray((ref.X != 0).sum(axis=0)).ravel() > 0
    return ref[:, expressed].copy()


def load_osmfish_gpsfish_zeisel(data_dir: Path) -> PairedData:
    """gpsFISH's 537-cell osmFISH subsample with the Zeisel 2015 reference."""
    data_dir = Path(data_dir)
    spatial = read_anndata(data_dir / "osmfish_gpsfish_spatial.h5ad", "osmFISH (gpsFISH subsample) spatial file")
    # The subsample kept some of the release's duplicated cells (same coordinates and counts,
    # different ids) without its flag: find them here, so cell splits keep each pair on one side.
    groups = duplicate_groups(spatial, "spatial")
    spatial.obs["source_duplicate"] = np.bincount(groups)[groups] > 1
    return PairedData(
        name="osmfish_gpsfish_zeisel",
        spatial=spatial,
        reference=load_zeisel_reference(data_dir),
        label_key="cell_type",
        spatial_key="spatial",
        gene_embeddings=read_embeddings(data_dir / "esm2_osmfish.parquet"),
        meta={"source": "Codeluppi et al. 2018 osmFISH, gpsFISH subsample + Zeisel et al. 2015 STRT-seq, via gpsFISH",
              "files": GPSFISH_FILES, "reference_filter": "genes with no count in any cell dropped"},
        duplicate_key="source_duplicate",
    )


def load_osmfish_full_zeisel(data_dir: Path) -> PairedData:
    """The 4,839 valid cells of the original osmFISH release with the Zeisel 2015 reference."""
    full = load_osmfish_full(data_dir)
    meta = {**full.meta, "source": full.meta["source"] + " + Zeisel et al. 2015 STRT-seq, via gpsFISH",
            "files": FULL_ZEISEL_FILES, "reference_filter": "genes with no count in any cell dropped"}
    return PairedData(
        name="osmfish_full_zeisel",
        spatial=full.spatial,
        reference=load_zeisel_reference(data_dir),
        label_key=full.label_key,
        spatial_key=full.spatial_key,
        gene_embeddings=full.gene_embeddings,
        meta=meta,
        duplicate_key=full.duplicate_key,
    )


register_dataset(
    DatasetSpec(
        name="osmfish_gpsfish_zeisel",
        summary="osmFISH SSp cortex, gpsFISH subsample: 537 cells x 33 genes, 11 cell types; Zeisel 2015 UMI "
        "reference (550 cells, whole transcriptome, same 11 types).",
        loader=load_osmfish_gpsfish_zeisel,
        technology="osmFISH + STRT-seq (UMI)",
        tissue="mouse somatosensory cortex (and CA1 in the reference)",
        organism="Mus musculus",
        source=ZEISEL_SOURCE + "; osmFISH coordinates joined from the original loom",
        citation=ZEISEL_CITATION,
        files=tuple(GPSFISH_FILES),
        sha256=dict(GPSFISH_FILES),
        n_spatial_cells=537,
        n_reference_cells=550,
        n_genes=33,
        label_key="cell_type",
        spatial_key="spatial",
        duplicate_key="source_duplicate",
        coordinate_dims=2,
        notes="Reference: 19,972 genes in the file, the 2,078 with no count in any of the 550 cells are dropped "
        f"({N_REFERENCE_GENES:,} kept). source_duplicate is computed by the loader (cells of this file with "
        "identical coordinates and counts); cell splits keep each such group on one side.",
    )
)

register_dataset(
    DatasetSpec(
        name="osmfish_full_zeisel",
        summary="osmFISH SSp cortex, original release: 4,839 valid cells x 33 genes, 31 cell types; Zeisel 2015 "
        "UMI reference (550 cells, whole transcriptome).",
        loader=load_osmfish_full_zeisel,
        technology="osmFISH + STRT-seq (UMI)",
        tissue="mouse somatosensory cortex (and hippocampus, white matter, ventricle)",
        organism="Mus musculus",
        source="original Linnarsson-lab loom via xianglin226/DSSC; " + ZEISEL_SOURCE,
        citation=ZEISEL_CITATION,
        files=tuple(FULL_ZEISEL_FILES),
        sha256=dict(FULL_ZEISEL_FILES),
        n_spatial_cells=4839,
        n_reference_cells=550,
        n_genes=33,
        label_key="ClusterName",
        spatial_key="spatial",
        duplicate_key="source_duplicate",
        coordinate_dims=2,
        notes="Spatial cells as osmfish_full (Valid == 1; 954 of them are 477 duplicated pairs, flagged). "
        f"Reference genes with no count in any cell dropped ({N_REFERENCE_GENES:,} of 19,972). The reference's 11 "
        "harmonised types differ from the spatial ClusterName (31 types); cluster metrics use the spatial labels "
        "only.",
    )
)
