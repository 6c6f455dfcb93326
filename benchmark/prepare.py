"""Turning a validated :class:`PairedData` into scoring truth and per-split tasks."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .datasets.base import PairedData
from .datasets.preprocessing import get_preprocessing
from .order import seeded_order
from .splits import GeneSplit
from .task import COUNTS_LAYER, ImputationTask


def _dense(x) -> np.ndarray:
    return x.toarray() if sp.issparse(x) else np.asarray(x)


def _as_given(x):
    """The pass-through "preprocessing" of values that are not counts: a float32 copy."""
    return x.astype(np.float32, copy=True) if sp.issparse(x) else np.array(x, dtype=np.float32)


def normalizer_for(kind: str, preprocessing: str):
    """The run's count preprocessing for values of ``kind`` that may be normalised (``counts``,
    ``normalized``), else the pass-through: log-normalised values, intensities or ranks are
    never normalised or logged again (docs/datasets.md, "Data that are not counts")."""
    from .datasets.base import is_normalizable

    return get_preprocessing(preprocessing) if is_normalizable(kind) else _as_given


def _fingerprint(data: PairedData, shared: list[str], preprocessing: str) -> str:
    h = hashlib.sha256()
    for adata in (data.spatial, data.reference):
        h.update("\x00".join(adata.obs_names).encode())
        h.update("\x01".join(adata.var_names).encode())
        x = adata.X
        if sp.issparse(x):
            x = sp.csr_matrix(x)
            for part in (x.data, x.indices, x.indptr):
                h.update(np.ascontiguousarray(part).tobytes())
        else:
            h.update(np.ascontiguousarray(x).tobytes())
    h.update("\x02".join(shared).encode())
    h.update(preprocessing.encode())
    if (data.spatial_values, data.reference_values) != ("counts", "counts"):  # absent for counts: old keys stay
        h.update(f"{data.spatial_values}/{data.reference_values}".encode())
    if data.gene_embeddings is not None:
        h.update(pd.util.hash_pandas_object(data.gene_embeddings, index=True).to_numpy().tobytes())
    return h.hexdigest()[:16]


@dataclass
class PreparedData:
    """A dataset ready for jobs.

    Attributes
    ----------
    truth
        Spatial cells x shared genes, preprocessed over all shared genes: the scoring matrix.
        Never handed to a (non-oracle) method.
    reference
        Reference with ``X`` preprocessed over all its genes and raw counts in ``layers["counts"]``.
    fingerprint
        Hash of the raw data, shared genes and preprocessing (part of every cache key).
    """

    data: PairedData
    shared: list[str]
    preprocessing: str
    truth: pd.DataFrame
    reference: ad.AnnData
    fingerprint: str

    @property
    def name(self) -> str:
        return self.data.name

    def cell_groups(self) -> np.ndarray:
        """Duplicate group of each spatial cell (same coordinates and counts; see
        :func:`benchmark.datasets.self_pair.duplicate_groups`); computed once."""
        if getattr(self, "_cell_groups", None) is None:
            from .datasets.self_pair import duplicate_groups

            self._cell_groups = duplicate_groups(self.data.spatial, self.data.spatial_key, self.data.duplicate_key)
        return self._cell_groups

    def cells_of(self, split: GeneSplit) -> pd.Index:
        """The spatial cells a split's job sees and predicts: all, or the split's cell fold."""
        return self.truth.index if split.cells is None else pd.Index(split.cells)

    def labels(self) -> pd.Series | None:
        key = self.data.label_key
        if key and key in self.data.spatial.obs:
            return self.data.spatial.obs[key]
        return None

    def make_task(
        self,
        split: GeneSplit,
        *,
        seed: int,
        workdir: Path,
        time_budget: float | None,
        quick: bool,
        device: str,
        shuffle: bool = True,
    ) -> ImputationTask:
        """The task of one split. Only the training genes of the spatial data go in.

        The spatial ``X`` is normalised over the training genes' counts alone, so that not even
        the cell totals carry information about the hidden genes. The spatial ``obs`` columns
        are not passed either (they may be derived from all genes, e.g. totals); coordinates are.
        In the cell-split protocol only the split's cells are passed (normalised among themselves).

        With ``shuffle`` (always, in the harness) the spatial and reference cells come in the
        seeded order of :func:`benchmark.order.seeded_order`, so that the order of the data
        files (often sorted by cell type) carries no information; the runner restores the file
        order of the prediction.
        """
        normalize = normalizer_for(self.data.spatial_values, self.preprocessing)
        train = list(split.train_genes)
        cells = self.cells_of(split)
        if shuffle:
            cells = cells[seeded_order(cells, seed)]
        spatial_all = self.data.spatial[cells] if shuffle or split.cells is not None else self.data.spatial
        counts = spatial_all[:, train].X
        counts = counts.copy() if sp.issparse(counts) else np.array(counts, dtype=np.float32)
        spatial = ad.AnnData(
            X=normalize(counts),
            obs=pd.DataFrame(index=spatial_all.obs_names.copy()),
            var=pd.DataFrame(index=pd.Index(train)),
            layers={COUNTS_LAYER: counts},
        )
        key = self.data.spatial_key
        if key and key in spatial_all.obsm:
            spatial.obsm["spatial"] = np.array(spatial_all.obsm[key], dtype=np.float64)
        emb = self.data.gene_embeddings
        reference = self.reference
        reference = reference[seeded_order(reference.obs_names, seed)].copy() if shuffle else reference.copy()
        return ImputationTask(
            spatial=spatial,
            reference=reference,
            target_genes=list(split.target_genes),
            seed=seed,
            workdir=Path(workdir),
            time_budget=time_budget,
            preprocessing=self.preprocessing,
            spatial_values=self.data.spatial_values,
            reference_values=self.data.reference_values,
            quick=quick,
            device=device,
            gene_embeddings=None if emb is None else emb.copy(),
        )


def prepare(data: PairedData, shared: list[str], preprocessing: str = "spage") -> PreparedData:
    """Preprocess once per dataset: scoring truth and the reference every task shares.

    The truth is the spatial data normalised over all ``shared`` genes (with ``--hvg``, the
    selected genes); each task's spatial ``X`` is normalised over its training genes only
    (:meth:`PreparedData.make_task`), whatever the scheme, so no hidden gene shapes a method's
    input. The reference is normalised over all its genes. Values that are not counts
    (``PairedData.spatial_values`` / ``reference_values``: log-normalised, intensities, ranks) are
    passed as given on their side, never normalised or logged again.
    """
    normalize = normalizer_for(data.spatial_values, preprocessing)
    truth = pd.DataFrame(
        _dense(normalize(data.spatial[:, shared].X)).astype(np.float64),
        index=pd.Index(data.spatial.obs_names),
        columns=shared,
    )
    ref = data.reference
    counts = ref.X.copy() if sp.issparse(ref.X) else np.array(ref.X, dtype=np.float32)
    reference = ad.AnnData(
        X=normalizer_for(data.reference_values, preprocessing)(counts),
        obs=ref.obs.copy(),
        var=pd.DataFrame(index=ref.var_names.copy()),
        layers={COUNTS_LAYER: counts},
    )
    return PreparedData(data, shared, preprocessing, truth, reference, _fingerprint(data, shared, preprocessing))
