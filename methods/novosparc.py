"""``novosparc``: novoSpaRc (Nitzan et al. 2019) with the spatial data as marker atlas."""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
import pandas as pd

from benchmark.errors import InputError
from benchmark.task import ImputationTask, Prediction

from . import register
from .base import Method, MethodInfo
from ._util import dense

#: POT's Sinkhorn warnings (``ot.bregman.sinkhorn_knopp``, POT 0.9): the iterate hit zeros, NaN or
#: infinities (it falls back to the previous iterate and stops), or the iteration limit was reached.
_NUMERICAL = "numerical errors"
_NOT_CONVERGED = "did not converge"


@dataclass
class _GWCall:
    """What one call of novoSpaRc's Gromov-Wasserstein solver did (one epsilon tried)."""

    epsilon: float
    tol: float
    max_iter: int
    #: the outer loop's errors ``||T - T_prev||``, checked every 10th iteration (novoSpaRc's ``log``)
    errors: list[float] = field(default_factory=list)
    #: per Sinkhorn solve, in order: POT's warning messages (empty: converged)
    sinkhorn: list[list[str]] = field(default_factory=list)

    @property
    def outer_converged(self) -> bool | None:
        """The outer loop stopped on its tolerance (not on ``max_iter``); ``None`` without an
        outer loop (``alpha_linear == 1``: one Sinkhorn solve)."""
        return None if not self.errors else bool(self.errors[-1] <= self.tol)

    def count(self, text: str) -> int:
        return sum(any(text in m for m in msgs) for msgs in self.sinkhorn)


@contextlib.contextmanager
def _recording(module) -> Iterator[list[_GWCall]]:
    """Record every call of ``module.gromov_wasserstein_adjusted_norm`` and of the Sinkhorn solver
    it uses, while the block runs; the originals are restored afterwards.

    Why: ``Tissue.reconstruct`` neither returns nor stores which epsilon its kept plan was solved
    with (it stores one ten times smaller when it had to raise epsilon), nor whether the solve
    converged. The kept plan is always that of the last call, so the last recorded call is the
    solve whose epsilon and convergence the job reports. The calls are passed through unchanged:
    the outer loop's ``log`` (which novoSpaRc supports but does not request) is read, and POT's
    warnings are caught per Sinkhorn solve rather than printed to stderr. A numerical-error
    warning is also printed to stdout in the form novoSpaRc's retry reads there (the form of the
    POT it was written for), so that ``search_epsilon=True`` raises epsilon as its authors intended.
    """
    calls: list[_GWCall] = []
    gw_orig, sinkhorn_orig = module.gromov_wasserstein_adjusted_norm, module.sinkhorn

    def sinkhorn(*args, **kwargs):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = sinkhorn_orig(*args, **kwargs)
        if calls:
            calls[-1].sinkhorn.append([str(w.message) for w in caught])
        if any(_NUMERICAL in str(w.message) for w in caught):
            # novoSpaRc raises epsilon when it reads POT's numerical-error message on stdout (its
            # redirect), which POT printed when novoSpaRc was written; POT 0.9 issues a warning
            # instead, so without this line the authors' retry (search_epsilon=True) never fires
            print("Warning: numerical errors at iteration (POT warning)")
        return out

    def gw(cost_mat, C1, C2, alpha_linear, p, q, loss_fun, epsilon, max_iter=1000, tol=1e-9, verbose=False,
           log=False, random_ini=False):
        call = _GWCall(epsilon=float(epsilon), tol=float(tol), max_iter=int(max_iter))
        calls.append(call)
        record: dict[str, Any] = {"err": []}
        T, record = gw_orig(cost_mat, C1, C2, alpha_linear, p, q, loss_fun, epsilon, max_iter=max_iter, tol=tol,
                            verbose=verbose, log=record, random_ini=random_ini)
        call.errors = [float(e) for e in record.get("err", [])]
        return (T, log) if log else T

    module.gromov_wasserstein_adjusted_norm, module.sinkhorn = gw, sinkhorn
    try:
        yield calls
    finally:
        module.gromov_wasserstein_adjusted_norm, module.sinkhorn = gw_orig, sinkhorn_orig


def solve_facts(calls: list[_GWCall], reported_epsilon: float) -> dict[str, Any]:
    """The epsilon and convergence facts of a reconstruction, from its recorded solver calls.

    Parameters
    ----------
    calls
        The recorded Gromov-Wasserstein calls, in order (one per epsilon tried).
    reported_epsilon
        ``tissue.epsilon`` as novoSpaRc set it (kept for the record: it is ten times too small
        when novoSpaRc raised epsilon and then succeeded).

    Returns
    -------
    dict
        ``epsilon_used`` (the epsilon of the kept plan: the last call), ``epsilons_tried``,
        ``epsilon_raised``, ``epsilon_reported_by_novosparc``, ``converged`` (the kept solve's
        outer loop stopped on its tolerance and its Sinkhorn solves hit no numerical error),
        ``convergence_detail`` (what did not converge, when not), ``gw_outer_converged``,
        ``gw_outer_checks``, ``sinkhorn_solves``, ``sinkhorn_not_converged`` and
        ``sinkhorn_numerical_errors`` of the kept solve.
    """
    if not calls:
        raise RuntimeError("novoSpaRc: no Gromov-Wasserstein solve was recorded (novosparc's internals changed?)")
    kept = calls[-1]
    numerical = kept.count(_NUMERICAL)
    not_conv = kept.count(_NOT_CONVERGED)
    outer = kept.outer_converged
    problems = []
    if outer is False:
        problems.append(f"the Gromov-Wasserstein loop stopped at its limit of {kept.max_iter} iterations "
                        f"(last change {kept.errors[-1]:.3g} > tol {kept.tol:g})")
    if numerical:
        problems.append(f"{numerical} of {len(kept.sinkhorn)} Sinkhorn solves hit numerical errors "
                        f"at epsilon {kept.epsilon:g}")
    if outer is None and not_conv:  # a single Sinkhorn solve is the whole answer
        problems.append(f"the Sinkhorn solve did not converge at epsilon {kept.epsilon:g}")
    facts: dict[str, Any] = {
        "epsilon_used": kept.epsilon,
        "epsilons_tried": [c.epsilon for c in calls],
        "epsilon_raised": kept.epsilon > calls[0].epsilon,
        "epsilon_reported_by_novosparc": float(reported_epsilon),
        "converged": not problems,
        "gw_outer_converged": outer,
        "gw_outer_checks": len(kept.errors),
        "sinkhorn_solves": len(kept.sinkhorn),
        "sinkhorn_not_converged": not_conv,
        "sinkhorn_numerical_errors": numerical,
    }
    if problems:
        facts["convergence_detail"] = "; ".join(problems)
    return facts


@register
class NovosparcMethod(Method):
    """novoSpaRc: map reference cells onto spatial cells by entropic fused Gromov-Wasserstein
    optimal transport (expression-graph vs. physical-graph distances, plus a marker-gene term),
    then average the reference cells' expression with the transport plan.

    What it does (novoSpaRc's reconstruction-with-atlas tutorials):

    1. ``dataset``: the reference, restricted to the training and target genes, with the task's
       (SpaGE-style log-normalised) ``X``, dense. ``locations``: the spatial coordinates
       (``task.spatial.obsm["spatial"]``). The atlas is the spatial ``X`` on the training genes
       and ``markers_to_use`` their columns in ``dataset``.
    2. ``novosparc.cm.Tissue(dataset, locations)``, then
       ``tissue.setup_reconstruction(atlas_matrix=..., markers_to_use=..., num_neighbors_s=5,
       num_neighbors_t=5)``: shortest-path distances in 5-nearest-neighbour graphs of the
       reference cells (expression) and of the spatial cells (coordinates), and the Euclidean
       marker cost between max-scaled reference and atlas expression.
    3. ``tissue.reconstruct(alpha_linear=0.8, epsilon=5e-3)`` (the tutorial's values; uniform
       marginals, up to 1000 Gromov-Wasserstein iterations, and novoSpaRc's own retry with a ten
       times larger epsilon if Sinkhorn reports numerical errors).

    Output scale: ``tissue.sdge = dge.T @ gw`` sums, for spatial cell j, ``gw_ij x_i`` over
    reference cells i, with a column mass of about 1 / n_spatial. Each column is divided by its
    mass, so the prediction is the transport-weighted mean of the reference cells' ``X``, on
    the scale of the task's ``X``.

    Deviations: the reference is restricted to the panel genes (training + target) rather than
    all its genes, which bounds the dense ``genes x spatial cells`` output and memory; the
    expression graph is therefore built on those genes. Needs spatial coordinates; without
    them the method stops with an :class:`~benchmark.errors.InputError`.

    Quick mode: no change (there is no training loop to shorten).
    Deterministic: no random initialisation (``random_ini=False``).
    """

    info = MethodInfo(
        name="novosparc",
        summary="novoSpaRc: fused Gromov-Wasserstein map of reference cells onto spatial cells, training genes as atlas.",
        paper_url="https://doi.org/10.1038/s41586-019-1773-3",
        code_url="https://github.com/rajewsky-lab/novosparc",
        package="novosparc",
        requires=("novosparc", "ot"),
        install_hint="pip install -c constraints.txt novosparc POT",
        quick_note="no change (no training loop)",
    )

    # the weight of the expression (linear) term against the spatial structure term
    search_space = {"alpha_linear": (0.8, 0.5, 0.9, 1.0)}

    @dataclass
    class Params:
        alpha_linear: float = 0.8
        epsilon: float = 5e-3
        num_neighbors_s: int = 5
        num_neighbors_t: int = 5
        search_epsilon: bool = True

    def fit_predict(self, task: ImputationTask) -> Prediction:
        import anndata as ad
        import novosparc

        if "spatial" not in task.spatial.obsm:
            raise InputError("novoSpaRc needs spatial coordinates (obsm['spatial'] of the spatial data); "
                             "give the dataset a coordinate key")
        train = list(task.training_genes)
        targets = list(task.target_genes)
        genes = task.genes
        locations = np.array(task.spatial.obsm["spatial"], dtype=np.float64, copy=True)
        if not np.isfinite(locations).all():
            raise InputError("novoSpaRc: the spatial coordinates contain NaN or infinite values")

        dge = np.array(dense(task.reference[:, genes].X), dtype=np.float64, copy=True)
        atlas = np.array(dense(task.spatial.X), dtype=np.float64, copy=True)
        # setup_linear_cost divides by these maxima; an all-zero matrix would give NaN costs.
        if not dge[:, : len(train)].max() > 0 or not atlas.max() > 0:
            raise ValueError("novoSpaRc: the training genes are zero in every reference or every spatial cell")
        n_ref, n_sp = dge.shape[0], atlas.shape[0]
        k_s = max(1, min(int(self.params.num_neighbors_s), n_ref))
        k_t = max(1, min(int(self.params.num_neighbors_t), n_sp))

        dataset = ad.AnnData(
            X=dge,
            obs=pd.DataFrame(index=pd.Index([f"r{i}" for i in range(n_ref)])),
            var=pd.DataFrame(index=pd.Index([f"g{i}" for i in range(len(genes))])),
        )
        log = io.StringIO()
        with contextlib.redirect_stdout(log):  # progress prints
            tissue = novosparc.cm.Tissue(dataset=dataset, locations=locations)
            tissue.setup_reconstruction(atlas_matrix=atlas, markers_to_use=np.arange(len(train)),
                                        num_neighbors_s=k_s, num_neighbors_t=k_t, verbose=False)
            with _recording(novosparc.rc._GWadjusted) as calls:  # the epsilon used, and convergence
                tissue.reconstruct(alpha_linear=float(self.params.alpha_linear), epsilon=float(self.params.epsilon),
                                   search_epsilon=bool(self.params.search_epsilon), random_ini=False, verbose=False)
        facts = solve_facts(calls, tissue.epsilon)
        tried = f"epsilon tried: {', '.join(f'{e:g}' for e in facts['epsilons_tried'])}; " + \
            facts.get("convergence_detail", "the solve reported no numerical error")
        gw = np.asarray(tissue.gw, dtype=np.float64)  # reference cells x spatial cells
        if not np.isfinite(gw).all():
            raise ValueError(f"novoSpaRc: the transport plan contains NaN ({tried})")
        mass = gw.sum(axis=0)
        if not np.all(mass > 0):
            raise ValueError(f"novoSpaRc: the transport plan gives no mass to some spatial cells ({tried})")
        sdge = np.asarray(tissue.sdge, dtype=np.float64)  # genes x spatial cells
        col = {g: j for j, g in enumerate(genes)}
        values = (sdge[[col[g] for g in targets]] / mass).T
        return Prediction(
            pd.DataFrame(values, index=task.spatial.obs_names, columns=targets),
            info={**facts, "alpha_linear": float(self.params.alpha_linear), "num_neighbors_s": k_s,
                  "num_neighbors_t": k_t},
        )
