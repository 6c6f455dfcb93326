"""The leaderboard: ``LEADERBOARD.md`` for people, ``leaderboard.json`` for programs.

``python -m benchmark leaderboard RUN_DIR [RUN_DIR ...]`` ranks, per dataset, the methods of
one or more results folders (written by ``python -m benchmark run``) by the primary metric,
with the key metrics, failures, the command that reproduces each run and its provenance.

The repository carries a leaderboard rendered from a **reference**: small aggregated tables
in ``leaderboard/reference/`` (one CSV per dataset, one row per method, and
``reference.json`` with each run's provenance), never raw data or caches.

* ``python -m benchmark leaderboard RUN_DIR --update-reference`` imports a run into the
  reference (its datasets replace those in the reference; ``--merge`` replaces only its
  methods) and re-renders ``LEADERBOARD.md`` and ``leaderboard/leaderboard.json``.
* ``python -m benchmark leaderboard`` re-renders them from the reference; ``--check`` only
  says whether the committed files are current (``tests/test_leaderboard.py`` does the same).

Rendering is deterministic: the same reference gives the same bytes (no clock is read; the
only dates are the runs' own start and end times).
"""

from __future__ import annotations

import json
import math
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import overall, quality
from .config import repo_root
from .errors import InputError
from .provenance import stable_hash

#: The metric methods are ranked by, as ``(scope, metric)``. Gene-level PCC: for each hidden
#: gene, the Pearson correlation across cells of its measured and predicted expression, averaged
#: over genes (assembled 5-fold matrix). It rewards recovering which cells express a gene, the
#: point of imputation; a prediction that is the same in every cell (the ``mean`` control)
#: scores 0, while on non-negative data CSS rates such a prediction highly (docs/metrics.md).
PRIMARY = ("gene", "pcc")
PRIMARY_KEY = f"{PRIMARY[0]}_{PRIMARY[1]}"

#: Aggregated metric columns kept in the reference (``scope_metric`` as in ``summary.csv``): the metrics the
#: registry marks for the leaderboard (``Metric.leaderboard``, in that order; the primary one with its sd over
#: seeds), then cost.
from .metrics import leaderboard_columns as _leaderboard_columns  # noqa: E402 - part of this definition

METRIC_COLUMNS = [*_leaderboard_columns(), "time_s", "peak_mem_mb"]
#: Every column of a reference table, in order.
ROW_COLUMNS = [
    "method", "kind", "variant_of", "package", "method_version", "params", "quick", "protocol", "n_seeds",
    "n_jobs", "failed_jobs", "status", "error", "flags", "run", *METRIC_COLUMNS,
]
_INT_COLUMNS = ["n_seeds", "n_jobs", "failed_jobs"]
_STR_COLUMNS = ["method", "kind", "variant_of", "package", "method_version", "params", "protocol", "status", "error",
                "flags", "run"]

#: Columns of the Markdown table: (column, header, format).
SHOWN = [
    ("gene_pcc", "gene PCC ↑ (primary)", "pm"),
    ("gene_css", "gene CSS ↑", "3f"),
    ("cell_css", "cell CSS ↑", "3f"),
    ("cell_pcc", "cell PCC ↑", "3f"),
    ("cell_mse", "MSE ↓", "3f"),
    ("cluster_ari", "ARI ↑", "3f"),
    ("time_s", "time (s)", "1f"),
    ("peak_mem_mb", "peak MB", "0f"),
]

REFERENCE_FILE = "reference.json"


def reference_dir() -> Path:
    """Where the committed reference results live."""
    return repo_root() / "leaderboard" / "reference"


def repo_outputs() -> tuple[Path, Path]:
    """The committed rendering: ``LEADERBOARD.md`` (repository root) and ``leaderboard/leaderboard.json``."""
    return repo_root() / "LEADERBOARD.md", repo_root() / "leaderboard" / "leaderboard.json"


@dataclass
class Leaderboard:
    """Reference results: per-dataset tables, the runs they came from, dataset facts.

    Attributes
    ----------
    tables
        Dataset name -> one row per method with :data:`ROW_COLUMNS`.
    runs
        Run id -> provenance (command, commit, versions, dates, machine, protocol).
    datasets
        Dataset name -> facts (cells, genes, source) as recorded by the run.
    genes
        Dataset name -> per-gene values of its rows, for the overall table (benchmark/overall.py).
    """

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)
    genes: dict[str, pd.DataFrame] = field(default_factory=dict)

    def merge(self, other: "Leaderboard", *, whole_datasets: bool = True) -> "Leaderboard":
        """``other`` on top of ``self``: its datasets replace ours (or only its methods, if not
        ``whole_datasets``); runs no row refers to any more are dropped."""
        tables = dict(self.tables)
        datasets = dict(self.datasets)
        for name, table in other.tables.items():
            if whole_datasets or name not in tables:
                tables[name] = table
            else:
                keep = tables[name][~tables[name]["method"].isin(table["method"])]
                tables[name] = pd.concat([keep, table], ignore_index=True)
            datasets[name] = other.datasets.get(name, datasets.get(name, {}))
        runs = {**self.runs, **other.runs}
        used = {r for t in tables.values() for r in t["run"]}
        tables = {k: _normalise(v) for k, v in sorted(tables.items())}
        return Leaderboard(tables, {k: v for k, v in sorted(runs.items()) if k in used},
                           dict(sorted(datasets.items())), overall.merge_genes(tables, self.genes, other.genes))


# -- reading runs --------------------------------------------------------------------------------

def _sig(v: Any, digits: int = 6) -> float:
    """Round to ``digits`` significant digits: the reference stays small and diffs stay readable."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or pd.isna(v):
        return math.nan
    return float(f"{float(v):.{digits}g}")


def _normalise(table: pd.DataFrame) -> pd.DataFrame:
    """Column order, dtypes and rounding, identical whether a table was just built or read back."""
    t = table.copy()
    for c in ROW_COLUMNS:
        if c not in t.columns:
            t[c] = math.nan if c in METRIC_COLUMNS else (0 if c in _INT_COLUMNS else "")
    t = t[ROW_COLUMNS]
    for c in _STR_COLUMNS:
        t[c] = t[c].map(lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v))
    for c in _INT_COLUMNS:
        t[c] = pd.to_numeric(t[c], errors="coerce").fillna(0).astype("int64")
    t["quick"] = t["quick"].map(lambda v: str(v).strip().lower() == "true" if not isinstance(v, bool) else v)
    for c in METRIC_COLUMNS:
        t[c] = t[c].map(_sig).astype("float64")
    return t.sort_values("method", kind="stable").reset_index(drop=True)


def _run_id(run: dict[str, Any]) -> str:
    started = str(run.get("started", ""))[:10] or "undated"
    return f"{started}-{stable_hash([run.get('command'), run.get('started'), run.get('git_commit')], 8)}"


def _cli_command(run: dict[str, Any]) -> str:
    """The command line that reproduces a run.

    The recorded ``argv`` when the run came from the command line; otherwise (a run started
    from Python) the equivalent command rebuilt from the recorded configuration by the option
    table (:func:`benchmark.run_config.command_args`: every option that differs from its default).
    """
    from .run_config import command_args

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
    from .methods import all_methods
    from .tuning import base_name

    cls = all_methods().get(base_name(name))  # a tuned row (knn+tuned) is ranked like its method
    if cls is None:
        return {"kind": "method", "variant_of": "", "package": ""}
    info = cls.info
    kind = "oracle" if info.oracle else "control" if info.control else "variant" if info.variant_of else "method"
    return {"kind": kind, "variant_of": info.variant_of or "", "package": info.package or ""}


def collect_run(run_dir: Path) -> Leaderboard:
    """The leaderboard rows of one results folder (oracle controls are left out)."""
    from .results import read_results, summary_table

    run_dir = Path(run_dir)
    run_file = run_dir / "run.json"
    if not run_file.is_file():
        raise InputError(f"{run_dir} is not a results folder: it has no run.json "
                         "(write one with `python -m benchmark run --out DIR`)")
    run = json.loads(run_file.read_text())
    if (run_dir / "results.parquet").is_file():
        results = read_results(run_dir)
    elif (run_dir / "results.csv").is_file():
        results = pd.read_csv(run_dir / "results.csv", dtype={"fold": str, "item": str, "params": str},
                              keep_default_na=False, na_values={"value": ["", "nan", "NaN"]})
    else:
        raise InputError(f"{run_dir} has no results.parquet or results.csv")
    jobs = pd.read_csv(run_dir / "jobs.csv", dtype={"split": str, "error": str}, keep_default_na=False,
                       na_values={"runtime_s": [""], "peak_memory_mb": [""]}) \
        if (run_dir / "jobs.csv").is_file() else pd.DataFrame()
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
    """Leaderboard of several runs; for a method in two runs of the same dataset, the later run wins."""
    if not run_dirs:
        raise InputError("give at least one results folder (RUN_DIR)")
    lb = Leaderboard()
    for d in run_dirs:
        lb = lb.merge(collect_run(Path(d)), whole_datasets=False)
    return lb


# -- the reference folder ------------------------------------------------------------------------

def save_reference(lb: Leaderboard, directory: Path | None = None) -> list[Path]:
    """Write ``<dataset>.csv`` per dataset and ``reference.json``; remove CSVs of datasets no longer present."""
    directory = Path(directory) if directory else reference_dir()
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in lb.tables.items():
        path = directory / f"{name}.csv"
        _normalise(table).to_csv(path, index=False, lineterminator="\n")
        written.append(path)
    for old in directory.glob("*.csv"):
        if old.stem not in lb.tables:
            old.unlink()
    meta = directory / REFERENCE_FILE
    meta.write_text(json.dumps({"runs": lb.runs, "datasets": lb.datasets}, indent=2, sort_keys=True) + "\n")
    written.append(meta)
    return written + overall.save_genes(overall.merge_genes(lb.tables, lb.genes), directory)


def load_reference(directory: Path | None = None) -> Leaderboard:
    """Read the reference written by :func:`save_reference`."""
    directory = Path(directory) if directory else reference_dir()
    meta_file = directory / REFERENCE_FILE
    if not meta_file.is_file():
        raise InputError(f"no reference results in {directory} (missing {REFERENCE_FILE}); import a run with "
                         "`python -m benchmark leaderboard RUN_DIR --update-reference`")
    meta = json.loads(meta_file.read_text())
    tables = {}
    for path in sorted(directory.glob("*.csv")):
        tables[path.stem] = _normalise(pd.read_csv(path, dtype={c: str for c in _STR_COLUMNS}, keep_default_na=False,
                                                   na_values={c: ["", "nan", "NaN"] for c in METRIC_COLUMNS}))
    missing = sorted({r for t in tables.values() for r in t["run"]} - set(meta.get("runs", {})))
    if missing:
        raise InputError(f"reference tables in {directory} refer to runs missing from {REFERENCE_FILE}: {missing}")
    return Leaderboard(tables, meta.get("runs", {}), meta.get("datasets", {}),
                       overall.merge_genes(tables, overall.load_genes(directory)))


# -- rendering -----------------------------------------------------------------------------------

def _ranked(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(methods and controls, best first with ranks; variants, best first)."""
    t = table.copy()
    t["_score"] = t[PRIMARY_KEY].where(t["status"] == "ok")
    t = t.sort_values(["_score", "method"], ascending=[False, True], na_position="last", kind="stable")
    main = t[t["kind"] != "variant"].copy()
    main["rank"] = main["_score"].rank(method="min", ascending=False)
    variants = t[t["kind"] == "variant"].copy()
    return main, variants


def _fmt(v: Any, how: str, sd: float = math.nan) -> str:
    if v is None or pd.isna(v):
        return "–"
    if how == "pm":
        return f"{v:.3f}" + ("" if pd.isna(sd) else f" ± {sd:.3f}")
    if how == "0f":
        return f"{v:,.0f}"
    return f"{v:.{how[0]}f}"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def _status(row: pd.Series) -> str:
    """The status shown for a row: ``ok``, or what failed; a row whose finished jobs carry quality
    flags (benchmark/quality.py) says so, e.g. ``ok (flagged: not_converged in 3/5 jobs)``, since
    its scores come from output the method itself reported as suspect."""
    flags = row.get("flags", "") or ""
    if row["status"] == "ok":
        return f"ok (flagged: {flags})" if flags else "ok"
    if row["status"] == "no score":
        text = "no score (primary metric undefined)"
    else:
        err = row["error"]
        if len(err) > 90:
            err = err[:87] + "..."
        text = f"{row['status']} ({row['failed_jobs']}/{row['n_jobs']} jobs): {err}"
    return f"{text}; flagged: {flags}" if flags else text


def _method_cell(row: pd.Series) -> str:
    name = f"`{row['method']}`"
    if row["kind"] == "control":
        name += " (control)"
    if row["package"] and row["method_version"]:
        name += f" · {row['package']} {row['method_version']}"
    if row["quick"]:
        name += " · quick"
    if row["params"] not in ("", "{}"):
        name += f" · {row['params']}"
    return _cell(name)


def _table(rows: pd.DataFrame, lead: tuple[str, ...], show_run: bool) -> list[str]:
    header = [*lead, "method", *(h for _, h, _ in SHOWN), "status"] + (["run"] if show_run else [])
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for _, r in rows.iterrows():
        cells = []
        if "#" in lead:
            cells.append("–" if pd.isna(r["rank"]) else str(int(r["rank"])))
        if "Δ primary" in lead:
            cells.append(_fmt(r["_delta"], "3f") if not pd.isna(r["_delta"]) else "–")
        cells.append(_method_cell(r))
        cells += [_fmt(r[c], how, r["gene_pcc_sd"] if how == "pm" else math.nan) for c, _, how in SHOWN]
        cells.append(_cell(_status(r)))
        if show_run:
            cells.append(f"`{r['run']}`")
        out.append("| " + " | ".join(cells) + " |")
    return out


def _dataset_line(name: str, info: dict[str, Any]) -> str:
    def n(v):
        return "?" if v is None else f"{int(v):,}"

    text = (f"{n(info.get('n_spatial_cells'))} spatial cells, {n(info.get('n_shared_genes'))} shared genes, "
            f"reference of {n(info.get('n_reference_cells'))} cells")
    if info.get("label_key"):
        text += f"; cluster metrics against `{info['label_key']}`"
    if info.get("source"):
        text += f". Source: {info['source']}"
    return text + "."


def _commit_text(commit: str) -> str:
    if commit.endswith("+dirty"):
        return f"`{commit[:-6][:12]}` (with uncommitted changes)"
    return f"`{commit[:12]}`"


def _when(stamp: Any) -> str:
    """``2026-11-25T18:31:03.76+00:00`` -> ``2026-11-25 18:31:03`` (the stored stamps are UTC)."""
    return str(stamp)[:19].replace("T", " ") if stamp else "?"


def _protocol_text(p: dict[str, Any]) -> str:
    name = p.get("protocol") or "?"
    if name == "kfold":
        text = f"protocol kfold ({p.get('n_folds')} gene folds)"
    else:
        text = f"protocol {name} (hidden fraction {p.get('holdout_fraction')}, {p.get('repeats')} repeats)"
    text += f", seeds {', '.join(map(str, p.get('seeds') or []))}, preprocessing {p.get('preprocessing')}"
    return text + (", quick" if p.get("quick") else "")


def _provenance_block(rid: str, run: dict[str, Any]) -> list[str]:
    pk = run.get("packages", {})
    key = ", ".join(f"{p} {pk[p]}" for p in ("python", "numpy", "pandas", "anndata", "scikit-learn", "torch")
                    if p in pk)
    mach = run.get("machine", {})
    commit = str(run.get("git_commit", "unknown"))
    lines = [
        f"Run `{rid}`: {_when(run.get('started'))} to {_when(run.get('finished'))} UTC, "
        f"commit {_commit_text(commit)}, st-impute-bench {run.get('suite_version', '?')}, {key}; "
        f"{mach.get('platform', '?')}, {mach.get('cpus', '?')} CPUs; {_protocol_text(run.get('protocol') or {})}. "
        "Reproduce with:",
        "",
        "```bash",
    ]
    if commit not in ("", "unknown"):
        lines.append(f"git checkout {commit.removesuffix('+dirty')}")
    lines += [run.get("command", ""), "```"]
    if run.get("not_reproducible_from_cli"):
        lines += ["", f"(datasets {run['not_reproducible_from_cli']} were passed to `run_benchmark` as objects; "
                  "the command above does not name them.)"]
    lines += ["", "<details><summary>all package versions</summary>", "",
              ", ".join(f"{p} {v}" for p, v in pk.items()), "", "</details>"]
    return lines


HEADER = """\
# Leaderboard

<!-- Generated by `python -m benchmark leaderboard` from leaderboard/reference/; do not edit by hand.
     tests/test_leaderboard.py fails when this file is out of date. -->

Gene imputation for imaging-based spatial transcriptomics. Each measured gene is hidden in turn
(5-fold gene cross-validation), predicted from the other genes and a paired scRNA-seq reference,
and scored on the assembled matrix of predictions ([protocol](docs/protocol.md), [metrics](docs/metrics.md)).

**Ranking: gene-level PCC** (higher is better): for each gene, the Pearson correlation across
cells of measured and predicted expression, averaged over genes; `±` is the standard deviation
of its per-fold means. It measures whether a method recovers *which cells* express a gene. A
prediction that is the same in every cell (the `mean` control) scores 0 here, while CSS, on
non-negative data, rates it highly, so read CSS beside the controls. Other columns: gene- and
cell-level CSS, cell-level PCC, MSE (the whole matrix), ARI of Leiden clusters of the imputed
cells against known cell types, job time summed over the folds of one seed, and the peak memory
of one job. Controls (`mean`, `knn`, `cellsize`) calibrate the metrics. A row `<method>+tuned` is
the method run with `--tune`: per fold, the best of the same number of configurations for every
method, chosen by inner cross-validation over the training genes only ([tuning
parity](docs/protocol.md#tuning-parity---tune)); the row without the suffix is the authors'
defaults. Ablations and variants are listed under their parent, not ranked. A method that failed
shows its error instead of a rank; a status `ok (flagged: ...)` marks output that looks like a
failure (a solver that did not converge, a constant prediction; docs/protocol.md). Cells reach
every method in a seeded order, not in file order; rows from runs before 2026-12-04 predate that.
Timings depend on the machine named under each table.

Update this page from a results folder: `python -m benchmark leaderboard RUN_DIR --update-reference`
(see [CONTRIBUTING.md](CONTRIBUTING.md#how-the-leaderboard-picks-it-up)). Machine-readable:
[leaderboard/leaderboard.json](leaderboard/leaderboard.json).
"""


def methods_without_rows(lb: Leaderboard) -> list[dict[str, Any]]:
    """The suite's own registered methods (not variants, oracles or plug-ins) that have no row
    in one or more of ``lb``'s datasets, each with the datasets it lacks and why.

    Only facts from the code go in (a method's ``known_unavailable`` or ``cost_note``), never
    whether a package is installed on the machine that renders, so the rendering stays the
    same on every machine.
    """
    from . import methods as registry

    out = []
    for name, cls in sorted(registry.all_methods(include_oracles=False).items()):
        info = cls.info
        if info.variant_of or not cls.__module__.startswith(registry.__name__ + "."):  # plug-ins live elsewhere
            continue
        missing = [d for d, t in lb.tables.items() if name not in set(t["method"])]
        if not missing:
            continue
        if info.known_unavailable:
            why = f"known-unavailable: {info.known_unavailable}"
        elif info.cost_note:
            why = info.cost_note
        else:
            why = "no reference result yet"
        out.append({"method": name, "datasets": missing, "why": why})
    return out


def _without_rows_lines(missing: list[dict[str, Any]]) -> list[str]:
    if not missing:
        return []
    lines = ["## Registered methods without a row", "",
             "Methods of this suite that the reference runs above do not score, and why "
             "(a failed run would show in the tables with its error instead).", "",
             "| method | missing on | why |", "|---|---|---|"]
    for m in missing:
        lines.append(f"| `{m['method']}` | {', '.join(m['datasets'])} | {_cell(m['why'])} |")
    return lines + [""]


def render_markdown(lb: Leaderboard, *, registry: bool = False) -> str:
    """The Markdown leaderboard of ``lb`` (deterministic). With ``registry``, a last section
    lists the suite's methods that have no row (:func:`methods_without_rows`): used for the
    repository's reference board, not for a run's own board, whose method list is the user's
    choice."""
    lines = [HEADER, *overall.markdown_lines(lb)]
    if not lb.tables:
        lines.append("(no results yet)\n")
    for name, table in lb.tables.items():
        main, variants = _ranked(table)
        run_ids = sorted(set(table["run"]))
        show_run = len(run_ids) > 1
        lines += [f"## {name}", "", _dataset_line(name, lb.datasets.get(name, {})), ""]
        lines += _table(main, ("#",), show_run)
        if len(variants):
            parents = main.set_index("method")[PRIMARY_KEY]
            variants = variants.assign(_delta=[v - parents.get(p, math.nan) if not pd.isna(v) else math.nan
                                               for v, p in zip(variants[PRIMARY_KEY], variants["variant_of"])])
            lines += ["", "Ablations and variants (Δ primary: gene PCC minus that of the method they derive from):",
                      ""]
            lines += _table(variants, ("Δ primary",), show_run)
        lines.append("")
        for rid in run_ids:
            lines += _provenance_block(rid, lb.runs.get(rid, {}))
            lines.append("")
    if registry:
        lines += _without_rows_lines(methods_without_rows(lb))
    return "\n".join(lines).rstrip() + "\n"


def _num(v: Any) -> float | None:
    return None if v is None or pd.isna(v) else float(v)


def render_json(lb: Leaderboard, *, registry: bool = False) -> str:
    """``leaderboard.json``: every row with its metrics, rank and full provenance (deterministic);
    with ``registry``, also ``methods_without_rows`` (see :func:`render_markdown`)."""
    doc: dict[str, Any] = {
        "primary_metric": {"scope": PRIMARY[0], "metric": PRIMARY[1], "key": PRIMARY_KEY, "higher_is_better": True,
                           "spread": "gene_pcc_sd: standard deviation of the per-fold means"},
        "datasets": {},
        "runs": lb.runs,
    }
    if lb.genes:
        doc["overall"] = overall.to_json(lb)
    for name, table in lb.tables.items():
        main, variants = _ranked(table)
        rows = []
        for _, r in pd.concat([main, variants]).iterrows():
            run = lb.runs.get(r["run"], {})
            rows.append({
                "method": r["method"], "kind": r["kind"], "variant_of": r["variant_of"] or None,
                "rank": None if r["kind"] == "variant" or pd.isna(r.get("rank")) else int(r["rank"]),
                # a flagged ok row's status reads as on the page ("ok (flagged: ...)"); the key "flags" is
                # only written for flagged rows, so boards without flags render as before
                "status": _status(r) if r["flags"] and r["status"] == "ok" else r["status"],
                "error": r["error"] or None,
                **({"flags": r["flags"]} if r["flags"] else {}),
                "n_jobs": int(r["n_jobs"]), "failed_jobs": int(r["failed_jobs"]),
                "metrics": {c: _num(r[c]) for c in METRIC_COLUMNS},
                "provenance": {
                    "run": r["run"], "command": run.get("command"), "git_commit": run.get("git_commit"),
                    "suite_version": run.get("suite_version"), "started": run.get("started"),
                    "finished": run.get("finished"), "package": r["package"] or None,
                    "method_version": r["method_version"] or None, "params": json.loads(r["params"] or "{}"),
                    "quick": bool(r["quick"]), "protocol": r["protocol"], "n_seeds": int(r["n_seeds"]),
                    "packages": run.get("packages", {}), "machine": run.get("machine", {}),
                },
            })
        doc["datasets"][name] = {"info": lb.datasets.get(name, {}), "rows": rows}
    if registry:
        doc["methods_without_rows"] = methods_without_rows(lb)
    return json.dumps(doc, indent=2, sort_keys=True, allow_nan=False) + "\n"


def _renderings(lb: Leaderboard, markdown: Path, json_path: Path, registry: bool) -> list[tuple[Path, str]]:
    return [(Path(markdown), render_markdown(lb, registry=registry)),
            (Path(json_path), render_json(lb, registry=registry))]


def write(lb: Leaderboard, markdown: Path, json_path: Path, *, registry: bool = False) -> list[Path]:
    """Write both renderings; return their paths."""
    for path, text in _renderings(lb, markdown, json_path, registry):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return [Path(markdown), Path(json_path)]


def stale_files(lb: Leaderboard, markdown: Path, json_path: Path, *, registry: bool = False) -> list[Path]:
    """Which of the two files differ from a fresh rendering of ``lb``."""
    out = []
    for path, text in _renderings(lb, markdown, json_path, registry):
        if not path.is_file() or path.read_text() != text:
            out.append(path)
    return out


def cmd_leaderboard(args) -> int:
    """Entry of ``python -m benchmark leaderboard``."""
    ref_dir = Path(args.reference_dir) if args.reference_dir else reference_dir()
    runs = [Path(r) for r in args.run_dirs]
    if args.merge and not args.update_reference:
        raise InputError("--merge only applies with --update-reference")
    if args.check and runs:
        raise InputError("--check compares the committed files with the reference; give no RUN_DIR")
    if runs and not args.update_reference:
        lb = collect(runs)
        out = Path(args.out) if args.out else runs[0]
        paths = write(lb, out / "LEADERBOARD.md", out / "leaderboard.json")
        print(f"wrote {paths[0]} and {paths[1]} ({sum(len(t) for t in lb.tables.values())} rows, "
              f"datasets: {', '.join(lb.tables)})")
        return 0
    if runs:  # --update-reference
        old = load_reference(ref_dir) if (ref_dir / REFERENCE_FILE).is_file() else Leaderboard()
        new = old.merge(collect(runs), whole_datasets=not args.merge)
        save_reference(new, ref_dir)
        print(f"updated the reference in {ref_dir}: datasets {', '.join(new.tables)}")
    lb = load_reference(ref_dir)
    md, js = (Path(args.out) / "LEADERBOARD.md", Path(args.out) / "leaderboard.json") if args.out else repo_outputs()
    if args.check:
        stale = stale_files(lb, md, js, registry=True)
        if stale:
            print("out of date: " + ", ".join(map(str, stale)) + "; run `python -m benchmark leaderboard` and commit")
            return 1
        print(f"{md} and {js} match the reference")
        return 0
    write(lb, md, js, registry=True)
    print(f"wrote {md} and {js} from {ref_dir}")
    return 0


__all__ = ["PRIMARY", "Leaderboard", "collect", "collect_run", "save_reference", "load_reference",
           "render_markdown", "render_json", "methods_without_rows", "write", "stale_files", "cmd_leaderboard", "reference_dir",
           "repo_outputs"]
