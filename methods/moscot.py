"""``moscot``: moscot's spatial ``MappingProblem`` (Klein et al. 2025), imputing the target genes."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from benchmark.errors import InputError
from benchmark.task import ImputationTask, Prediction

from . import register
from .base import Method, MethodInfo
from ._util import dense


def _jax_device(requested: str):
    """A context placing jax computations on the CPU unless a GPU was asked for (and exists)."""
    import jax

    if requested in ("cuda", "auto"):
        try:
            if jax.devices("gpu"):
                return contextlib.nullcontext("gpu")
        except RuntimeError:  # no GPU backend
            pass
    return jax.default_device(jax.devices("cpu")[0])


def solution_facts(solution, epsilon: float) -> dict:
    """Convergence and regularisation facts of a solved moscot problem, for ``Prediction.info``.

    Parameters
    ----------
    solution
        moscot's solver output (``OTTOutput``, one per subproblem in ``problem.solutions``).
    epsilon
        The epsilon passed to ``solve``.

    Returns
    -------
    dict
        ``converged`` (moscot's ``solution.converged``; for Gromov-Wasserstein ott sets it when
        the outer loop stopped before ``max_iterations`` *and* every inner Sinkhorn solve met its
        threshold), ``epsilon`` (requested), ``epsilon_used`` (the epsilon of the final linearised
        geometry, in the units of the scaled cost: with ``scale_cost="mean"`` the cost has mean 1,
        so it equals the requested value unless ott rescaled it), ``gw_iterations`` and
        ``gw_max_iterations`` (outer loop), ``sinkhorn_not_converged`` (inner solves that did not
        meet their threshold), ``cost``; and ``convergence_detail`` when not converged. Facts the
        installed ott does not expose are left out rather than guessed.
    """
    facts: dict = {"converged": bool(solution.converged), "epsilon": float(epsilon)}
    out = getattr(solution, "_output", None)  # ott's GWOutput; moscot exposes only `converged` publicly
    detail = []
    try:
        geom = getattr(out, "geom", None)
        if geom is not None:
            facts["epsilon_used"] = float(f"{float(geom.epsilon):.7g}")  # ott keeps float32: drop its noise
        costs = getattr(out, "costs", None)
        if costs is not None:
            costs = np.asarray(costs)
            n_iter = int((costs != -1).sum())  # ott fills unused iterations with -1
            facts["gw_iterations"], facts["gw_max_iterations"] = n_iter, int(costs.size)
            if n_iter >= costs.size:
                detail.append(f"the Gromov-Wasserstein loop ran to its limit of {costs.size} iterations")
        lin = getattr(out, "linear_convergence", None)
        if lin is not None and costs is not None:
            done = np.asarray(lin)[: facts["gw_iterations"]]
            facts["sinkhorn_not_converged"] = int((~done.astype(bool)).sum())
            if facts["sinkhorn_not_converged"]:
                detail.append(f"{facts['sinkhorn_not_converged']} of {done.size} inner Sinkhorn solves did not "
                              "meet their threshold")
        cost = float(solution.cost)
        facts["cost"] = cost if np.isfinite(cost) else str(cost)  # "-inf" after a failed solve; JSON-safe
    except Exception as exc:  # noqa: BLE001 - informative facts only; `converged` above is the flag
        facts["facts_error"] = f"{type(exc).__name__}: {exc}"
    if not facts["converged"]:
        facts["convergence_detail"] = "; ".join(detail) or "moscot reported converged=False"
    return facts


@register
class MoscotMethod(Method):
    """moscot: map spatial cells to reference cells by entropic fused Gromov-Wasserstein optimal
    transport (ott-jax), then impute each spatial cell as the transport-weighted mean of the
    reference cells' expression.

    What it does (moscot's spatial-mapping tutorial, ``400_spatial_mapping``):

    1. ``adata_sp``: the spatial cells, task ``X`` on the training genes, coordinates in
       ``obsm["spatial"]``. ``adata_sc``: the reference with all its genes (task ``X``, SpaGE-style
       log-normalised) and ``obsm["X_pca"]`` from ``scanpy.pp.pca`` with its defaults (50
       components, at most the number of genes or cells minus one), seeded with ``task.seed``.
    2. ``MappingProblem(adata_sc, adata_sp).prepare(sc_attr={"attr": "obsm", "key": "X_pca"},
       xy_callback="local-pca")``: the quadratic term compares standardised spatial coordinates
       with the reference PCA; the linear term uses the genes the two share (the training genes;
       a joint 30-component PCA of both data sets when there are more than 30 of them, the
       genes themselves otherwise).
    3. ``solve()`` with moscot's defaults: ``alpha=0.5``, ``epsilon=1e-2``, balanced
       (``tau_a = tau_b = 1``), ``scale_cost="mean"``, full rank, ott's default iteration limits.
    4. ``impute(var_names=target_genes)``.

    Output scale: ``impute`` returns ``T @ (x / b)``, where ``T`` (spatial x reference cells) is
    the transport plan and ``b`` the reference marginals; its row sums are ``n_reference /
    n_spatial`` rather than one. Each row is divided by the same operator applied to a vector of
    ones, so the prediction is the transport-weighted mean of the reference cells' ``X``, on
    the scale of the task's ``X``.

    Traps handled: jax is imported inside :meth:`fit_predict` only (never before the harness
    forks; not in ``preload``); computations are pinned to the CPU unless ``task.device`` asks
    for a GPU; the task's objects are never passed (moscot writes to the objects it is given).
    Needs spatial coordinates; without them the method stops with an
    :class:`~benchmark.errors.InputError`.

    Quick mode: no change (ott's solvers stop at their convergence threshold).
    Deterministic on CPU (no random initialisation; the PCA is seeded).
    """

    info = MethodInfo(
        name="moscot",
        summary="moscot MappingProblem: fused Gromov-Wasserstein map of spatial onto reference cells; impute target genes.",
        paper_url="https://doi.org/10.1038/s41586-024-08453-2",
        code_url="https://github.com/theislab/moscot",
        package="moscot",
        requires=("moscot", "jax", "ott"),
        install_hint="pip install -c constraints.txt moscot",
        quick_note="no change (no training loop; the solvers stop at their convergence threshold)",
    )

    # the weight of the spatial (Gromov-Wasserstein) term and the entropic regularisation
    search_space = {"alpha": (0.5, 0.1, 0.2, 0.8), "epsilon": (1e-2, 1e-3)}

    @dataclass
    class Params:
        alpha: float = 0.5
        epsilon: float = 1e-2
        tau_a: float = 1.0
        tau_b: float = 1.0
        #: Components of the reference PCA (scanpy's default; capped by the data's shape).
        n_pcs: int = 50

    def fit_predict(self, task: ImputationTask) -> Prediction:
        import anndata as ad
        import scanpy as sc
        from moscot.problems.space import MappingProblem

        if "spatial" not in task.spatial.obsm:
            raise InputError("moscot's MappingProblem needs spatial coordinates (obsm['spatial'] of the spatial "
                             "data); give the dataset a coordinate key")
        targets = list(task.target_genes)
        coords = np.array(task.spatial.obsm["spatial"], dtype=np.float64, copy=True)
        if not np.isfinite(coords).all():
            raise InputError("moscot: the spatial coordinates contain NaN or infinite values")

        ref_x = task.reference.X
        ref_x = sp.csr_matrix(ref_x, dtype=np.float32, copy=True) if sp.issparse(ref_x) else \
            np.array(ref_x, dtype=np.float32, copy=True)
        adata_sc = ad.AnnData(
            X=ref_x,
            obs=pd.DataFrame(index=pd.Index([f"r{i}" for i in range(ref_x.shape[0])])),
            var=pd.DataFrame(index=pd.Index([str(g) for g in task.reference.var_names])),
        )
        adata_sp = ad.AnnData(
            X=np.array(dense(task.spatial.X), dtype=np.float32, copy=True),
            obs=pd.DataFrame(index=pd.Index([f"s{i}" for i in range(task.n_cells)])),
            var=pd.DataFrame(index=pd.Index([str(g) for g in task.training_genes])),
        )
        adata_sp.obsm["spatial"] = coords
        n_pcs = max(1, min(int(self.params.n_pcs), min(adata_sc.shape) - 1))
        sc.pp.pca(adata_sc, n_comps=n_pcs, random_state=task.seed)

        with _jax_device(task.device):
            mp = MappingProblem(adata_sc=adata_sc, adata_sp=adata_sp)
            mp = mp.prepare(sc_attr={"attr": "obsm", "key": "X_pca"}, xy_callback="local-pca")
            mp = mp.solve(alpha=float(self.params.alpha), epsilon=float(self.params.epsilon),
                          tau_a=float(self.params.tau_a), tau_b=float(self.params.tau_b))
            imputed = mp.impute(var_names=targets)
            (solution,) = mp.solutions.values()
            mass = np.asarray(solution.pull(np.ones((adata_sc.n_obs, 1), dtype=np.float32),
                                            scale_by_marginals=True), dtype=np.float64).ravel()
            facts = solution_facts(solution, float(self.params.epsilon))
        values = np.asarray(dense(imputed.X), dtype=np.float64)
        if not (np.isfinite(mass).all() and (mass > 0).all()):
            raise ValueError("moscot: the transport plan gives no (or non-finite) mass to some spatial cells "
                             f"(converged={facts['converged']}, epsilon {facts.get('epsilon_used', 'unknown')})")
        values = values / mass[:, None]
        if not np.isfinite(values).all():
            raise ValueError("moscot: the imputation contains NaN or infinite values (the solver diverged; "
                             f"converged={facts['converged']})")
        return Prediction(
            pd.DataFrame(values, index=task.spatial.obs_names, columns=targets),
            info={**facts, "n_pcs": n_pcs, "alpha": float(self.params.alpha), "tau_a": float(self.params.tau_a),
                  "tau_b": float(self.params.tau_b)},
        )
