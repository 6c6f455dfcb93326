"""osmFISH mouse somatosensory cortex (Codeluppi et al. 2018) with its paired SMART-seq reference.

Read from the data directory (see ``shared/data/MANIFEST.md`` in the project's shared folder):
``osmfish_spatial.h5ad`` (3,405 cells x 33 genes, labels in ``obs["ClusterName"]``),
``osmfish_reference.h5ad`` (5,613 cells x 33 genes) and ``esm2_osmfish.parquet``
(ESM-2 embeddings of 275 genes, all 33 panel genes included).
"""

from __future__ import annotations

from pathlib import Path

from . import register_dataset
from .base import DatasetSpec, PairedData
from .io import read_anndata, read_embeddings

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
    )
)
