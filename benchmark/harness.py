"""The benchmark run: datasets x methods x splits x seeds -> jobs -> scores -> results folder."""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from . import __version__
from .datasets import PairedData, load_dataset
from .datasets.io import read_anndata, read_embeddings
from .datasets.validation import harmonize_gene_case, split_control_probes, validate_pair
from .errors import InputError, MethodUnavailableError
from .methods import default_methods, get_method_class, select_methods
from .metrics import ClusterParams
from .prepare import PreparedData, prepare
from .provenance import git_commit, machine, package_versions
from .results import summary_table, to_frame, write_results
from .runner import Job, JobOutcome, method_fingerprint, warm_imports
from .tuning import candidate_configs, tuned_name
from .splits import PROTOCOLS, GeneSplit, cell_gene_splits, holdout_gene_splits, kfold_gene_splits


@dataclass
class UserData:
    """A user's own pair of files, given with ``--spatial`` and ``--reference``."""

    spatial: Path
    reference: Path
    name: str | None = None
    label_key: str | None = None
    spatial_key: str | None = None
    layer: str | None = None
    embeddings: Path | None = None


@dataclass
class RunConfig:
    """Everything that defines a run (all of it is recorded in ``run.json``)."""

    datasets: list[str] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    #: methods left out (e.g. of ``"all"``)
    exclude_methods: list[str] = field(default_factory=list)
    method_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    protocol: str = "kfold"
    n_folds: int = 5
    holdout_fraction: float = 0.5
    repeats: int = 3
    seeds: list[int] = field(default_factory=lambda: [0])
    out: Path = Path("benchmark-results")
    cache_dir: Path | None = None
    data_dir: Path | None = None
    quick: bool = False
    time_budget: float | None = 1800.0
    isolate: bool = True
    retry_failed: bool = False
    device: str = "cpu"
    preprocessing: str = "spage"
    #: where predictions are scored: "normalized" (the preprocessed scale) or "counts" (raw counts);
    #: see benchmark.scoring.SCORING_SPACES and docs/metrics.md
    scoring_space: str = "normalized"
    cluster: bool = True
    cluster_params: ClusterParams = field(default_factory=ClusterParams)
    user_data: list[UserData] = field(default_factory=list)
    harmonize_gene_case: bool = False
    #: keep only this many highly variable shared genes (chosen on the reference; None: all)
    hvg: int | None = None
    #: check each registered dataset file's sha256 against the manifest before reading it
    verify_data: bool = False
    #: seed and reference fraction of the cell split of ``self:NAME`` datasets
    self_pair_seed: int = 0
    self_pair_fraction: float = 0.5
    #: where jobs run: "serial" (this process) or "dask" (see benchmark/executors.py, docs/scaling.md)
    executor: str = "serial"
    #: Dask scheduler address to join; None starts a local cluster of ``dask_workers`` workers
    scheduler: str | None = None
    dask_workers: int | None = None
    #: keep negative-control probes (Blank-*, NegPrb*, NegControl*) in the gene CV
    keep_control_probes: bool = False
    #: also run every method that declares a search space tuned (rows ``<method>+tuned``):
    #: ``tune_budget`` configurations chosen by ``tune_folds``-fold inner gene CV (benchmark/tuning.py),
    #: the inner fits on at most ``tune_cells`` spatial and reference cells (None: all)
    tune: bool = False
    tune_budget: int = 4
    tune_folds: int = 3
    tune_cells: int | None = None
    #: with ``tune``, run only the tuned jobs of the methods that get them (no default rows for those)
    tuned_only: bool = False

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        return json.loads(json.dumps(d, default=str))


@dataclass
class RunResult:
    out: Path
    results: pd.DataFrame
    jobs: pd.DataFrame
    summary: pd.DataFrame
    failures: list[dict[str, Any]]


def _load_user_data(u: UserData, cfg: RunConfig | None = None) -> PairedData:
    """A user's files as a :class:`PairedData`.

    Without a reference file the spatial file is self-paired exactly as ``self:NAME`` is (seed
    and fraction from ``cfg``), and one line says so. Without ``--spatial-key`` the scverse
    convention ``obsm["spatial"]`` is used when the file has it as cells x 2 (or 3) coordinates.
    """
    spatial = read_anndata(u.spatial, "spatial file")
    reference = read_anndata(u.reference, "reference file") if u.reference is not None else None
    if u.layer:
        for what, a in (("spatial", spatial), ("reference", reference)):
            if a is None:
                continue
            if u.layer not in a.layers:
                raise InputError(f"layer {u.layer!r} is not in the {what} file; layers: {list(a.layers.keys())}")
            a.X = a.layers[u.layer]
    emb = read_embeddings(u.embeddings) if u.embeddings else None
    spatial_key = u.spatial_key
    if spatial_key is None and "spatial" in spatial.obsm:
        xy = spatial.obsm["spatial"]
        # only a well-formed default: a malformed obsm["spatial"] the user did not ask for is ignored
        if getattr(xy, "ndim", 0) == 2 and xy.shape[0] == spatial.n_obs and xy.shape[1] in (2, 3):
            spatial_key = "spatial"
    data = PairedData(
        name=u.name or Path(u.spatial).stem,
        spatial=spatial,
        reference=reference,
        label_key=u.label_key,
        spatial_key=spatial_key,
        gene_embeddings=emb,
        meta={"spatial_file": str(u.spatial), "reference_file": None if u.reference is None else str(u.reference)},
    )
    if reference is None:
        from .datasets.self_pair import make_self_pair

        seed = cfg.self_pair_seed if cfg is not None else 0
        fraction = cfg.self_pair_fraction if cfg is not None else 0.5
        data = make_self_pair(data, seed=seed, reference_fraction=fraction)
        print(f"note: no reference file given: self-pairing {u.spatial} as {data.name!r} ({fraction:g} of its cells, "
              f"seed {seed}, become the reference; a proxy without a platform effect, see docs/datasets.md)",
              file=sys.stderr)
    return data


def make_splits(cfg: RunConfig, genes: list[str], seed: int, prep: PreparedData | None = None) -> list[GeneSplit]:
    """The splits of one dataset and seed under ``cfg.protocol``.

    ``prep`` is needed by the cell-split protocol (its cells and their duplicate groups).
    """
    if cfg.protocol == "kfold":
        return kfold_gene_splits(genes, cfg.n_folds, seed)
    if cfg.protocol == "holdout":
        return holdout_gene_splits(genes, cfg.holdout_fraction, cfg.repeats, seed)
    if cfg.protocol == "cellsplit":
        if prep is None:
            raise ValueError("the cellsplit protocol needs the prepared data (cells and duplicate groups)")
        return cell_gene_splits(genes, list(prep.truth.index), prep.cell_groups(), cfg.n_folds,
                                cfg.holdout_fraction, cfg.repeats, seed)
    raise InputError(f"unknown protocol {cfg.protocol!r}; use one of {', '.join(PROTOCOLS)}")


def _merge_cell_folds(outcomes: list[JobOutcome], cells: dict[str, pd.Index]) -> list[JobOutcome]:
    """Cell-split protocol: join the K cell-fold jobs of each repeat into one outcome whose
    prediction covers every spatial cell (label ``r<repeat>``), scored like a held-out repeat.

    Its runtime is the sum over the folds, its peak memory the largest; if any fold failed the
    merged outcome is failed (the failing jobs are in ``jobs.csv``). ``cells`` gives each dataset's
    cell order, which the merged prediction follows."""
    from dataclasses import replace

    groups: dict[tuple, list[JobOutcome]] = {}
    for o in outcomes:
        s = o.job.split
        groups.setdefault((o.job.dataset, o.job.method, o.job.seed, s.repeat), []).append(o)
    merged = []
    for outs in groups.values():
        first = outs[0]
        split = replace(first.job.split, index=first.job.split.repeat, cells=None)
        job = replace(first.job, split=split)
        ok = all(o.ok for o in outs)
        runtimes = [o.runtime_s for o in outs if o.runtime_s is not None]
        mems = [o.peak_memory_mb for o in outs if o.peak_memory_mb is not None]
        merged.append(JobOutcome(
            job, "ok" if ok else "failed", all(o.from_cache for o in outs),
            sum(runtimes) if runtimes else None, max(mems) if mems else None,
            None if ok else "a cell fold of this repeat failed",
            pd.concat([o.prediction for o in outs], axis=0).loc[cells[first.job.dataset]] if ok else None,
            pd.concat([o.confidence for o in outs], axis=1).mean(axis=1)
            if ok and all(o.confidence is not None for o in outs) else None,
            key=",".join(o.key for o in outs),
        ))
    return merged


def resolve_methods(cfg: RunConfig) -> list[str]:
    names = select_methods(cfg.methods or default_methods(), cfg.exclude_methods)
    for name in names:
        cls = get_method_class(name)  # raises with the list of valid names
        ok, reason = cls.availability()
        if not ok:
            raise MethodUnavailableError(f"method {name!r} is unavailable: {reason}")
        cls(**cfg.method_params.get(name, {}))  # unknown parameters fail here, before any work
    unknown = set(cfg.method_params) - set(names)
    if unknown:
        raise InputError(f"parameters given for method(s) not in this run: {sorted(unknown)}")
    return names


def load_and_validate(cfg: RunConfig, data: list[PairedData] = ()) -> list[tuple[PairedData, list[str]]]:
    """Load every dataset of the run and validate it; raise before anything is written."""
    names = cfg.datasets if cfg.datasets or cfg.user_data or data else _defaults()
    loaded = [load_dataset(name, cfg.data_dir, verify=cfg.verify_data, self_pair_seed=cfg.self_pair_seed,
                           self_pair_fraction=cfg.self_pair_fraction) for name in names]
    loaded += [_load_user_data(u, cfg) for u in cfg.user_data]
    loaded += list(data)
    names = [d.name for d in loaded]
    if len(set(names)) != len(names):
        raise InputError(f"two datasets of this run have the same name: {names}; give --name")
    out = []
    if cfg.protocol not in PROTOCOLS:
        raise InputError(f"unknown protocol {cfg.protocol!r}; use one of {', '.join(PROTOCOLS)}")
    from .scoring import check_scoring_space

    check_scoring_space(cfg.scoring_space)
    min_shared = cfg.n_folds if cfg.protocol == "kfold" else 2
    for data in loaded:
        if data.reference is None:
            raise InputError(f"dataset {data.name!r} has no reference; run a spatial-only dataset as 'self:NAME'")
        if cfg.harmonize_gene_case:
            data = harmonize_gene_case(data)
        genes = validate_pair(data, min_shared=min_shared, need_labels=cfg.cluster and data.label_key is not None)
        # negative-control probes measure background, not a gene: out of the gene CV unless kept
        keep = cfg.keep_control_probes
        genes, probes = split_control_probes(genes, keep=keep)
        if probes:
            from dataclasses import replace

            data = replace(data, meta={**data.meta, "control_probes": {"names": probes, "in_gene_cv": keep}})
            if len(genes) < min_shared:
                raise InputError(f"{data.name!r}: without its {len(probes)} negative-control probe(s) "
                                 f"{len(genes)} gene(s) are left, fewer than the protocol needs ({min_shared})")
        if cfg.hvg is not None:  # chosen on the reference only, before any split
            from .datasets.hvg import select_hvg

            genes = select_hvg(data.reference, genes, cfg.hvg, values=data.reference_values)
            if len(genes) < min_shared:
                raise InputError(f"--hvg {cfg.hvg} leaves {len(genes)} genes, fewer than the protocol needs ({min_shared})")
        out.append((data, genes))
    return out


def _not_applicable(prep: PreparedData, method: str) -> str:
    """Why ``method`` does not apply to ``prep``'s data ("" if it does): a method that models raw
    counts (``MethodInfo.needs_counts``) on values that are not counts (docs/datasets.md)."""
    from .datasets.base import is_raw_counts

    cls = get_method_class(method)
    sv, rv = prep.data.spatial_values, prep.data.reference_values
    if cls.info.needs_counts and not (is_raw_counts(sv) and is_raw_counts(rv)):
        return (f"not applicable: {cls.info.name} models raw counts, and dataset {prep.name!r} holds {sv} values "
                f"(spatial) and {rv} values (reference)")
    return ""


def _tuned_methods(cfg: RunConfig, methods: list[str]) -> list[str]:
    """The methods of the run that get a tuned row: with ``--tune``, those with a search space
    left after the user's fixed parameters (never an oracle or an ablation)."""
    if cfg.tuned_only and not cfg.tune:
        raise InputError("--tuned-only needs --tune")
    if not cfg.tune:
        return []
    if cfg.tune_budget < 1 or cfg.tune_folds < 2:
        raise InputError(f"--tune-budget must be at least 1 and --tune-folds at least 2, got "
                         f"{cfg.tune_budget} and {cfg.tune_folds}")
    if cfg.tune_cells is not None and cfg.tune_cells < 2:
        raise InputError(f"--tune-cells must be at least 2, got {cfg.tune_cells}")
    out = []
    for m in methods:
        cls = get_method_class(m)
        if cls.info.oracle or cls.info.variant_of:  # an ablation measures a component at its parent's settings
            continue
        if candidate_configs(cls, cfg.method_params.get(m, {}), cfg.tune_budget, 0):
            out.append(m)
    return out


def _tune_settings(cfg: RunConfig) -> dict[str, int]:
    """A tuned job's settings (part of its cache key); ``max_cells`` only when set, so that the keys
    of tuned jobs over every cell stay those of runs before ``--tune-cells`` existed."""
    tune = {"budget": cfg.tune_budget, "inner_folds": cfg.tune_folds}
    if cfg.tune_cells is not None:
        tune["max_cells"] = int(cfg.tune_cells)
    return tune


def _defaults() -> list[str]:
    from .datasets import default_datasets

    return default_datasets()


def run_benchmark(cfg: RunConfig, data: list[PairedData] = (), *, progress: bool = True) -> RunResult:
    """Run the benchmark defined by ``cfg`` and write its results folder.

    ``data`` adds in-memory paired data sets (AnnData objects) to those named in ``cfg``.

    Input is validated before anything is written, so bad input leaves no files behind.
    Finished jobs are reused from the cache, so an interrupted run resumes where it stopped.
    """
    started = datetime.now(timezone.utc)
    git_commit()  # cached: the run records the commit it started on, not the one it ended on
    methods = resolve_methods(cfg)
    tuned = _tuned_methods(cfg, methods)
    pairs = load_and_validate(cfg, data)
    preps = [prepare(data, genes, cfg.preprocessing) for data, genes in pairs]

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    cache_dir = Path(cfg.cache_dir) if cfg.cache_dir else out / "cache"
    plan: list[tuple[PreparedData, Job, Path]] = []
    fingerprints = {m: method_fingerprint(get_method_class(m)) for m in methods}
    for prep in preps:
        for seed in cfg.seeds:
            for split in make_splits(cfg, prep.shared, seed, prep):
                for m in methods:
                    if cfg.tuned_only and m in tuned:  # its default row comes from another run
                        continue
                    job = Job(prep.name, m, dict(sorted(cfg.method_params.get(m, {}).items())), split, seed, cfg.quick)
                    key = job.key(prep.fingerprint, fingerprints[m])
                    plan.append((prep, job, cache_dir / prep.name / m / key))
                for m in tuned:  # the same split, the same budget, the configuration chosen inside the job
                    job = Job(prep.name, tuned_name(m), dict(sorted(cfg.method_params.get(m, {}).items())), split,
                              seed, cfg.quick, tune=_tune_settings(cfg))
                    key = job.key(prep.fingerprint, fingerprints[m])
                    plan.append((prep, job, cache_dir / prep.name / job.method / key))

    inapplicable = {(prep.name, job.method): _not_applicable(prep, job.method) for prep, job, _ in plan}
    outcomes = _run_plan([p for p in plan if not inapplicable[(p[0].name, p[1].method)]], cfg, progress)
    # a method that models counts on data that are not counts: a status with the reason, not a run
    outcomes += [JobOutcome(job, "not_applicable", error=inapplicable[(prep.name, job.method)])
                 for prep, job, _ in plan if inapplicable[(prep.name, job.method)]]
    rows = _score(cfg, preps, outcomes)
    provenance = {
        "suite_version": __version__,
        "git_commit": git_commit(),
        "packages": package_versions(),
    }
    results = to_frame(rows)
    jobs = _jobs_frame(outcomes)
    write_results(results, out, provenance)
    jobs.to_csv(out / "jobs.csv", index=False)
    _write_predictions(out, preps, outcomes)
    summary = summary_table(results, jobs)
    summary.to_csv(out / "summary.csv")
    failures = [
        {"job": o.job.describe(), "status": o.status, "error": o.error, "cache": str(o.key)}
        for o in outcomes if not o.ok
    ]
    run = {
        "command": sys.argv,
        "config": cfg.to_json(),
        "methods": {m: {"version": get_method_class(m).package_version(), "params": cfg.method_params.get(m, {}),
                        "code": fingerprints[m]} for m in methods},
        "datasets": {p.name: {"fingerprint": p.fingerprint, "n_spatial_cells": int(p.data.spatial.n_obs),
                              "n_reference_cells": int(p.data.reference.n_obs), "n_shared_genes": len(p.shared),
                              "label_key": p.data.label_key, "meta": p.data.meta} for p in preps},
        "n_jobs": len(outcomes),
        "n_from_cache": sum(o.from_cache for o in outcomes),
        "failures": failures,
        # cache entries found damaged (truncated, unreadable, failing their checksum), discarded and recomputed
        "cache_damaged": [{"job": o.job.describe(), "cache": str(o.key), "reason": o.cache_damage}
                          for o in outcomes if o.cache_damage],
        "started": started.isoformat(),
        "finished": datetime.now(timezone.utc).isoformat(),
        "machine": machine(),
        **provenance,
    }
    tmp = out / "run.json.tmp"
    tmp.write_text(json.dumps(run, indent=2, default=str))
    os.replace(tmp, out / "run.json")
    return RunResult(out, results, jobs, summary, failures)


def _run_plan(plan, cfg: RunConfig, progress: bool) -> list[JobOutcome]:
    from .executors import EXECUTORS, run_dask, run_serial

    warm_imports(sorted({job.method for _, job, _ in plan}), device=cfg.device)
    common = dict(should_retry=lambda cached: _should_retry(cached, cfg), time_budget=cfg.time_budget,
                  isolate=cfg.isolate, device=cfg.device, progress=progress)
    if cfg.executor == "serial":
        return run_serial(plan, **common)
    if cfg.executor == "dask":
        return run_dask(plan, scheduler=cfg.scheduler, n_workers=cfg.dask_workers, **common)
    raise InputError(f"unknown executor {cfg.executor!r}; use one of {', '.join(EXECUTORS)}")


def _should_retry(cached: JobOutcome, cfg: RunConfig) -> bool:
    if cached.ok:
        return False
    if cfg.retry_failed:
        return True
    if cached.status == "timeout":  # a larger budget deserves another try
        old = cached.info.get("time_budget")
        return cfg.time_budget is None or (old is not None and cfg.time_budget > old)
    return False


def _score(cfg: RunConfig, preps: list[PreparedData], outcomes: list[JobOutcome]) -> list[dict[str, Any]]:
    from .scoring import (dataset_context, outcomes_in_space, score_assembled, score_split, space_skip_reason,
                          space_skipped_row, truth_in_space)
    from .stats import bootstrap_ci_rows, write_paired_tests

    space = cfg.scoring_space
    by_prep = {p.name: p for p in preps}
    skip = {(o.job.dataset, o.job.method): space_skip_reason(space, cfg.preprocessing, get_method_class(o.job.method),
                                                             by_prep[o.job.dataset].data.spatial_values)
            for o in outcomes}
    # predictions in the scoring space, per job: each job's task had its own size factors (its training
    # genes, its cells), so this comes before the cell folds are joined; clusters use them as returned
    scored = outcomes_in_space(by_prep, outcomes, space, skip)
    if cfg.protocol == "cellsplit":  # score each repeat's assembled cells x hidden-genes matrix
        outcomes = _merge_cell_folds(outcomes, {p.name: p.truth.index for p in preps})
        scored = _merge_cell_folds(scored, {p.name: p.truth.index for p in preps})
    commit = git_commit()
    truths = {p.name: truth_in_space(p, space) for p in preps}
    # coordinates, fields, labels and reference of each dataset, shared by the metrics of every method
    contexts = {p.name: dataset_context(p, cfg.cluster_params if cfg.cluster else None) for p in preps}
    groups: dict[tuple[str, str, int], list[JobOutcome]] = {}
    returned: dict[tuple[str, str, int], list[JobOutcome]] = {}
    for o, o_space in zip(outcomes, scored):
        groups.setdefault((o.job.dataset, o.job.method, o.job.seed), []).append(o_space)
        returned.setdefault((o.job.dataset, o.job.method, o.job.seed), []).append(o)
    rows: list[dict[str, Any]] = []
    for (dname, mname, seed), outs in groups.items():
        prep = by_prep[dname]
        truth = truths[dname]
        cls = get_method_class(mname)
        base = {
            "dataset": dname, "method": mname, "params": json.dumps(outs[0].job.params, sort_keys=True),
            "seed": seed, "protocol": cfg.protocol, "preprocessing": cfg.preprocessing,
            "scoring_space": space, "quick": cfg.quick,
            "method_version": cls.package_version() or "", "git_commit": commit, "suite_version": __version__,
        }
        if outs[0].job.tune is not None:  # tuned: the values chosen in each split are its parameters
            base["params"] = _tuned_params(outs)
        unscored = skip[(dname, mname)]
        if unscored:  # one row says why, instead of scores on a scale the output does not have
            rows.append({**base, "fold": "all", **space_skipped_row(space, unscored)})
        for o in outs:
            if not o.ok:
                continue
            genes = list(o.job.split.target_genes)
            per_item = cfg.protocol in ("holdout", "cellsplit")
            for r in [] if unscored else score_split(contexts[dname], truth[genes], o.prediction, space=space,
                                                     per_item=per_item, seed=seed):
                rows.append({**base, "fold": o.job.split.label, **r})
            for metric, value in (("runtime_s", o.runtime_s), ("peak_memory_mb", o.peak_memory_mb)):
                rows.append({**base, "fold": o.job.split.label, "metric": metric, "scope": "run", "item": "",
                             "stat": "value", "value": value})
        if cfg.protocol == "kfold" and all(o.ok for o in outs):
            assembled = pd.concat([o.prediction for o in outs], axis=1)[prep.shared]
            # the prediction as the method returned it, whatever the scoring space (clusters, cell types, intervals)
            as_returned = pd.concat([o.prediction for o in returned[(dname, mname, seed)]], axis=1)[prep.shared]
            for r in score_assembled(contexts[dname], truth, assembled, outcomes=returned[(dname, mname, seed)],
                                     returned=as_returned, space=space, seed=seed, unscored=unscored):
                rows.append({**base, "fold": "all", **r})
    # confidence intervals of every aggregate with per-item values, and method-vs-method tests over genes
    rows.extend(bootstrap_ci_rows(rows))
    write_paired_tests(to_frame(rows), cfg.out)
    return rows


def _tuned_params(outs: list[JobOutcome]) -> str:
    """The ``params`` of a tuned method's rows: the user's fixed values, the tuning settings and,
    per split, the configuration its inner gene CV chose (from each job's ``info``)."""
    job = outs[0].job
    chosen = {o.job.split.label: (o.info.get("tuning") or {}).get("chosen") for o in outs if o.ok}
    return json.dumps({"fixed": job.params, "tune": job.tune, "chosen": chosen}, sort_keys=True, default=str)


PREDICTIONS_DIR = "predictions"
PREDICTIONS_MAX_CELLS = 200_000


def _write_predictions(out: Path, preps: list[PreparedData], outcomes: list[JobOutcome],
                       max_cells: int = PREDICTIONS_MAX_CELLS) -> dict[str, Any]:
    """Write ``OUT/predictions/<dataset>.h5ad``: measured and assembled predicted expression.

    For the report's spatial maps, reliability curves and UMAP, which need whole matrices
    rather than scores. ``X`` is the scoring truth (normalised over the shared genes);
    ``obsm["spatial"]`` the coordinates and ``obs["label"]`` the known labels, where the dataset
    has them; one layer ``<method>__seed<seed>`` per method and seed whose jobs together predict
    every shared gene exactly once (a K-fold run where all folds succeeded), with the per-gene
    confidence in ``var["confidence__<method>__seed<seed>"]`` when the method returns one.
    Stored as float32 to stay small; a dataset above ``max_cells`` cells is skipped.
    ``OUT/predictions/index.json`` says what was written and why anything was not.
    """
    import anndata as ad
    import numpy as np

    folder = Path(out) / PREDICTIONS_DIR
    index: dict[str, Any] = {}
    groups: dict[tuple[str, str, int], list[JobOutcome]] = {}
    for o in outcomes:
        groups.setdefault((o.job.dataset, o.job.method, o.job.seed), []).append(o)
    for prep in preps:
        entry: dict[str, Any] = {"file": None, "layers": [], "skipped": {}}
        index[prep.name] = entry
        n_cells = prep.truth.shape[0]
        if n_cells > max_cells:
            entry["note"] = f"not written: {n_cells} cells is above the limit of {max_cells}"
            continue
        layers: dict[str, np.ndarray] = {}
        var = pd.DataFrame(index=pd.Index(prep.shared))
        for (dname, mname, seed), outs in groups.items():
            if dname != prep.name:
                continue
            key = f"{mname}__seed{seed}"
            targets = [g for o in outs for g in o.job.split.target_genes]
            if not all(o.ok for o in outs):
                entry["skipped"][key] = "some jobs failed"
            elif len(targets) != len(set(targets)) or set(targets) != set(prep.shared):
                # held-out repeats predict a gene several times: there is no single assembled matrix
                entry["skipped"][key] = "its splits do not predict every shared gene exactly once"
            else:
                assembled = pd.concat([o.prediction for o in outs], axis=1)
                layers[key] = assembled.loc[prep.truth.index, prep.shared].to_numpy(dtype=np.float32)
                if all(o.confidence is not None for o in outs):
                    conf = pd.concat([o.confidence for o in outs])
                    var[f"confidence__{key}"] = conf.reindex(prep.shared).to_numpy(dtype=np.float64)
                entry["layers"].append({"layer": key, "method": mname, "seed": seed,
                                        "params": outs[0].job.params})
        if not layers:
            entry["note"] = "not written: no method predicted every shared gene"
            continue
        obs = pd.DataFrame(index=pd.Index(prep.truth.index.astype(str)))
        labels = prep.labels()
        if labels is not None:
            obs["label"] = pd.Categorical(labels.loc[prep.truth.index].astype("string").to_numpy())
        adata = ad.AnnData(X=prep.truth.to_numpy(dtype=np.float32), obs=obs, var=var, layers=layers)
        skey = prep.data.spatial_key
        if skey and skey in prep.data.spatial.obsm:
            coords = np.asarray(prep.data.spatial[prep.truth.index].obsm[skey], dtype=np.float32)
            # x, y (and z: the report picks the projection of a 3-D tissue that overlays the fewest cells)
            adata.obsm["spatial"] = coords[:, :3]
        adata.uns["label_key"] = prep.data.label_key or ""
        adata.uns["preprocessing"] = prep.preprocessing
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"{prep.name}.h5ad.tmp"
        adata.write_h5ad(tmp)
        os.replace(tmp, folder / f"{prep.name}.h5ad")
        entry["file"] = f"{prep.name}.h5ad"
    for name, e in index.items():
        if e["file"] is None:  # do not leave a previous run's matrices beside this run's scores
            (folder / f"{name}.h5ad").unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)  # the index says why nothing was written, too
    (folder / "index.json").write_text(json.dumps(index, indent=1, default=str))
    return index


def _jobs_frame(outcomes: list[JobOutcome]) -> pd.DataFrame:
    from . import quality

    return pd.DataFrame(
        [
            {"dataset": o.job.dataset, "method": o.job.method, "split": o.job.split.label, "seed": o.job.seed,
             "status": o.status, "from_cache": o.from_cache, "runtime_s": o.runtime_s,
             "peak_memory_mb": o.peak_memory_mb, "n_train_genes": len(o.job.split.train_genes),
             "n_target_genes": len(o.job.split.target_genes), "cache_key": o.key, "error": o.error or "",
             **quality.to_csv_fields(o.flags)}  # a finished job that may still be a failure (docs/protocol.md)
            for o in outcomes
        ],
        columns=["dataset", "method", "split", "seed", "status", "from_cache", "runtime_s", "peak_memory_mb",
                 "n_train_genes", "n_target_genes", "cache_key", "error", "flags", "flag_details"],
    )


def remove_run(out: Path) -> None:
    shutil.rmtree(out, ignore_errors=True)


__all__ = ["RunConfig", "RunResult", "UserData", "run_benchmark", "make_splits", "load_and_validate"]
