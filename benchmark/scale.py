"""How single methods scale with the number of spatial cells: ``python -m benchmark scale``.

For each size in ``cells`` the built-in generator makes a spatial data set of that many cells
(``genes`` panel genes, sparse float32) with a reference of fixed size, and every method still
in the race runs **one** fold of the 5-fold gene split through the usual job runner: in a
forked process, with a time budget and a memory budget (resident memory, sampled), cached on
disk so an interrupted run resumes. A method that fails at a size (time, memory or a crash)
is not run at larger sizes; the table says so.

Outputs in ``out``: ``scale.csv`` (one row per method and size), ``scale.md`` (the table and
time per 100,000 cells), ``scale.png`` (log-log time and memory against cells) and
``scale.json`` (configuration and provenance: commit, package versions, machine).

``merge_scale_runs`` puts several such runs into one table and plot (``benchmark scale-merge``):
measurements made in different sessions, with different budgets, parameters or devices.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError, MethodUnavailableError
# the tables and the figure of a scale run live with the other reports (reports/scale.py)
from .reports.scale import (growth_exponent, killed_rss_mb, per_method_summary, plot_scale,  # noqa: F401
                            stop_marker_y, to_markdown)

#: Sizes of the issue's measurement (spatial cells).
DEFAULT_CELLS = (10_000, 100_000, 1_000_000)

#: Columns of ``scale.csv``, in order.
COLUMNS = ["method", "n_cells", "n_genes", "n_target_genes", "n_reference_cells", "status", "from_cache",
           "runtime_s", "s_per_100k_cells", "peak_rss_mb", "baseline_rss_mb", "gpu_peak_mb", "device",
           "gene_css", "gene_pcc", "cell_css", "data_s", "error", "cache_key"]


@dataclass
class ScaleConfig:
    """Everything that defines a scaling run (recorded in ``scale.json``).

    Attributes
    ----------
    methods
        Method names; empty = the default methods (controls and stImpute); ``"all"`` adds every
        available method.
    cells
        Spatial cell counts, run in increasing order.
    genes
        Spatial panel genes (all shared with the reference); one fold of ``n_folds`` is hidden.
    reference_cells, reference_only_genes
        Reference size: cells, and genes measured only in the reference.
    time_budget, memory_budget_mb
        Per job; ``None`` = no limit. A job over either is stopped and recorded.
    device
        ``cpu``, ``cuda`` or ``auto`` (torch methods).
    """

    methods: list[str] = field(default_factory=list)
    #: methods left out (e.g. of ``"all"``)
    exclude_methods: list[str] = field(default_factory=list)
    cells: list[int] = field(default_factory=lambda: list(DEFAULT_CELLS))
    genes: int = 377
    reference_cells: int = 30_000
    reference_only_genes: int = 50
    time_budget: float | None = 3600.0
    memory_budget_mb: float | None = 12_000.0
    device: str = "cpu"
    out: Path = Path("scale-results")
    seed: int = 0
    n_folds: int = 5
    fold: int = 0
    quick: bool = False
    method_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    retry_failed: bool = False
    preprocessing: str = "spage"

    def validate(self) -> None:
        if not self.cells or any(int(n) < 10 for n in self.cells):
            raise InputError(f"--cells needs sizes of at least 10 cells, got {self.cells}")
        if self.genes < max(self.n_folds, 2):
            raise InputError(f"--genes must be at least the number of folds ({self.n_folds}), got {self.genes}")
        if self.reference_cells < 10:
            raise InputError(f"--reference-cells must be at least 10, got {self.reference_cells}")
        if not 0 <= self.fold < self.n_folds:
            raise InputError(f"fold must be in 0..{self.n_folds - 1}, got {self.fold}")
        for what, v in (("--time-budget", self.time_budget), ("--memory-budget", self.memory_budget_mb)):
            if v is not None and v <= 0:
                raise InputError(f"{what} must be positive, got {v}")


def resolve_scale_methods(cfg: ScaleConfig) -> list[str]:
    """Method names of the run; unknown or unavailable ones raise before any work."""
    from .methods import default_methods, get_method_class, select_methods

    names = select_methods(list(cfg.methods) or default_methods(), cfg.exclude_methods)
    for name in names:
        cls = get_method_class(name)
        ok, reason = cls.availability()
        if not ok:
            raise MethodUnavailableError(f"method {name!r} is unavailable: {reason}")
        if cls.info.oracle:
            raise InputError(f"{name!r} is an oracle (it reads the truth); it has no place in a scaling run")
        cls(**cfg.method_params.get(name, {}))  # unknown parameters fail here
    return names


def make_scale_data(n_cells: int, cfg: ScaleConfig):
    """The built-in pair of one size: sparse float32 spatial counts, a fixed reference."""
    from .datasets.synthetic import make_synthetic_pair

    return make_synthetic_pair(
        n_spatial=int(n_cells), n_reference=cfg.reference_cells, n_shared=cfg.genes,
        n_reference_only=cfg.reference_only_genes, seed=cfg.seed, name=f"scale-{int(n_cells)}", lean=True,
    )


def prepare_lean(data, target_genes: list[str], preprocessing: str = "spage"):
    """A :class:`~benchmark.prepare.PreparedData` whose truth holds only ``target_genes`` (float32).

    The harness's :func:`~benchmark.prepare.prepare` keeps every shared gene as float64, 3 GB
    at a million cells x 377 genes, which a forked job would inherit and count as its own
    resident memory. Scoring one fold needs the hidden genes only. The normalisation is the
    harness's (over all shared genes), so the scores mean the same.
    """
    import anndata as ad
    import scipy.sparse as sp

    from .datasets.preprocessing import get_preprocessing
    from .prepare import PreparedData, _fingerprint
    from .task import COUNTS_LAYER

    normalize = get_preprocessing(preprocessing)
    in_reference = set(data.reference.var_names)
    shared = [g for g in data.spatial.var_names if g in in_reference]
    norm = normalize(data.spatial[:, shared].X)
    sub = norm[:, [shared.index(g) for g in target_genes]]
    sub = sub.toarray() if sp.issparse(sub) else np.asarray(sub)
    truth = pd.DataFrame(sub.astype(np.float32), index=pd.Index(data.spatial.obs_names), columns=list(target_genes))
    del norm, sub
    ref = data.reference
    counts = ref.X.copy() if sp.issparse(ref.X) else np.array(ref.X, dtype=np.float32)
    reference = ad.AnnData(X=normalize(counts), obs=ref.obs.copy(), var=pd.DataFrame(index=ref.var_names.copy()),
                           layers={COUNTS_LAYER: counts})
    return PreparedData(data, shared, preprocessing, truth, reference, _fingerprint(data, shared, preprocessing))


def _scores(truth: pd.DataFrame, pred: pd.DataFrame) -> dict[str, float]:
    """Gene-level CSS and PCC and cell-level CSS of one fold: means over items of the registry's metrics."""
    from .scoring import mean_scores

    with np.errstate(invalid="ignore", divide="ignore"):
        return mean_scores(truth, pred, ["gene_css", "gene_pcc", "cell_css"])


def _job_record(jobdir: Path) -> dict[str, Any]:
    from .runner import RESULT_FILE

    try:
        return json.loads((jobdir / RESULT_FILE).read_text())
    except (OSError, ValueError):
        return {}


def _should_rerun(cached, cfg: ScaleConfig) -> bool:
    """A cached failure is re-run with ``retry_failed`` or when its budget was smaller than now."""
    if cached.ok:
        return False
    if cfg.retry_failed:
        return True
    if cached.status == "timeout":
        old = cached.info.get("time_budget")
        return cfg.time_budget is None or (old is not None and cfg.time_budget > old)
    if cached.status == "memory":
        old = cached.info.get("memory_budget_mb")
        return cfg.memory_budget_mb is None or (old is not None and cfg.memory_budget_mb > old)
    return False


def run_scale(cfg: ScaleConfig, *, progress: bool = True) -> pd.DataFrame:
    """Run the scaling measurement of ``cfg``; write and return the table (see the module doc)."""
    from tqdm.auto import tqdm

    from .methods import get_method_class
    from .provenance import git_commit, machine, package_versions
    from .runner import Job, load_cached, method_fingerprint, run_job, warm_imports
    from .splits import kfold_gene_splits

    cfg.validate()
    methods = resolve_scale_methods(cfg)
    sizes = sorted({int(n) for n in cfg.cells})
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = out / "cache"
    started = datetime.now(timezone.utc)
    fingerprints = {m: method_fingerprint(get_method_class(m)) for m in methods}
    warm_imports(methods, device=cfg.device)
    stopped: dict[str, str] = {}  # method -> why it is not run at larger sizes
    rows: list[dict[str, Any]] = []
    bar = tqdm(total=len(sizes) * len(methods), desc="scale", unit="job", disable=not progress, file=sys.stderr,
               dynamic_ncols=True)
    for n in sizes:
        base = {"n_cells": n, "n_genes": cfg.genes, "n_reference_cells": cfg.reference_cells}
        todo = [m for m in methods if m not in stopped]
        for m in methods:
            if m in stopped:
                rows.append({**base, "method": m, "status": "skipped", "error": stopped[m]})
                bar.update(1)
        if not todo:
            continue
        bar.set_postfix_str(f"generating {n:,} cells", refresh=True)
        t = time.perf_counter()
        data = make_scale_data(n, cfg)
        split = kfold_gene_splits(list(data.spatial.var_names), cfg.n_folds, cfg.seed)[cfg.fold]
        prep = prepare_lean(data, list(split.target_genes), cfg.preprocessing)
        data_s = time.perf_counter() - t
        for m in todo:
            bar.set_postfix_str(f"{m} at {n:,} cells", refresh=True)
            job = Job(prep.name, m, dict(sorted(cfg.method_params.get(m, {}).items())), split, cfg.seed, cfg.quick)
            key = job.key(prep.fingerprint, fingerprints[m])
            jobdir = cache / prep.name / m / key
            outcome = load_cached(jobdir, job, prep.truth.index) if jobdir.exists() else None
            if outcome is None or _should_rerun(outcome, cfg):
                outcome = run_job(job, prep, jobdir, time_budget=cfg.time_budget, isolate=True, device=cfg.device,
                                  memory_budget_mb=cfg.memory_budget_mb)
            rec = _job_record(jobdir)
            row = {**base, "method": m, "n_target_genes": len(split.target_genes), "status": outcome.status,
                   "from_cache": outcome.from_cache, "runtime_s": outcome.runtime_s,
                   "peak_rss_mb": outcome.peak_memory_mb, "baseline_rss_mb": rec.get("baseline_memory_mb"),
                   "gpu_peak_mb": outcome.gpu_peak_memory_mb, "device": (outcome.info or {}).get("device", cfg.device),
                   "data_s": data_s, "error": (outcome.error or "").splitlines()[0] if outcome.error else "",
                   "cache_key": outcome.key}
            if outcome.ok:
                row["s_per_100k_cells"] = outcome.runtime_s / n * 1e5
                row.update(_scores(prep.truth, outcome.prediction))
            else:
                stopped[m] = f"stopped: {outcome.status} at {n:,} cells"
            rows.append(row)
            outcome.prediction = None  # free the matrix before the next job forks
            bar.update(1)
        del data, prep
    bar.close()
    table = pd.DataFrame(rows, columns=COLUMNS).sort_values(["method", "n_cells"], kind="stable").reset_index(drop=True)
    provenance = {"command": sys.argv, "config": json.loads(json.dumps(asdict(cfg), default=str)),
                  "methods": {m: {"version": get_method_class(m).package_version(), "code": fingerprints[m]}
                              for m in methods},
                  "git_commit": git_commit(), "packages": package_versions(), "machine": machine(),
                  "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
                  "started": started.isoformat(), "finished": datetime.now(timezone.utc).isoformat()}
    write_scale_outputs(table, out, provenance)
    return table


#: Configuration fields that must agree for runs to be compared in one table: they define the data.
SAME_DATA_FIELDS = ("genes", "reference_cells", "reference_only_genes", "seed", "n_folds", "fold", "preprocessing")


def _run_label(method: str, params: dict[str, Any], device: str | None) -> str:
    label = method
    if params:
        label += " (" + ", ".join(f"{k}={v}" for k, v in sorted(params.items())) + ")"
    if device and device != "cpu":
        label += f" [{device}]"
    return label


def merge_scale_runs(dirs: list[Path]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Merge the outputs of several ``benchmark scale`` runs into one table.

    Each row keeps its method name in ``method`` and gets a ``label``: the method, its parameter
    overrides in that run and a non-CPU device (``stimpute (train_cells=30000) [cuda]``), so runs of
    one method with different settings stay apart. Runs must describe the same data
    (``SAME_DATA_FIELDS``); budgets, devices, commits and machines may differ and are listed per
    run. Where two runs have a row for the same label and size, the later folder in ``dirs``
    wins, except that a ``skipped`` row never replaces a measured one.
    """
    frames, sources = [], []
    first_cfg: dict[str, Any] | None = None
    for i, d in enumerate(map(Path, dirs)):
        csv, meta = d / "scale.csv", d / "scale.json"
        if not csv.is_file() or not meta.is_file():
            raise InputError(f"{d} is not the output of `benchmark scale`: scale.csv and scale.json are needed")
        prov = json.loads(meta.read_text())
        cfg = prov.get("config", {})
        if first_cfg is None:
            first_cfg = cfg
        diff = [f"{k}: {first_cfg.get(k)!r} in {dirs[0]}, {cfg.get(k)!r} in {d}"
                for k in SAME_DATA_FIELDS if cfg.get(k) != first_cfg.get(k)]
        if diff:
            raise InputError("scale runs on different data cannot share a table; " + "; ".join(diff))
        t = pd.read_csv(csv, keep_default_na=False, na_values=[""])
        t["error"] = t["error"].fillna("")
        params = cfg.get("method_params", {}) or {}
        t["label"] = [_run_label(m, params.get(m, {}), dev if isinstance(dev, str) else cfg.get("device"))
                      for m, dev in zip(t["method"], t["device"])]
        t["run"], t["_order"] = str(d), i
        frames.append(t)
        sources.append({"run": str(d), "git_commit": prov.get("git_commit"), "machine": prov.get("machine", {}),
                        "cpu_affinity": prov.get("cpu_affinity"), "torch": prov.get("packages", {}).get("torch"),
                        "device": cfg.get("device"), "time_budget": cfg.get("time_budget"),
                        "memory_budget_mb": cfg.get("memory_budget_mb"), "method_params": params,
                        "started": prov.get("started"), "methods": sorted(set(t["method"]))})
    if not frames:
        raise InputError("scale-merge needs at least one folder")
    table = pd.concat(frames, ignore_index=True)
    table["_skipped"] = table["status"] == "skipped"
    table = (table.sort_values(["label", "n_cells", "_skipped", "_order"], ascending=[True, True, False, True],
                               kind="stable")
             .drop_duplicates(["label", "n_cells"], keep="last")
             .drop(columns=["_order", "_skipped"]).reset_index(drop=True))
    provenance = {"config": {k: first_cfg.get(k) for k in SAME_DATA_FIELDS}, "sources": sources,
                  "merged": datetime.now(timezone.utc).isoformat()}
    return table, provenance


def write_scale_outputs(table: pd.DataFrame, out: Path, provenance: dict[str, Any]) -> None:
    out = Path(out)
    table.to_csv(out / "scale.csv", index=False)
    (out / "scale.md").write_text(to_markdown(table, provenance))
    summary = per_method_summary(table)
    (out / "scale.json").write_text(json.dumps({**provenance, "summary": summary.to_dict("records")}, indent=2,
                                               default=str))
    if (table["status"] == "ok").any():
        plot_scale(table, out / "scale.png")


__all__ = ["ScaleConfig", "run_scale", "merge_scale_runs", "write_scale_outputs", "killed_rss_mb", "stop_marker_y",
           "make_scale_data", "prepare_lean", "per_method_summary", "growth_exponent", "DEFAULT_CELLS"]
