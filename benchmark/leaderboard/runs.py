"""Reading results folders into a :class:`~.model.Leaderboard`: rows, provenance, reproducing command.

A results folder (written by ``python -m benchmark run``) is read by
:func:`benchmark.results.read_run`, the one reader of such folders; this module turns it into
one leaderboard row per dataset and method, with the run's provenance and the command line that
reproduces it.
"""

from __future__ import annotations

import json
import math
import shlex
from pathlib import Path
from typing import Any

import pandas as pd

from .. import overall, quality
from ..errors import InputError
from ..provenance import stable_hash
from .model import METRIC_COLUMNS, PRIMARY, PRIMARY_KEY, Leaderboard, _normalise


def _run_id(run: dict[str, Any]) -> str:
    started = str(run.get("started", ""))[:10] or "undated"
    return f"{started}-{stable_hash([run.get('command'), run.get('started'), run.get('git_commit')], 8)}"


def _cli_command(run: dict[str, Any]) -> str:
    """The command line that reproduces a run.

    The recorded ``argv`` when the run came from the command line; otherwise (a run started
    from Python) the equivalent command rebuilt from the recorded configuration by the option
    table (:func:`benchmark.run_config.command_args`: every option that differs from its default).
    """
    from ..run_config import command_args

    argv = [str(a) for a in run.get("command") or []]
    if len(argv) >= 2 and argv[1] == "run" and (argv[0].endswith(("__main__.py", "st-impute-bench"))):
        return shlex.join(["python", "-m", "benchmark", *argv[1:]])
    return shlex.join(["python", "-m", "benchmark", "run", *command_args(run.get("config") or {})])


def _in_memory(run: dict[str, Any]) -> list[str]:
    """Datasets given to ``run_benchmark`` as objects: no command line can name them."""
    cfg = run.get("config") or {}
    named = set(cfg.get("datasets") or []) | {u.get("name") or Path(str(u["spatial"])).stem
                                               for u in cfg.get("user_data") or []}
    argv = [str(a) for a in run.get("command") or []]
    if len(argv) >= 2 and argv[1] == "run" and not cfg.get("datasets") and not cfg.get("user_data"):
        return []  # CLI run of the default datasets
    return sorted(set(run.get("datasets") or {}) - named)


def _provenance(run: dict[str, Any]) -> dict[str, Any]:
    cfg = run.get("config") or {}
    mach = run.get("machine") or {}
    return {
        "command": _cli_command(run),
        "not_reproducible_from_cli": _in_memory(run),
        "git_commit": run.get("git_commit", "unknown"),
        "suite_version": run.get("suite_version", ""),
        "started": run.get("started", ""),
        "finished": run.get("finished", ""),
        "packages": dict(sorted((run.get("packages") or {}).items())),
        "machine": {"platform": mach.get("platform", ""), "cpus": mach.get("cpus")},
        "protocol": {k: cfg.get(k) for k in ("protocol", "n_folds", "holdout_fraction", "repeats", "seeds", "quick",
                                             "preprocessing", "scoring_space", "cluster", "cluster_params",
                                             "time_budget", "device")},
        "n_jobs": run.get("n_jobs"),
    }


def _method_facts(name: str) -> dict[str, Any]:
    """Kind and wrapped package of a method, from the registry (if it is still registered)."""
    from ..methods import all_methods
    from ..tuning import base_name

    cls = all_methods().get(base_name(name))  # a tuned row (knn+tuned) is ranked like its method
    if cls is None:
        return {"kind": "method", "variant_of": "", "package": ""}
    info = cls.info
    kind = "oracle" if info.oracle else "control" if info.control else "variant" if info.variant_of else "method"
    return {"kind": kind, "variant_of": info.variant_of or "", "package": info.package or ""}


def collect_run(run_dir: Path) -> Leaderboard:
    """The leaderboard rows of one results folder (oracle controls are left out).

    Parameters
    ----------
    run_dir
        A results folder of ``python -m benchmark run``: ``run.json``, ``results.parquet`` (or
        ``results.csv``) and, if present, ``jobs.csv`` (failures, time and memory).

    Returns
    -------
    Leaderboard
        One table per dataset of the run, the run's provenance, dataset facts and per-gene values.

    Raises
    ------
    InputError
        If the folder, its ``run.json`` or its results table is missing or unreadable.
    """
    from ..results import read_jobs, read_run, summary_table

    run_dir = Path(run_dir)
    results, run = read_run(run_dir)  # run.json is required: the rows' provenance comes from it
    jobs = read_jobs(run_dir)
    summary = summary_table(results, jobs if not jobs.empty else None)
    rid = _run_id(run)

    # spread of the primary metric: standard deviation of its per-fold (per-repeat) means; for
    # the cell-split protocol, of the repeats' assembled matrices (folds r0, r1, ...)
    per_fold = results[(results["scope"] == PRIMARY[0]) & (results["metric"] == PRIMARY[1])
                       & (results["stat"] == "mean") & (results["item"].astype(str) == "")]
    fold = per_fold["fold"].astype(str)
    per_fold = per_fold[(fold != "all") & ((per_fold["protocol"] != "cellsplit") | fold.str.fullmatch(r"r\d+"))]
    spread = per_fold.groupby(["dataset", "method"])["value"].std(ddof=1)

    methods_meta = run.get("methods") or {}
    pairs = set(summary.index) if not summary.empty else set()
    if not jobs.empty:
        pairs |= set(zip(jobs["dataset"], jobs["method"]))
    lb = Leaderboard(runs={rid: _provenance(run)})
    rows: dict[str, list[dict[str, Any]]] = {}
    for dataset, method in sorted(pairs):
        facts = _method_facts(method)
        if facts["kind"] == "oracle":
            continue
        s = summary.loc[(dataset, method)] if (dataset, method) in summary.index else pd.Series(dtype=float)
        mj = jobs[(jobs["dataset"] == dataset) & (jobs["method"] == method)] if not jobs.empty else jobs
        n_jobs = int(len(mj))
        failed = mj[mj["status"] != "ok"] if n_jobs else mj
        primary = s.get(PRIMARY_KEY, math.nan)
        if n_jobs and len(failed) == n_jobs:
            status = "failed"
        elif len(failed):
            status = "partly failed"
        elif pd.isna(primary):
            status = "no score"
        else:
            status = "ok"
        # finished jobs that may still be failures (benchmark/quality.py), e.g. "not_converged in 3/5 jobs";
        # a jobs.csv written before flags existed has no such column: nothing is flagged
        flags = quality.summarise([quality.parse_csv_flags(v) for v in mj["flags"]], n_jobs) \
            if n_jobs and "flags" in mj.columns else ""
        error = ""
        if len(failed):
            first = failed.iloc[0]
            error = str(first["error"]).strip().splitlines()[0] if str(first["error"]).strip() else first["status"]
        mrows = results[(results["dataset"] == dataset) & (results["method"] == method)]
        meta = methods_meta.get(method, {})
        row = {
            "method": method, **facts,
            "method_version": (meta.get("version") or (mrows["method_version"].iloc[0] if len(mrows) else "")) or "",
            "params": json.dumps(meta.get("params", {}), sort_keys=True),
            "quick": bool((run.get("config") or {}).get("quick", False)),
            "protocol": (run.get("config") or {}).get("protocol", ""),
            "n_seeds": int(len((run.get("config") or {}).get("seeds") or [0])),
            "n_jobs": n_jobs, "failed_jobs": int(len(failed)), "status": status, "error": error, "flags": flags,
            "run": rid,
            "gene_pcc_sd": spread.get((dataset, method), math.nan),
        }
        for c in METRIC_COLUMNS:
            if c != "gene_pcc_sd":
                row[c] = s.get(c, math.nan)
        rows.setdefault(dataset, []).append(row)
    for dataset, rs in rows.items():
        lb.tables[dataset] = _normalise(pd.DataFrame(rs))
        info = (run.get("datasets") or {}).get(dataset, {})
        meta = info.get("meta") or {}
        lb.datasets[dataset] = {
            "n_spatial_cells": info.get("n_spatial_cells"), "n_reference_cells": info.get("n_reference_cells"),
            "n_shared_genes": info.get("n_shared_genes"), "label_key": info.get("label_key"),
            "fingerprint": info.get("fingerprint"),
            "source": meta.get("source") or meta.get("generator") or meta.get("spatial_file") or "",
        }
    lb.genes = overall.genes_of_run(results, rid, {d: list(t["method"]) for d, t in lb.tables.items()})
    return lb


def collect(run_dirs: list[Path]) -> Leaderboard:
    """Leaderboard of several runs; for a method in two runs of the same dataset, the later run wins.

    Parameters
    ----------
    run_dirs
        Results folders, read in order by :func:`collect_run`.

    Returns
    -------
    Leaderboard
        Their rows merged method by method (``Leaderboard.merge(..., whole_datasets=False)``).

    Raises
    ------
    InputError
        If ``run_dirs`` is empty, or a folder cannot be read.
    """
    if not run_dirs:
        raise InputError("give at least one results folder (RUN_DIR)")
    lb = Leaderboard()
    for d in run_dirs:
        lb = lb.merge(collect_run(Path(d)), whole_datasets=False)
    return lb
