"""What a method receives (:class:`ImputationTask`) and what it returns (:class:`Prediction`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from .errors import BenchmarkError

#: Layer holding the raw counts in both AnnData objects of a task.
COUNTS_LAYER = "counts"


@dataclass
class ImputationTask:
    """One imputation problem, as handed to a method.

    Attributes
    ----------
    spatial
        Spatial cells restricted to the *training* genes. ``X`` holds the preprocessed
        (by default SpaGE-style log-normalised) matrix, ``layers["counts"]`` the raw counts.
        The measured values of the genes to predict are not in this object, anywhere.
    reference
        The scRNA-seq reference with all its genes, preprocessed the same way, raw counts in
        ``layers["counts"]``.
    target_genes
        The genes to predict, in the order the prediction must have. All are reference genes.
    seed
        Seed the method must use for every random choice it makes.
    workdir
        An empty scratch directory owned by this job.
    time_budget
        Seconds the job may take; past it the harness stops the job and records a failure.
    preprocessing
        Name of the preprocessing scheme that produced ``X`` (e.g. ``"spage"``).
    quick
        If true, a method may shorten its training (documented in its metadata).
    device
        ``"cpu"``, ``"cuda"`` or ``"auto"``.
    gene_embeddings
        Optional table, genes x dimensions, of gene (protein) embeddings; may be ``None``.
    """

    spatial: ad.AnnData
    reference: ad.AnnData
    target_genes: list[str]
    seed: int = 0
    workdir: Path = field(default_factory=lambda: Path("."))
    time_budget: float | None = None
    preprocessing: str = "spage"
    #: what the source X held on each side (datasets/base.py VALUE_KINDS): only "counts" and
    #: "normalized" were normalised by ``preprocessing``; other kinds reach ``X`` as given, and
    #: ``layers["counts"]`` then holds those values, not counts
    spatial_values: str = "counts"
    reference_values: str = "counts"
    quick: bool = False
    device: str = "cpu"
    gene_embeddings: pd.DataFrame | None = None

    @property
    def training_genes(self) -> list[str]:
        return list(self.spatial.var_names)

    @property
    def n_cells(self) -> int:
        return self.spatial.n_obs

    @property
    def genes(self) -> list[str]:
        """Training genes, then the target genes that are not among them (each gene once)."""
        train = self.training_genes
        seen = set(train)
        return train + [g for g in self.target_genes if g not in seen]


@dataclass
class Prediction:
    """A method's answer to a task.

    Attributes
    ----------
    expression
        Cells x target genes, on the scoring scale (the preprocessed scale of the task's ``X``),
        rows in the spatial cell order, columns in ``task.target_genes`` order.
    confidence
        Optional per-gene confidence score (higher = more reliable), indexed by gene.
    info
        Free-form facts about the fit (epochs run, warnings), kept with the results.
    """

    expression: pd.DataFrame
    confidence: pd.Series | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def check(self, task: ImputationTask) -> "Prediction":
        """Validate shape, order and values against ``task``; return a float64 copy.

        Raises
        ------
        BenchmarkError
            If the prediction does not answer the task.
        """
        expr = self.expression
        if not isinstance(expr, pd.DataFrame):
            expr = pd.DataFrame(np.asarray(expr), index=task.spatial.obs_names, columns=task.target_genes)
        if expr.shape != (task.n_cells, len(task.target_genes)):
            raise BenchmarkError(
                f"prediction has shape {expr.shape}, expected {(task.n_cells, len(task.target_genes))} "
                "(spatial cells x target genes)"
            )
        missing = [g for g in task.target_genes if g not in expr.columns]
        if missing:
            raise BenchmarkError(f"prediction lacks target genes {missing[:5]} (gene names must keep their case)")
        expr = expr.loc[:, task.target_genes]
        if not expr.index.equals(pd.Index(task.spatial.obs_names)):
            if set(map(str, expr.index)) == set(task.spatial.obs_names):
                expr = expr.loc[list(task.spatial.obs_names)]
            else:
                expr.index = task.spatial.obs_names  # positional: a method may return a RangeIndex
        values = expr.to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            genes = [task.target_genes[j] for j in np.unique(np.nonzero(bad)[1])[:5]]
            raise BenchmarkError(f"prediction contains {int(bad.sum())} NaN or infinite values (genes {genes})")
        conf = self.confidence
        if conf is not None:
            conf = pd.Series(conf, dtype=float)
            if len(conf) != len(task.target_genes):
                raise BenchmarkError("confidence must have one value per target gene")
            if not set(conf.index) >= set(task.target_genes):
                conf.index = task.target_genes
            conf = conf.loc[task.target_genes]
        return Prediction(
            pd.DataFrame(values, index=pd.Index(task.spatial.obs_names), columns=task.target_genes),
            conf,
            dict(self.info),
        )
