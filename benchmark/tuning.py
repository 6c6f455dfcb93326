"""Tuning parity: the same budget of configurations for every method, chosen without the held-out genes.

A method declares a small search space over the parameters its authors say matter
(:attr:`benchmark.methods.base.Method.search_space`). With ``run --tune`` the harness adds, beside
each such method's default jobs, a *tuned* job per outer split, labelled ``<method>+tuned``. A
tuned job sees exactly what a default job sees (the outer split's task: training genes only) and,
inside its own process and time budget:

1. draws at most ``budget`` configurations from the method's grid: the default configuration
   first, the rest in a seeded random order (:func:`candidate_configs`); every method gets the same
   number where its grid has that many;
2. splits the task's *training* genes into ``inner_folds`` folds (:func:`inner_tasks`) and, for each
   configuration, predicts each inner fold's genes from the others, exactly as the harness builds
   a task (spatial values normalised over the inner training genes only); with ``max_cells``, the
   inner tasks hold a seeded random subsample of at most that many spatial and reference cells
   (the same for every configuration and every method), so that a method whose fit grows with
   the cells can be tuned at all; the final fit uses every cell;
3. scores each configuration by the mean gene PCC over all inner held-out genes against the task's
   own values of those genes (the held-out genes of the outer split are nowhere in the task, so
   nowhere here), and keeps the best (ties: the earlier, so the default wins a tie) among the
   configurations whose inner fits raised no quality flag (:mod:`benchmark.quality`: a solver that
   did not converge, a NaN loss, a constant prediction), since such a fit is a failure that looks
   like a result; only when every configuration was flagged does the best flagged one win;
4. predicts the outer split's target genes with the chosen configuration.

The chosen values and every configuration's inner score go into the prediction's ``info`` and so
into ``job.json`` and the results' ``params`` column of the tuned rows.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from .task import COUNTS_LAYER, ImputationTask, Prediction

#: Label suffix of a tuned method's jobs and result rows (``knn+tuned``).
TUNED_SUFFIX = "+tuned"
#: Default number of configurations per method and outer split, and of inner gene folds.
DEFAULT_BUDGET = 4
DEFAULT_INNER_FOLDS = 3
#: Version of the selection rule, part of a tuned job's cache key (benchmark/runner.py): bump it when
#: the rule changes, so that no cached tuned job chosen by an older rule is reused. 2: flagged
#: configurations lose to unflagged ones.
SELECTION_VERSION = 2


def tuned_name(method: str) -> str:
    return method + TUNED_SUFFIX


def base_name(label: str) -> str:
    """The registered method behind a result label (``knn+tuned`` -> ``knn``)."""
    return label[: -len(TUNED_SUFFIX)] if label.endswith(TUNED_SUFFIX) else label


def is_tuned(label: str) -> bool:
    return label.endswith(TUNED_SUFFIX)


def candidate_configs(method_cls, params: dict[str, Any], budget: int, seed: int) -> list[dict[str, Any]]:
    """At most ``budget`` configurations of ``method_cls.search_space``.

    The first is the configuration the default job runs (the method's defaults overridden by
    ``params``); the others are drawn from the rest of the grid in an order fixed by ``seed``.
    A parameter set explicitly in ``params`` is not searched (the user fixed it).
    """
    import dataclasses

    space = {k: list(v) for k, v in (method_cls.search_space or {}).items() if k not in params}
    if not space:
        return []
    defaults = {f.name: f.default for f in dataclasses.fields(method_cls.Params)}
    unknown = sorted(set(space) - set(defaults))
    if unknown:
        raise ValueError(f"{method_cls.info.name}: search_space names unknown parameters {unknown}")
    keys = sorted(space)
    default = {k: params.get(k, defaults[k]) for k in keys}
    grid = [dict(zip(keys, combo)) for combo in itertools.product(*(space[k] for k in keys))]
    others = [c for c in grid if c != default]
    rng = np.random.default_rng(seed)
    others = [others[i] for i in rng.permutation(len(others))]
    return [default, *others][: max(1, int(budget))]


def cell_subsample(n: int, max_cells: int | None, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of at most ``max_cells`` of ``n`` cells, drawn by ``rng`` (all cells when
    ``max_cells`` is None or at least ``n``)."""
    if max_cells is None or max_cells >= n:
        return np.arange(n)
    if max_cells < 2:
        raise ValueError(f"max_cells must be at least 2, got {max_cells}")
    return np.sort(rng.choice(n, size=int(max_cells), replace=False))


def _subtask(task: ImputationTask, train: list[str], target: list[str], workdir: Path,
             spatial_cells: np.ndarray | None = None, reference_cells: np.ndarray | None = None) -> ImputationTask:
    """The task of an inner split: the outer task's spatial cells (or ``spatial_cells`` of them) on
    ``train`` genes, renormalised over those genes and cells only (as :meth:`PreparedData.make_task`
    normalises over training genes), and the reference (or its ``reference_cells``)."""
    from .prepare import normalizer_for

    sp = task.spatial if spatial_cells is None else task.spatial[spatial_cells]
    reference = task.reference if reference_cells is None else task.reference[reference_cells]
    cols = [sp.var_names.get_loc(g) for g in train]
    counts = sp.layers[COUNTS_LAYER][:, cols]
    counts = counts.copy() if hasattr(counts, "tocsr") else np.array(counts)
    spatial = ad.AnnData(X=normalizer_for(task.spatial_values, task.preprocessing)(counts),
                         obs=pd.DataFrame(index=sp.obs_names.copy()),
                         var=pd.DataFrame(index=pd.Index(train)), layers={COUNTS_LAYER: counts})
    if "spatial" in sp.obsm:
        spatial.obsm["spatial"] = np.array(sp.obsm["spatial"])
    workdir.mkdir(parents=True, exist_ok=True)
    return ImputationTask(spatial=spatial, reference=reference.copy(), target_genes=list(target),
                          seed=task.seed, workdir=workdir, time_budget=task.time_budget,
                          preprocessing=task.preprocessing, spatial_values=task.spatial_values,
                          reference_values=task.reference_values, quick=task.quick, device=task.device,
                          gene_embeddings=None if task.gene_embeddings is None else task.gene_embeddings.copy())


#: Offset mixed into the job's seed for the inner cell subsample, so that it does not reuse the
#: random stream of the gene folds or of the method.
_CELL_SUBSAMPLE_STREAM = 0x7C311


def inner_tasks(task: ImputationTask, n_folds: int, max_cells: int | None = None) -> list[ImputationTask]:
    """Inner gene folds over the task's training genes (its own values are the inner truth).

    With ``max_cells``, every inner task holds the same seeded subsample of at most ``max_cells``
    spatial cells and at most ``max_cells`` reference cells.
    """
    from .splits import kfold_gene_splits

    genes = task.training_genes
    n = min(int(n_folds), len(genes))
    if n < 2:
        raise ValueError(f"tuning needs at least 2 training genes for an inner split, the task has {len(genes)}")
    splits = kfold_gene_splits(genes, n, task.seed)
    rng = np.random.default_rng([int(task.seed), _CELL_SUBSAMPLE_STREAM])
    sp_cells = ref_cells = None
    if max_cells is not None:
        sp_cells = cell_subsample(task.spatial.n_obs, max_cells, rng)
        ref_cells = cell_subsample(task.reference.n_obs, max_cells, rng)
    return [_subtask(task, list(s.train_genes), list(s.target_genes), Path(task.workdir) / f"inner{i}",
                     sp_cells, ref_cells)
            for i, s in enumerate(splits)]


def score_config(method_cls, params: dict[str, Any], config: dict[str, Any], inner: list[ImputationTask],
                 truth: pd.DataFrame) -> dict[str, Any]:
    """One configuration's trial: its mean gene PCC over the held-out genes of the ``inner`` tasks
    (against ``truth``, the outer task's own values: cells x training genes), the quality flags any
    inner fit raised, the error that stopped it (then the score is NaN) and its seconds."""
    from . import quality
    from .metrics import pearson_correlation

    t0 = time.perf_counter()
    pccs: list[np.ndarray] = []
    error = None
    flagged: set[str] = set()
    try:
        for sub in inner:
            raw = method_cls(**{**params, **config}).fit_predict(sub).check(sub)
            pred = raw.expression
            flagged.update(quality.names(quality.flags(pred, raw.info, method_cls.info)))
            t = truth.loc[pred.index, sub.target_genes].to_numpy()
            pccs.append(np.asarray(pearson_correlation(t, pred.to_numpy(), axis=0), dtype=np.float64))
    except Exception as exc:  # noqa: BLE001 - a configuration that fails loses, it does not end the job
        error = f"{type(exc).__name__}: {exc}"
    values = np.concatenate(pccs) if pccs and error is None else np.array([])
    finite = values[np.isfinite(values)]
    score = float(finite.mean()) if finite.size else float("nan")
    return {"config": config, "inner_gene_pcc": score, "error": error,
            "flags": [f for f in quality.FLAGS if f in flagged],  # quality.flags raises only these
            "seconds": round(time.perf_counter() - t0, 3)}


def outer_truth(task: ImputationTask) -> pd.DataFrame:
    """The outer task's spatial values (cells x training genes): the truth of every inner fold."""
    X = task.spatial.X
    return pd.DataFrame(np.asarray(X.todense() if hasattr(X, "todense") else X, dtype=np.float64),
                        index=task.spatial.obs_names, columns=task.training_genes)


def tune_and_predict(method_cls, params: dict[str, Any], task: ImputationTask, *, budget: int = DEFAULT_BUDGET,
                     inner_folds: int = DEFAULT_INNER_FOLDS, max_cells: int | None = None) -> Prediction:
    """Choose a configuration by inner gene CV on ``task``'s training genes, then predict ``task``.

    ``max_cells`` caps the spatial and the reference cells of the inner fits (a seeded subsample,
    :func:`inner_tasks`); the final prediction uses all of ``task``.

    Returns the final prediction with ``info["tuning"]``: the chosen values, and per
    configuration its mean inner gene PCC (or the error that stopped it) and quality flags.
    """
    configs = candidate_configs(method_cls, params, budget, task.seed)
    if not configs:
        raise ValueError(f"method {method_cls.info.name!r} declares no search space to tune")
    inner = inner_tasks(task, inner_folds, max_cells)
    truth = outer_truth(task)
    trials = [score_config(method_cls, params, config, inner, truth) for config in configs]
    scores = [t["inner_gene_pcc"] if np.isfinite(t["inner_gene_pcc"]) else -np.inf for t in trials]
    clean = [i for i, t in enumerate(trials) if not t["flags"] and np.isfinite(scores[i])]
    pool = clean or list(range(len(trials)))  # every configuration flagged: the best flagged one
    best = max(pool, key=lambda i: (scores[i], -i))  # first maximum: the default wins a tie
    chosen = configs[best]
    final = method_cls(**{**params, **chosen}).fit_predict(task)
    info = dict(final.info)
    info["tuning"] = {"chosen": chosen, "budget": int(budget), "inner_folds": len(inner),
                      "inner_cells": {"spatial": int(inner[0].spatial.n_obs), "reference": int(inner[0].reference.n_obs)},
                      "criterion": "mean inner gene PCC; configurations with a quality flag lose "
                                   "unless every one has one", "chose_flagged": bool(trials[best]["flags"]),
                      "trials": trials}
    return Prediction(final.expression, final.confidence, info)


__all__ = ["TUNED_SUFFIX", "DEFAULT_BUDGET", "DEFAULT_INNER_FOLDS", "SELECTION_VERSION", "tuned_name", "base_name", "is_tuned",
           "candidate_configs", "cell_subsample", "inner_tasks", "score_config", "outer_truth", "tune_and_predict"]
