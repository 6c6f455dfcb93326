"""Built-in paired data: a seeded generator of a spatial + scRNA-seq pair.

What it models, and why:

* **Cell types from gene modules.** Genes belong to modules; each cell type switches on a
  few modules. So genes co-vary, and a method can learn one gene from others.
* **Spatial patterning.** Cells lie on a square; horizontal, wavy layers (like cortex) each
  prefer a few cell types, and two "glial" types are scattered everywhere.
* **Count noise and sparsity.** Reference counts are negative-binomial with deep libraries
  over all genes; spatial counts are Poisson with shallow libraries over a small panel plus
  extra dropout, so the spatial matrix is sparse as imaging data are.
* **Platform effect.** Each panel gene has its own capture efficiency in the spatial data,
  and cell-type proportions differ between the two data sets.
* **Gene embeddings.** A vector per gene near its module's centroid (a few genes have none),
  standing in for protein embeddings, so a gene-graph method has structure to find.
"""

from __future__ import annotations


import anndata as ad
import numpy as np
import pandas as pd

from . import register_dataset
from .base import DatasetSpec, PairedData


def make_synthetic_pair(
    n_spatial: int = 2000,
    n_reference: int = 2500,
    n_shared: int = 50,
    n_reference_only: int = 150,
    n_types: int = 8,
    n_modules: int = 10,
    embedding_dim: int = 32,
    platform_effect: float = 1.0,
    seed: int = 0,
    name: str = "synthetic",
    lean: bool = False,
    chunk_cells: int = 65_536,
) -> PairedData:
    """Generate a paired spatial + reference data set.

    Parameters
    ----------
    n_spatial, n_reference
        Cells in each data set.
    n_shared
        Genes of the spatial panel (all are also reference genes).
    n_reference_only
        Extra genes measured only in the reference.
    n_types, n_modules
        Cell types and gene modules.
    embedding_dim
        Dimension of the synthetic gene embeddings.
    platform_effect
        Strength of the spatial-vs-reference differences (0 = none).
    seed
        Seed of every random draw; the same seed gives identical data.
    lean
        Generate the spatial counts in chunks of ``chunk_cells`` cells into a sparse (CSR,
        float32) matrix, so a million cells take about a gigabyte instead of several. The
        model is the same, but the random stream of the spatial counts differs from
        ``lean=False`` (the reference, gene modules, embeddings, cell types and coordinates are
        identical), so the two modes give different spatial counts for the same seed.
        Used by ``python -m benchmark scale``.
    chunk_cells
        Cells per chunk with ``lean``.

    Returns
    -------
    PairedData
        Raw counts; spatial ``obs["cell_type"]``, ``obs["layer"]`` and ``obsm["spatial"]``;
        reference ``obs["cell_type"]``; gene embeddings.
    """
    if n_shared < 2 or n_types < 2 or n_modules < 1:
        raise ValueError("need n_shared >= 2, n_types >= 2, n_modules >= 1")
    rng = np.random.default_rng(seed)
    n_genes = n_shared + n_reference_only
    genes = np.array([f"Gene{i:04d}" for i in range(n_genes)])
    types = np.array([f"Type{t}" for t in range(n_types)])

    # Gene modules and cell-type programmes.
    module = np.concatenate([np.arange(n_modules), rng.integers(0, n_modules, n_genes - n_modules)])[:n_genes]
    rng.shuffle(module)
    activity = rng.normal(0.0, 0.3, (n_types, n_modules))
    for t in range(n_types):
        on = rng.choice(n_modules, size=min(n_modules, rng.integers(2, 4)), replace=False)
        activity[t, on] += rng.uniform(1.5, 3.0, size=len(on))
    loading = rng.uniform(0.5, 1.5, n_genes)
    log_base = rng.normal(-1.0, 1.0, n_genes)
    log_rate = log_base[None, :] + loading[None, :] * activity[:, module] + rng.normal(0, 0.3, (n_types, n_genes))
    rate = np.exp(log_rate)

    # Reference: negative-binomial counts over all genes, deep libraries.
    ref_prop = rng.dirichlet(np.full(n_types, 3.0))
    ref_type = rng.choice(n_types, size=n_reference, p=ref_prop)
    frac = rate / rate.sum(axis=1, keepdims=True)
    ref_lib = rng.lognormal(np.log(8000.0), 0.35, n_reference)
    ref_mean = ref_lib[:, None] * frac[ref_type]
    theta = 4.0
    ref_counts = rng.poisson(rng.gamma(theta, ref_mean / theta)).astype(np.float32)

    # Spatial panel: which genes the imaging experiment measured.
    panel = np.sort(rng.choice(n_genes, size=n_shared, replace=False))

    # Spatial layout: wavy horizontal layers, each preferring a few types; two types everywhere.
    coords = rng.uniform(0, 1000, (n_spatial, 2))
    n_layers = max(2, min(6, n_types - 2))
    wave = 40.0 * np.sin(coords[:, 0] / 150.0)
    layer = np.clip(((coords[:, 1] + wave) / (1000.0 / n_layers)).astype(int), 0, n_layers - 1)
    scattered = np.arange(n_types)[-2:]
    layered = np.arange(n_types)[:-2] if n_types > 2 else np.arange(n_types)
    sp_type = np.empty(n_spatial, dtype=int)
    for lay in range(n_layers):
        idx = np.nonzero(layer == lay)[0]
        p = np.full(n_types, 0.02)
        p[scattered] = 0.12
        p[layered[lay % len(layered)]] += 0.6
        p[layered[(lay + 1) % len(layered)]] += 0.15
        sp_type[idx] = rng.choice(n_types, size=len(idx), p=p / p.sum())

    # Spatial counts: panel genes only, gene-wise capture efficiency, Poisson, extra dropout.
    efficiency = rng.lognormal(0.0, 0.5 * platform_effect, n_shared)
    sp_frac = rate[:, panel] * efficiency[None, :]
    sp_frac /= sp_frac.sum(axis=1, keepdims=True)
    sp_lib = rng.lognormal(np.log(150.0), 0.4, n_spatial)
    if lean:
        sp_counts = _lean_spatial_counts(rng, sp_lib, sp_frac, sp_type, 0.1 * platform_effect, chunk_cells)
    else:
        sp_counts = rng.poisson(sp_lib[:, None] * sp_frac[sp_type]).astype(np.float32)
        dropout = rng.random(sp_counts.shape) < 0.1 * platform_effect
        sp_counts[dropout] = 0
        empty = sp_counts.sum(axis=1) == 0  # keep every cell measurable
        sp_counts[empty, rng.integers(0, n_shared, int(empty.sum()))] = 1

    # Gene embeddings: module centroid + noise; about 5% of genes lack one.
    centroids = rng.normal(0, 1, (n_modules, embedding_dim))
    emb = centroids[module] + rng.normal(0, 0.6, (n_genes, embedding_dim))
    has_emb = rng.random(n_genes) > 0.05
    embeddings = pd.DataFrame(
        emb[has_emb].astype(np.float32),
        index=pd.Index(genes[has_emb], name="gene"),
        columns=[f"dim_{i:03d}" for i in range(embedding_dim)],
    )

    spatial = ad.AnnData(
        X=sp_counts,
        obs=pd.DataFrame(
            {
                "cell_type": pd.Categorical.from_codes(sp_type, categories=types),
                "layer": pd.Categorical.from_codes(layer, categories=[f"L{v + 1}" for v in range(n_layers)])
                if lean else pd.Categorical([f"L{v + 1}" for v in layer]),
            },
            index=pd.Index([f"spot{i:06d}" for i in range(n_spatial)]),
        ),
        var=pd.DataFrame(index=pd.Index(genes[panel])),
    )
    spatial.obsm["spatial"] = coords
    reference = ad.AnnData(
        X=ref_counts,
        obs=pd.DataFrame(
            {"cell_type": pd.Categorical(types[ref_type], categories=types)},
            index=pd.Index([f"cell{i:06d}" for i in range(n_reference)]),
        ),
        var=pd.DataFrame({"module": module}, index=pd.Index(genes)),
    )
    params = dict(
        n_spatial=n_spatial, n_reference=n_reference, n_shared=n_shared, n_reference_only=n_reference_only,
        n_types=n_types, n_modules=n_modules, embedding_dim=embedding_dim, platform_effect=platform_effect, seed=seed,
    )
    if lean:
        params["lean"] = True
    return PairedData(
        name=name,
        spatial=spatial,
        reference=reference,
        label_key="cell_type",
        spatial_key="spatial",
        gene_embeddings=embeddings,
        meta={"generator": "benchmark.datasets.synthetic.make_synthetic_pair", "params": params},
    )


def _lean_spatial_counts(rng: np.random.Generator, lib: np.ndarray, frac: np.ndarray, cell_type: np.ndarray,
                         dropout: float, chunk: int):
    """Poisson counts with dropout, chunk by chunk into a CSR float32 matrix (see ``lean``).

    Each chunk is drawn dense (``chunk`` x genes), thinned and converted, so peak memory is a
    few chunks plus the sparse result, whatever the number of cells.
    """
    import scipy.sparse as sp

    n, n_genes = len(lib), frac.shape[1]
    blocks = []
    for start in range(0, n, max(1, chunk)):
        stop = min(n, start + max(1, chunk))
        counts = rng.poisson(lib[start:stop, None] * frac[cell_type[start:stop]]).astype(np.float32)
        counts[rng.random(counts.shape, dtype=np.float32) < dropout] = 0
        empty = np.nonzero(counts.sum(axis=1) == 0)[0]  # keep every cell measurable
        counts[empty, rng.integers(0, n_genes, len(empty))] = 1
        blocks.append(sp.csr_matrix(counts))
    return sp.vstack(blocks, format="csr", dtype=np.float32)


register_dataset(
    DatasetSpec(
        name="synthetic",
        summary="Built-in seeded spatial+reference pair: 2,000 spatial cells x 50 panel genes, "
        "2,500 reference cells x 200 genes, 8 layered cell types, platform effect.",
        loader=lambda data_dir: make_synthetic_pair(name="synthetic"),
        technology="simulated imaging panel",
        tissue="layered tissue (cortex-like)",
        organism="none",
        source="generated by benchmark.datasets.synthetic",
        citation="this suite",
        builtin=True,
        default=True,
        n_spatial_cells=2000,
        n_reference_cells=2500,
        n_genes=50,
        label_key="cell_type",
        spatial_key="spatial",
    )
)

register_dataset(
    DatasetSpec(
        name="synthetic-small",
        summary="Built-in small pair for smoke tests: 400 spatial cells x 20 genes, 500 reference cells x 60 genes.",
        loader=lambda data_dir: make_synthetic_pair(
            n_spatial=400, n_reference=500, n_shared=20, n_reference_only=40, n_types=5, n_modules=6,
            name="synthetic-small",
        ),
        technology="simulated imaging panel",
        tissue="layered tissue (cortex-like)",
        organism="none",
        source="generated by benchmark.datasets.synthetic",
        citation="this suite",
        builtin=True,
        n_spatial_cells=400,
        n_reference_cells=500,
        n_genes=20,
        label_key="cell_type",
        spatial_key="spatial",
    )
)
