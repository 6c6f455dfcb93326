"""``seurat``: Seurat's anchor-based transfer (FindTransferAnchors + TransferData), run in R."""

from __future__ import annotations

import resource
import subprocess
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.io
import scipy.sparse as sp

from benchmark.envs import RSpec
from benchmark.task import COUNTS_LAYER, ImputationTask, Prediction

from . import register
from .base import Method, MethodInfo

_INSTALL_HINT = ("apt-get install --no-install-recommends r-cran-seurat (Debian/Ubuntu), "
                 "or install R and then install.packages('Seurat') in R")

#: The R side. Arguments: the exchange directory, then the parameters (see ``_r_args``).
#: Written into ``task.workdir`` and run with ``Rscript --vanilla``.
_R_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
dir <- args[[1]]
seed <- as.integer(args[[2]])
max_dims <- as.integer(args[[3]])
k_anchor <- as.integer(args[[4]])
k_score <- as.integer(args[[5]])
k_weight <- as.integer(args[[6]])
sd_weight <- as.numeric(args[[7]])
weight_reduction <- args[[8]]
suppressPackageStartupMessages({library(Seurat); library(Matrix)})
set.seed(seed)
rd <- function(name) readLines(file.path(dir, name))
mm <- function(name, rows, cols) {
  m <- as(Matrix::readMM(file.path(dir, name)), "CsparseMatrix")
  dimnames(m) <- list(rows, cols)
  m
}
genes <- rd("genes.txt"); train <- rd("train_genes.txt"); targets <- rd("target_genes.txt")
ref_cells <- rd("ref_cells.txt"); sp_cells <- rd("sp_cells.txt")
ref <- CreateSeuratObject(counts = mm("ref_counts.mtx", genes, ref_cells), project = "RNA",
                          min.cells = 0, min.features = 0)
ref <- SetAssayData(ref, slot = "data", new.data = mm("ref_data.mtx", genes, ref_cells))
qry <- CreateSeuratObject(counts = mm("sp_counts.mtx", train, sp_cells), project = "Spatial",
                          min.cells = 0, min.features = 0)
qry <- SetAssayData(qry, slot = "data", new.data = mm("sp_data.mtx", train, sp_cells))
dn <- min(max_dims, length(train) - 1)
anchors <- FindTransferAnchors(reference = ref, query = qry, features = train, reduction = "cca",
                               reference.assay = "RNA", query.assay = "RNA", k.filter = NA,
                               k.anchor = k_anchor, k.score = k_score, dims = 1:dn, verbose = FALSE)
n_anchors <- nrow(anchors@anchors)
# TransferData stops when k.weight is not below the number of anchors (tiny data only)
kw <- min(k_weight, n_anchors - 1)
refdata <- GetAssayData(ref, assay = "RNA", slot = "data")[targets, , drop = FALSE]
qo <- TransferData(anchorset = anchors, refdata = list(imputed = refdata), query = qry,
                   weight.reduction = weight_reduction, dims = 1:dn, k.weight = kw,
                   sd.weight = sd_weight, verbose = FALSE)
out <- GetAssayData(qo, assay = "imputed", slot = "data")[targets, sp_cells, drop = FALSE]
Matrix::writeMM(as(out, "CsparseMatrix"), file.path(dir, "imputed.mtx"))
writeLines(c(paste0("dims\t", dn), paste0("anchors\t", n_anchors), paste0("k_weight\t", kw),
             paste0("seurat_version\t", as.character(packageVersion("Seurat")))),
           file.path(dir, "info.tsv"))
"""


@register
class SeuratTransfer(Method):
    """Seurat v4 anchor transfer as SpatialBenchmarking (Li et al. 2022) ran it for imputation:
    ``FindTransferAnchors(reduction = "cca")`` on the training genes, then ``TransferData`` of the
    reference's expression of the target genes.

    What it does (R, in a subprocess; data exchanged as MatrixMarket files in ``task.workdir``):

    1. Reference (training + target genes) and spatial cells (training genes) become Seurat
       objects: ``counts`` = the raw counts (``layers["counts"]``), ``data`` = the task's ``X``
       (SpaGE-style log-normalised), so that every method sees the same normalisation.
    2. ``FindTransferAnchors(reference, query, features = training genes, reduction = "cca",
       k.filter = NA, dims = 1:DN)`` with ``DN = min(30, n_training_genes - 1)``, as in
       SpatialBenchmarking's ``Codes/Impute/Seurat.r``; Seurat's defaults otherwise
       (``k.anchor = 5``, ``k.score = 30``, L2-normalised CCA).
    3. ``TransferData(anchors, refdata = reference data of the target genes, query,
       weight.reduction = "pca", dims = 1:DN)`` with Seurat's defaults ``k.weight = 50``,
       ``sd.weight = 1``.

    Output scale: ``TransferData`` returns, for each spatial cell, an anchor-weighted average of
    the reference cells' ``data`` values; the ``data`` given is the task's ``X``, so the
    prediction is on the task's scale without any mapping.

    Deviations from SpatialBenchmarking's script: (a) the ``data`` slot holds the harness's
    SpaGE-normalised values instead of the raw counts that script left there (it called no
    ``NormalizeData``; its older ``Benchmarking/Seurat.r`` used ``NormalizeData``, i.e. log1p of
    counts per 10,000); (b) Seurat 4.3 requires the query object for ``weight.reduction = "pca"``
    (older Seurat did without it), so it is passed; (c) when fewer than ``k.weight + 1`` anchors
    are found (tiny data only), ``k.weight`` is lowered to the number of anchors minus one, which
    Seurat requires; ``info`` records the value used.

    Traps handled: Seurat replaces underscores in gene names and needs cell names unique across
    both objects, so genes and cells are renamed to neutral tokens (``g1``, ``r1``, ``s1``, ...)
    and mapped back (``g1``... in ``task.genes`` order). Nothing is written outside ``task.workdir``. Deterministic: Seurat seeds its
    own randomised steps (``seed.use = 42`` in CCA and PCA); ``set.seed(task.seed)`` covers the
    rest. R is killed with the job (it runs in the job's process group) and, when the task has a
    time budget, after that budget.

    Availability: needs ``Rscript`` on ``PATH`` and the Seurat R package, declared as an R
    environment (:class:`benchmark.envs.RSpec`: ``env ls`` shows it, ``env build seurat`` checks
    it); checked once per process (``system.file(package = "Seurat")``, without loading Seurat).
    The R and Seurat versions go into the job's ``info["environment"]``.
    """

    info = MethodInfo(
        name="seurat",
        summary="Seurat v4 anchor transfer (FindTransferAnchors cca + TransferData) in R, as SpatialBenchmarking ran it.",
        paper_url="https://doi.org/10.1016/j.cell.2019.05.031",
        code_url="https://github.com/satijalab/seurat (script: https://github.com/QuKunLab/SpatialBenchmarking)",
        package="Seurat (R)",
        install_hint=_INSTALL_HINT,
    )

    # anchors and the neighbours weighted in TransferData
    search_space = {"k_anchor": (5, 10), "k_weight": (50, 20, 100)}

    @dataclass
    class Params:
        max_dims: int = 30
        k_anchor: int = 5
        k_score: int = 30
        k_weight: int = 50
        sd_weight: float = 1.0
        weight_reduction: str = "pca"
        #: Seconds allowed for the R subprocess when the task has no time budget.
        r_timeout: float = 3600.0

    #: The environment kind "R via Rscript with these packages" (``python -m benchmark env ls``).
    environment: ClassVar[RSpec] = RSpec(packages=("Seurat",), install_hint=_INSTALL_HINT)

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        ok, reason = super().availability()
        if not ok:
            return ok, reason
        st = cls.environment.probe()
        return st.ok, st.reason

    @classmethod
    def package_version(cls) -> str | None:
        return cls.environment.probe().packages.get("Seurat")

    def fit_predict(self, task: ImputationTask) -> Prediction:
        env = self.environment.probe()
        if not env.ok:
            from benchmark.errors import MethodUnavailableError

            raise MethodUnavailableError(f"method 'seurat' is unavailable: {env.reason}")
        p = self.params
        train = list(task.training_genes)
        targets = list(task.target_genes)
        if len(train) < 2:
            raise ValueError("seurat: needs at least 2 training genes (CCA dimensions = genes - 1)")
        genes = task.genes  # training genes, then the targets that are not among them
        token = {g: f"g{i + 1}" for i, g in enumerate(genes)}
        ref = task.reference[:, genes]
        workdir = task.workdir / "seurat"
        workdir.mkdir(parents=True, exist_ok=True)

        def write(name: str, x) -> None:
            # cells x genes in Python, genes x cells in R
            scipy.io.mmwrite(str(workdir / name), sp.csr_matrix(x, dtype=np.float64).T.tocoo(), precision=9)

        write("ref_counts.mtx", ref.layers[COUNTS_LAYER])
        write("ref_data.mtx", ref.X)
        write("sp_counts.mtx", task.spatial.layers[COUNTS_LAYER])
        write("sp_data.mtx", task.spatial.X)
        for name, items in (("genes.txt", [token[g] for g in genes]),
                            ("train_genes.txt", [token[g] for g in train]),
                            ("target_genes.txt", [token[g] for g in targets]),
                            ("ref_cells.txt", [f"r{i + 1}" for i in range(ref.n_obs)]),
                            ("sp_cells.txt", [f"s{i + 1}" for i in range(task.n_cells)])):
            (workdir / name).write_text("\n".join(items) + "\n")
        script = workdir / "seurat_transfer.R"
        script.write_text(_R_SCRIPT)

        args = [env.rscript, "--vanilla", str(script), str(workdir), str(int(task.seed)), str(int(p.max_dims)),
                str(int(p.k_anchor)), str(int(p.k_score)), str(int(p.k_weight)), repr(float(p.sd_weight)),
                str(p.weight_reduction)]
        timeout = float(task.time_budget) if task.time_budget else float(p.r_timeout)
        try:
            res = subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=str(workdir))
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"seurat: R did not finish within {timeout:.0f} s") from exc
        (workdir / "R.log").write_text(res.stdout + "\n--- stderr ---\n" + res.stderr)
        if res.returncode != 0:
            raise RuntimeError(f"seurat: Rscript failed (exit {res.returncode}); last output:\n{res.stderr[-2000:]}")

        out = scipy.io.mmread(str(workdir / "imputed.mtx"))
        values = np.asarray(sp.csr_matrix(out).toarray().T, dtype=np.float64)  # spatial cells x targets
        if values.shape != (task.n_cells, len(targets)):
            raise RuntimeError(f"seurat: R returned a {values.shape} matrix, expected {(task.n_cells, len(targets))}")
        if not np.isfinite(values).all():
            raise RuntimeError("seurat: TransferData returned NaN or infinite values")
        info = {}
        for line in (workdir / "info.tsv").read_text().splitlines():
            key, _, val = line.partition("\t")
            info[key] = int(val) if val.isdigit() else val
        # R's memory is not in the job's own peak (the harness measures its process): record it here
        info["r_children_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
        info["environment"] = env.record()
        return Prediction(pd.DataFrame(values, index=task.spatial.obs_names, columns=targets), info=info)
