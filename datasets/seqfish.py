"""seqFISH data sets: mouse visual cortex with Tasic 2016 (paired), and Shah 2016 hippocampus.

``seqfish_cortex_tasic`` (``seqfish_cortex_spatial.h5ad`` + ``tasic2016_reference.h5ad``, via the
ssenet repository): 1,597 seqFISH cells of mouse VISp (Zhu et al. 2018) and 1,723 Tasic et al. 2016
SMARTer cells, the same 113 genes on both sides. **X is not counts** on either side: integers
0-101 after a quantile/rank transform that puts both on one scale, so both sides are declared
``rank`` and must not be count-normalised. The source writes every gene in lower case
(``gad2``); the loader capitalises them the MGI way (``Gad2``) on both sides, so they match any
other mouse data, and keeps the source spelling in ``var["source_name"]``. The file's ``field``
column has a single value (one stitched frame), so no field key is needed.

``seqfish_hippocampus`` (``seqfish_hippocampus_shah2016.h5ad``, Shah et al. 2016 Table S6): 3,585
cells x 249 genes, raw counts, no labels, spatial only (``self:seqfish_hippocampus``). Quirks:

* gene names carry literal single quotes (``'Tal1'``): removed; 35 of them are in lower case
  (``'sst'``, ``'gad1'``, the marker genes of the table): capitalised as above. The source name
  (with its quotes) stays in ``var["source_name"]``. Misspellings of the table are kept as
  spelled (``palvb`` for Pvalb, ``alldh1l1`` for Aldh1l1, ``lyve`` for Lyve1): they are not
  silently turned into other genes.
* coordinates are pixels **within each of 21 imaging fields** (``obs["field"]``): the loader
  keeps them in ``obsm["spatial_field"]`` and places the fields side by side in ``obsm["spatial"]``
  (:func:`benchmark.datasets.quirks.tile_fields`), so that no two fields overlap; the dataset's
  ``field_key`` is ``"field"``, and a self-pair split is stratified by field.
"""

from __future__ import annotations

from pathlib import Path

from . import register_dataset
from .base import DatasetSpec, PairedData
from .io import read_anndata
from .quirks import mouse_symbol_case, separate_fields, strip_quotes

CORTEX_FILES = {
    "seqfish_cortex_spatial.h5ad": "a5786b6b162642b13465eee1c0f4956109581e7a94cd6f9d51c4742e8511d2e8",
    "tasic2016_reference.h5ad": "f542cc760ed69d5428b2ba48b97786a4b24976fe17e177a029eb89cc27c97492",
}
HIPPOCAMPUS_FILES = {
    "seqfish_hippocampus_shah2016.h5ad": "21a9e579c06ccdca397de77a17f52937a4629dbdde8227fc9e107d403f725760",
}


def _rename_genes(adata, names: list[str]) -> None:
    """Keep the source spelling in ``var["source_name"]`` and use ``names`` as the gene names."""
    adata.var["source_name"] = list(adata.var_names)
    adata.var_names = names


def load_seqfish_cortex_tasic(data_dir: Path) -> PairedData:
    data_dir = Path(data_dir)
    spatial = read_anndata(data_dir / "seqfish_cortex_spatial.h5ad", "seqFISH cortex spatial file")
    reference = read_anndata(data_dir / "tasic2016_reference.h5ad", "Tasic 2016 reference file")
    for adata in (spatial, reference):
        _rename_genes(adata, mouse_symbol_case(list(adata.var_names)))
    return PairedData(
        name="seqfish_cortex_tasic",
        spatial=spatial,
        reference=reference,
        label_key="cell_type",
        spatial_key="spatial",
        meta={"source": "Zhu et al. 2018 seqFISH VISp + Tasic et al. 2016 SMARTer, rank-transformed, via ssenet",
              "files": CORTEX_FILES, "gene_names": "lower-case source names capitalised (MGI style)"},
        spatial_values="rank",
        reference_values="rank",
    )


def load_seqfish_hippocampus(data_dir: Path) -> PairedData:
    data_dir = Path(data_dir)
    spatial = read_anndata(data_dir / "seqfish_hippocampus_shah2016.h5ad", "seqFISH hippocampus (Shah 2016) file")
    _rename_genes(spatial, mouse_symbol_case(strip_quotes(list(spatial.var_names))))
    separate_fields(spatial, "field")
    return PairedData(
        name="seqfish_hippocampus",
        spatial=spatial,
        reference=None,
        spatial_key="spatial",
        meta={"source": "Shah et al. 2016 seqFISH hippocampus (Table S6), via xzhoulab/SPARK-Analysis",
              "files": HIPPOCAMPUS_FILES,
              "gene_names": "quotes removed, lower-case names capitalised (MGI style); source in var['source_name']",
              "coordinates": "per-field pixels in obsm['spatial_field']; fields tiled side by side in obsm['spatial']"},
        field_key="field",
    )


register_dataset(
    DatasetSpec(
        name="seqfish_cortex_tasic",
        summary="seqFISH mouse VISp, 1,597 cells x 113 genes, 8 cell types; Tasic 2016 SMARTer reference "
        "(1,723 cells, same 113 genes). Rank-transformed values, not counts.",
        loader=load_seqfish_cortex_tasic,
        technology="seqFISH + SMARTer scRNA-seq",
        tissue="mouse primary visual cortex",
        organism="Mus musculus",
        source="ssenet repository (singha53-zz/ssenet at b73f7e6, inst/extdata, MIT)",
        citation="Zhu et al., Nat. Biotechnol. 36:1183 (2018); Tasic et al., Nat. Neurosci. 19:335 (2016)",
        files=tuple(CORTEX_FILES),
        sha256=dict(CORTEX_FILES),
        n_spatial_cells=1597,
        n_reference_cells=1723,
        n_genes=113,
        label_key="cell_type",
        spatial_key="spatial",
        spatial_values="rank",
        reference_values="rank",
        coordinate_dims=2,
        notes="X holds integers 0-101 from a quantile/rank transform on both sides (declared 'rank'): not "
        "counts, not to be count-normalised. Source gene names are all lower case; the loader capitalises them "
        "(gad2 -> Gad2) on both sides, source spelling in var['source_name']. The reference holds only the 113 "
        "shared genes. One coordinate frame (the file's 'field' has one value).",
    )
)

register_dataset(
    DatasetSpec(
        name="seqfish_hippocampus",
        summary="seqFISH mouse hippocampus (Shah et al. 2016), 3,585 cells x 249 genes in 21 imaging fields, raw "
        "counts, no labels; spatial-only, run as self:seqfish_hippocampus.",
        loader=load_seqfish_hippocampus,
        technology="seqFISH",
        tissue="mouse hippocampus",
        organism="Mus musculus",
        source="Shah et al. 2016 Table S6 (mmc6.xlsx) via xzhoulab/SPARK-Analysis at c073902 (no licence file)",
        citation="Shah et al., Neuron 92:342 (2016)",
        files=tuple(HIPPOCAMPUS_FILES),
        sha256=dict(HIPPOCAMPUS_FILES),
        kind="spatial",
        n_spatial_cells=3585,
        n_genes=249,
        spatial_key="spatial",
        field_key="field",
        coordinate_dims=2,
        notes="Gene names: literal quotes removed ('Tal1' -> Tal1), the 35 lower-case ones capitalised (sst -> "
        "Sst); source names in var['source_name']; the table's misspellings (palvb, alldh1l1, lyve) kept. "
        "Coordinates are pixels within each of 21 fields (obs['field']): kept in obsm['spatial_field'], tiled "
        "side by side in obsm['spatial']; self-pair splits are stratified by field.",
    )
)
