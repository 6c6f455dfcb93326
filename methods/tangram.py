"""``tangram``: Tangram (Biancalani et al. 2021), cells or clusters mode, from the ``tangram-sc`` package."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from benchmark.task import ImputationTask, Prediction

from . import register
from .base import Method, MethodInfo
from ._util import dense, keep_global_rng


def _seeded(seed: int):
    """Seed NumPy's global generator and torch for the block; restore NumPy's state afterwards.

    Tangram seeds only ``if random_state:``, so seed 0 (the suite's default) would not be applied
    at all; the mapping matrix is initialised from NumPy's global generator.
    """
    return keep_global_rng(seed, seed_torch=True)


#: ``input_scaling`` values: what Tangram maps (see :class:`TangramMethod`).
INPUT_SCALINGS = ("task", "normalized", "li2022")
#: Fewer highly variable genes than this: cluster the reference on all its genes.
MIN_HVG_FOR_CLUSTERING = 10
#: ``mode`` values.
MODES = ("cells", "clusters")
#: Reference ``obs`` columns tried, in order, as cluster labels when ``cluster_label`` is empty.
CLUSTER_LABEL_CANDIDATES = ("cell_type", "celltype", "cell_types", "CellType", "ClusterName", "cluster",
                            "clusters", "subclass", "class")


def _torch_device(requested: str) -> str:
    import torch

    if requested in ("cuda", "auto") and torch.cuda.is_available():
        return "cuda:0"
    return "cpu"


def _scaled_inputs(task: ImputationTask, scaling: str, genes: list[str]):
    """(reference genes x cells matrix over ``genes``, spatial training-gene matrix) in ``scaling``.

    ``task``: the task's ``X`` of both. ``normalized``: counts / cell total x median total, no log
    (``--preprocessing tangram``'s scaling), each data set over the genes the task normalised it
    over (the reference over all its genes, the spatial cells over the training genes).
    ``li2022``: the spatial raw counts and the reference log-normalised (``normalize_total`` +
    ``log1p``), which is what SpatialBenchmarking's ``Tangram_impute`` hands Tangram (its
    clustering step log-normalises the reference in place; the spatial file is raw counts).
    """
    from benchmark.datasets.preprocessing import normalize_spage, normalize_tangram
    from benchmark.task import COUNTS_LAYER

    if scaling == "task":
        return task.reference[:, genes].X, task.spatial.X
    ref_counts = task.reference.layers[COUNTS_LAYER]
    sp_counts = task.spatial.layers[COUNTS_LAYER]
    if scaling == "normalized":
        ref, spx = normalize_tangram(ref_counts), normalize_tangram(sp_counts)
    elif scaling == "li2022":
        ref, spx = normalize_spage(ref_counts), sp_counts
    else:
        raise ValueError(f"Tangram: input_scaling must be one of {INPUT_SCALINGS}, got {scaling!r}")
    idx = task.reference.var_names.get_indexer(genes)
    ref = ref[:, idx]
    return ref, spx


def _to_task_scale(values: np.ndarray, scaling: str, preprocessing: str) -> np.ndarray:
    """Projected reference values (on ``scaling``'s reference scale) on the task's ``X`` scale.

    ``task``: unchanged. ``normalized`` (no log): ``log1p`` for the log schemes (``spage``,
    exactly; ``scran``, whose size factors differ from totals, approximately), unchanged for
    ``tangram``. ``li2022`` (log-normalised reference): unchanged for ``spage`` (exact) and
    ``scran`` (approximate), ``expm1`` for ``tangram`` and ``raw`` (whose ``X`` has no log).
    """
    if scaling == "task":
        return values
    log_scheme = preprocessing not in ("tangram", "raw")  # raw: X is counts, no log
    if scaling == "normalized":
        return np.log1p(np.maximum(values, 0.0)) if log_scheme else values
    return values if log_scheme else np.expm1(values)


def _reference_clusters(task: ImputationTask, label: str, resolution: float) -> tuple[pd.Series, str]:
    """Cluster labels of the reference cells and where they came from.

    ``label`` names a reference ``obs`` column; if empty, the first column of
    :data:`CLUSTER_LABEL_CANDIDATES` (after the harness's label key, if the task carries one) with
    at least two labels is used. With none, the reference is clustered as SpatialBenchmarking's
    ``Tangram_impute`` does without annotations: ``normalize_total``, ``log1p``,
    ``highly_variable_genes``, ``scale(max_value=10)``, PCA, neighbours and Leiden at
    ``resolution`` (0.5 there), on the reference's raw counts, seeded with ``task.seed``. Their
    references had thousands of genes; when the default HVG selection keeps fewer than
    :data:`MIN_HVG_FOR_CLUSTERING` genes (a 33-gene reference keeps a handful), all genes are
    used, and PCA keeps at most ``n_genes - 1`` components.
    """
    obs = task.reference.obs
    if label:
        if label not in obs:
            raise ValueError(f"Tangram: cluster_label {label!r} is not a column of the reference obs "
                             f"(columns: {list(obs.columns)})")
        candidates = [label]
    else:
        harness_key = getattr(task, "label_key", None) or getattr(task, "reference_label_key", None)
        candidates = [c for c in ([harness_key] if harness_key else []) + list(CLUSTER_LABEL_CANDIDATES)
                      if c in obs]
    for col in candidates:
        lab = obs[col]
        if lab.dropna().nunique() >= 2 or col == label:
            return lab.astype(object).where(lab.notna(), "unlabelled").astype(str), f"obs:{col}"

    import anndata as ad
    import scanpy as sc
    from benchmark.task import COUNTS_LAYER

    a = ad.AnnData(X=sp.csr_matrix(task.reference.layers[COUNTS_LAYER], dtype=np.float32, copy=True),
                   obs=pd.DataFrame(index=pd.Index([str(c) for c in obs.index])))
    sc.pp.normalize_total(a)
    sc.pp.log1p(a)
    sc.pp.highly_variable_genes(a)
    if int(a.var["highly_variable"].sum()) >= MIN_HVG_FOR_CLUSTERING:
        a = a[:, a.var["highly_variable"].to_numpy()].copy()
    a.var = a.var.drop(columns=["highly_variable"])  # else scanpy's PCA masks to the HVGs on its own
    sc.pp.scale(a, max_value=10)
    sc.tl.pca(a, n_comps=max(1, min(50, a.n_vars - 1, a.n_obs - 1)), random_state=task.seed)
    sc.pp.neighbors(a, random_state=task.seed)
    sc.tl.leiden(a, resolution=resolution, random_state=task.seed, flavor="leidenalg")
    return pd.Series(a.obs["leiden"].astype(str).to_numpy(), index=obs.index), f"leiden:{resolution}"


@register
class TangramMethod(Method):
    """Tangram: learn a soft map of reference cells (or clusters) onto spatial cells, then project.

    What it does: ``tg.pp_adatas`` (drops all-zero genes, uses all shared genes for training and
    computes the density priors), ``tg.map_cells_to_space`` with the authors' defaults (Adam,
    learning rate 0.1, 1000 epochs, cosine-similarity loss on the training genes,
    ``density_prior="rna_count_based"``, which turns on the density term with ``lambda_d = 1``),
    then ``tg.project_genes``. The reference is restricted to the training and target genes.

    ``mode`` (``cells``, default, or ``clusters``): in ``clusters`` mode Tangram maps cluster
    profiles instead of cells (``adata_to_cluster_expression`` with ``scale=True``: each cluster's
    summed expression, its share of the cells as source density) and ``project_genes`` projects
    the same sums; see :func:`_reference_clusters` for the labels (``cluster_label``, else a label
    column of the reference, else Leiden as SpatialBenchmarking did).

    ``input_scaling`` (what Tangram maps and projects): ``task`` (default) the task's ``X`` of both
    data sets (SpaGE-style log-normalised under the default preprocessing); ``normalized`` counts
    scaled to the median cell total without a log on both sides; ``li2022`` raw spatial counts
    and a log-normalised reference, as SpatialBenchmarking's ``Tangram_impute``. The projection is
    brought back to the task's scale by :func:`_to_task_scale`.

    Tangram lower-cases the gene names of the AnnData objects it is given, in place, and makes
    them unique. It is therefore given copies whose genes are renamed to neutral lower-case
    tokens (``g0``, ``g1``, ...), so that no case collision can merge genes, and the tokens are
    mapped back to the task's gene names afterwards. The task's objects are never passed.

    Output scale: ``project_genes`` returns, per spatial cell j, ``sum_i M_ij x_i`` where ``M``
    (reference cells x spatial cells) has rows summing to one, so column j carries a mass
    ``sum_i M_ij`` of about n_reference / n_spatial, not 1. The prediction returned is that
    projection divided by the mass of its spatial cell: the M-weighted mean of the reference
    cells' expression. In clusters mode the projection is ``sum_c M_cj s_c`` with ``s_c`` the
    cluster's summed expression, and the mass ``sum_c M_cj n_c`` (``n_c`` its cell count), so the
    prediction is again a weighted mean of cells. (SpatialBenchmarking scored the undivided
    projection.) A target gene that is zero in every reference cell is dropped by Tangram; its
    prediction is 0 (the mean of zeros).

    Quick mode (``task.quick``): ``quick_epochs`` (100) epochs instead of 1000.
    Runs on ``task.device`` (CPU by default; ``cuda``/``auto`` use a GPU when torch sees one).
    Deterministic on CPU: NumPy and torch are seeded with ``task.seed`` before mapping.
    """

    info = MethodInfo(
        name="tangram",
        summary="Tangram (cells or clusters mode): map reference cells onto spatial cells, then project target genes.",
        paper_url="https://doi.org/10.1038/s41592-021-01264-7",
        code_url="https://github.com/broadinstitute/Tangram",
        package="tangram-sc",
        requires=("tangram",),
        install_hint="pip install -c constraints.txt tangram-sc",
        quick_note="trains quick_epochs (100) epochs instead of num_epochs (1000)",
    )

    # the and SpatialBenchmarking's two choices: cells or clusters mode, log or non-log input
    search_space = {"mode": ("cells", "clusters"), "input_scaling": ("task", "normalized")}

    @dataclass
    class Params:
        num_epochs: int = 1000
        learning_rate: float = 0.1
        density_prior: str = "rna_count_based"
        #: ``cells`` (Tangram's default) or ``clusters``.
        mode: str = "cells"
        #: Clusters mode: reference ``obs`` column of cluster labels; empty = a label column of the
        #: reference if there is one, else Leiden clusters (as SpatialBenchmarking).
        cluster_label: str = ""
        #: Leiden resolution when clusters are computed (SpatialBenchmarking: 0.5).
        leiden_resolution: float = 0.5
        #: ``task`` (the task's X), ``normalized`` (total-count scaled, no log) or ``li2022``
        #: (raw spatial counts, log-normalised reference).
        input_scaling: str = "task"
        #: Epochs under ``--quick`` (not an authors' parameter).
        quick_epochs: int = 100

    def fit_predict(self, task: ImputationTask) -> Prediction:
        import anndata as ad
        import tangram as tg

        p = self.params
        if p.mode not in MODES:
            raise ValueError(f"Tangram: mode must be one of {MODES}, got {p.mode!r}")
        if p.input_scaling not in INPUT_SCALINGS:
            raise ValueError(f"Tangram: input_scaling must be one of {INPUT_SCALINGS}, got {p.input_scaling!r}")
        train = list(task.training_genes)
        targets = list(task.target_genes)
        genes = task.genes
        token = {g: f"g{i}" for i, g in enumerate(genes)}

        ref_in, sp_in = _scaled_inputs(task, p.input_scaling, genes)
        ref_x = sp.csr_matrix(ref_in, dtype=np.float32, copy=True)  # Tangram's dense branch calls .toarray()
        ad_sc = ad.AnnData(
            X=ref_x,
            obs=pd.DataFrame(index=pd.Index([str(c) for c in task.reference.obs_names])),
            var=pd.DataFrame(index=pd.Index([token[g] for g in genes])),
        )
        label_key, cluster_source, n_clusters = None, None, None
        if p.mode == "clusters":
            labels, cluster_source = _reference_clusters(task, p.cluster_label, p.leiden_resolution)
            label_key = "tangram_cluster"
            ad_sc.obs[label_key] = pd.Categorical(labels.to_numpy())
            n_clusters = int(ad_sc.obs[label_key].nunique())
        ad_sp = ad.AnnData(
            X=np.array(dense(sp_in), dtype=np.float32, copy=True),
            obs=pd.DataFrame(index=pd.Index([str(c) for c in task.spatial.obs_names])),
            var=pd.DataFrame(index=pd.Index([token[g] for g in train])),
        )
        ad_sc.obs_names_make_unique()
        ad_sp.obs_names_make_unique()

        epochs = self.params.quick_epochs if task.quick else self.params.num_epochs
        device = _torch_device(task.device)
        tg.pp_adatas(ad_sc, ad_sp, genes=None)
        n_training = len(ad_sc.uns["training_genes"])
        if n_training == 0:
            raise ValueError("Tangram: no training gene is non-zero in both data sets")
        with _seeded(task.seed):
            ad_map = tg.map_cells_to_space(
                ad_sc, ad_sp, mode=p.mode, cluster_label=label_key, device=device, num_epochs=int(epochs),
                learning_rate=float(p.learning_rate), density_prior=p.density_prior,
                random_state=task.seed, verbose=False,
            )
        if p.mode == "clusters":
            sizes = ad_sc.obs[label_key].value_counts()
            sizes.index = sizes.index.astype(str)
            weight = sizes.reindex(ad_map.obs[label_key].astype(str).to_numpy()).to_numpy(dtype=np.float64)
            ad_ge = tg.project_genes(ad_map, ad_sc, cluster_label=label_key)
        else:
            weight = None
            ad_ge = tg.project_genes(ad_map, ad_sc)

        mapping = np.asarray(ad_map.X, dtype=np.float64)  # reference cells (clusters) x spatial cells
        mass = mapping.sum(axis=0) if weight is None else weight @ mapping
        projected = pd.DataFrame(np.asarray(dense(ad_ge.X), dtype=np.float64), columns=list(ad_ge.var_names))
        values = np.zeros((task.n_cells, len(targets)), dtype=np.float64)
        dropped = []
        for j, g in enumerate(targets):
            tok = token[g]
            if tok in projected.columns:
                values[:, j] = projected[tok].to_numpy() / mass
            else:
                dropped.append(g)
        values = _to_task_scale(values, p.input_scaling, task.preprocessing)
        final = ad_map.uns["training_history"]["main_loss"][-1] if epochs else None
        return Prediction(
            pd.DataFrame(values, index=task.spatial.obs_names, columns=targets),
            info={"epochs": int(epochs), "device": device, "n_training_genes": n_training,
                  "final_train_cosine": final, "targets_all_zero_in_reference": dropped,
                  "mode": p.mode, "input_scaling": p.input_scaling, "cluster_source": cluster_source,
                  "n_clusters": n_clusters},
        )
