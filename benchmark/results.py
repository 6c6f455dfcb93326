"""The tidy results table: schema, writing, reading and the printed summary.

One row per dataset, method, split (``fold``: ``0``..``K-1``, ``h0``.. for held-out repeats,
or ``all`` for the assembled matrix), seed, metric, scope, item and statistic. Every row
carries its provenance columns; the full package list is in ``run.json`` and in the parquet
file's metadata.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError

COLUMNS = [
    "dataset", "method", "params", "fold", "seed", "metric", "scope", "item", "stat", "value",
    "protocol", "preprocessing", "scoring_space", "quick", "method_version", "git_commit", "suite_version",
]

def __getattr__(name: str):
    # SUMMARY_METRICS and PRIMARY_COLUMNS are read from the metric registry when asked for, so that a
    # metric registered after this module was imported (a plug-in) is in them too
    if name == "SUMMARY_METRICS":
        from .metrics import summary_metrics

        return summary_metrics()
    if name == "PRIMARY_COLUMNS":
        from .metrics import primary_columns

        return primary_columns() + COST_COLUMNS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def to_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["seed"] = df["seed"].astype("int64")
    df["value"] = df["value"].astype("float64")
    df["quick"] = df["quick"].astype(bool)
    return df


def write_results(df: pd.DataFrame, out: Path, provenance: dict[str, Any]) -> list[Path]:
    """Write ``results.parquet`` and ``results.csv`` atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    paths = []
    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[b"st_impute_bench"] = json.dumps(provenance, sort_keys=True, default=str).encode()
    table = table.replace_schema_metadata(meta)
    for name, writer in (
        ("results.parquet", lambda p: pq.write_table(table, p)),
        ("results.csv", lambda p: df.to_csv(p, index=False, float_format="%.10g")),
    ):
        final = out / name
        tmp = out / (name + ".tmp")
        writer(tmp)
        os.replace(tmp, final)
        paths.append(final)
    return paths


def read_results(path: Path) -> pd.DataFrame:
    """The results table of ``results.parquet``, or of the one in the folder ``path``."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.parquet"
    return pd.read_parquet(path)


#: Columns without which a table is not a results table of this suite (older tables may lack others).
_READ_COLUMNS = {"dataset", "method", "params", "fold", "seed", "metric", "scope", "item", "stat", "value"}
_WRITE_HINT = "(write one with `python -m benchmark run --out DIR`)"


def read_run(run_dir: Path, *, require_run_json: bool = True) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a results folder of ``python -m benchmark run``: its results table and ``run.json``.

    The one reader of results folders (the leaderboard and the reports use it), so that every
    command accepts the same folders and says the same thing about a broken one.

    Parameters
    ----------
    run_dir
        The results folder.
    require_run_json
        Whether a folder without ``run.json`` is an error (the leaderboard needs its provenance);
        if not, the run is ``{}`` (a report can do without it).

    Returns
    -------
    results : pandas.DataFrame
        ``results.parquet`` as written, or, if the folder has only ``results.csv``, that file
        with ``fold``, ``item`` and ``params`` read as text and empty cells kept as ``""`` (only
        an empty ``value`` is NaN), as they are in the parquet file.
    run : dict
        The parsed ``run.json`` (``{}`` if it is absent and not required).

    Raises
    ------
    InputError
        Naming the folder and the file: the folder does not exist, it lacks ``run.json`` (when
        required) or both results files, a file cannot be parsed, or the table lacks a column
        every results table has.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"results folder {run_dir} does not exist")
    run_file = run_dir / "run.json"
    if require_run_json and not run_file.is_file():
        raise InputError(f"{run_dir} is not a results folder: it has no run.json {_WRITE_HINT}")
    parquet, csv = run_dir / "results.parquet", run_dir / "results.csv"
    if parquet.is_file():
        path = parquet
    elif csv.is_file():  # e.g. a folder copied without the parquet file
        path = csv
    else:
        raise InputError(f"{run_dir} is not a results folder: it has no results.parquet or results.csv {_WRITE_HINT}")
    try:
        if path == parquet:
            results = read_results(parquet)
        else:
            results = pd.read_csv(csv, dtype={"fold": str, "item": str, "params": str}, keep_default_na=False,
                                  na_values={"value": ["", "nan", "NaN"]})
    except Exception as exc:  # a truncated or foreign file
        raise InputError(f"cannot read {path}: {exc}") from None
    missing = _READ_COLUMNS - set(results.columns)
    if missing:
        raise InputError(f"{path} lacks the column(s) {sorted(missing)}; was it written by this suite?")
    try:
        run = json.loads(run_file.read_text()) if run_file.is_file() else {}
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {run_file}: {exc}") from None
    return results, run


#: jobs.csv's numeric columns: an empty cell there is NaN; in the text columns it stays "".
_JOBS_NUMERIC = ("seed", "runtime_s", "peak_memory_mb", "n_train_genes", "n_target_genes")


def read_jobs(run_dir: Path) -> pd.DataFrame:
    """The job table (``jobs.csv``) of a results folder; empty if the folder has none.

    The one reader of ``jobs.csv`` (the leaderboard and the reports use it): ``split`` and the
    text columns are strings, an empty text cell is ``""`` (a job without error or flags), and an
    empty numeric cell (time or memory of a job that never ran) is NaN.
    """
    path = Path(run_dir) / "jobs.csv"
    if not path.is_file():
        return pd.DataFrame()
    try:
        return pd.read_csv(path, dtype={"split": str, "error": str}, keep_default_na=False,
                           na_values={c: [""] for c in _JOBS_NUMERIC})
    except Exception as exc:  # a truncated or foreign file
        raise InputError(f"cannot read {path}: {exc}") from None


def summary_table(results: pd.DataFrame, jobs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Dataset x method table of the mean of each core metric.

    For K-fold CV it uses the assembled matrix (``fold == "all"``); for held-out repeats the
    mean over repeats; for the cell-split protocol the mean over the repeats' assembled matrices
    (``fold == "r0"``, ...). Each seed's value is computed first; the table holds their mean over
    seeds and, when a run has several seeds, their standard deviation (``<column>_sd``, ddof=1)
    and ``n_seeds``. Adds Li et al.'s ``accuracy_score`` (ranks among the methods of each dataset
    in this table), the summed job time and failures.
    """
    from .metrics import summary_metrics

    summary = summary_metrics()  # (scope, name) of every summary column, from the registry
    agg = results[(results["item"] == "") & (results["stat"].isin(["mean", "value"]))]
    agg = agg[agg["scope"].isin({scope for scope, _ in summary})]
    kfold = agg[(agg["protocol"] == "kfold") & (agg["fold"] == "all")]
    hold = agg[agg["protocol"] == "holdout"]
    cells = agg[(agg["protocol"] == "cellsplit") & agg["fold"].astype(str).str.fullmatch(r"r\d+")]
    use = pd.concat([kfold, hold, cells])
    if use.empty:
        table = pd.DataFrame()
    else:
        use = use.assign(column=use["scope"] + "_" + use["metric"])
        per_seed = use.pivot_table(index=["dataset", "method", "seed"], columns="column", values="value",
                                   aggfunc="mean")
        grouped = per_seed.groupby(level=["dataset", "method"])
        table = grouped.mean()
        cols = [f"{s}_{m}" for s, m in summary if f"{s}_{m}" in table.columns]
        table = table[cols]
        table = _with_accuracy_score(table)
        n_seeds = grouped.size()
        if (n_seeds > 1).any():  # spread across seeds, next to each mean
            sd = grouped.std(ddof=1)[cols].add_suffix("_sd")
            order = [c for col in table.columns for c in (col, f"{col}_sd") if c in table.columns or c in sd]
            table = table.join(sd)[order].assign(n_seeds=n_seeds)
    if jobs is not None and not jobs.empty:
        per = jobs.groupby(["dataset", "method"])
        extra = pd.DataFrame({
            "time_s": per["runtime_s"].sum() / per["seed"].nunique(),
            "peak_mem_mb": per["peak_memory_mb"].max(),
            "failed_jobs": per["status"].apply(lambda s: int((s != "ok").sum())),
        })
        table = table.join(extra, how="outer") if not table.empty else extra
    return table


def _with_accuracy_score(table: pd.DataFrame) -> pd.DataFrame:
    """Add Li et al.'s accuracy score, ranking the methods of each dataset of this table.

    Relative to the methods present, so it is computed here and never stored per job.
    """
    from .metrics import accuracy_score
    from .metrics.spatial import AS_COLUMNS

    if not all(c in table.columns for c, _ in AS_COLUMNS):
        return table
    parts = [accuracy_score(sub.droplevel("dataset")).set_axis(sub.index)
             for _, sub in table.groupby(level="dataset", sort=False)]
    return table.assign(accuracy_score=pd.concat(parts))


#: Columns the terminal summary shows after the metrics whose registry entry gives them a priority
#: (``Metric.primary``: Li et al.'s accuracy score and the four metrics it ranks, the cell- and gene-level
#: cosine similarity, the cluster ARI); ``PRIMARY_COLUMNS`` is both, in order. Columns are dropped from the
#: end of that list until the table fits the width (failed_jobs always stays).
COST_COLUMNS = ["time_s", "n_seeds"]
ALWAYS_SHOWN = ["failed_jobs"]
SUMMARY_WIDTH = 120


def format_summary(table: pd.DataFrame, full: bool = True, width: int = SUMMARY_WIDTH) -> str:
    """The summary table as text.

    ``full`` prints every column (``summary.csv``'s). Otherwise only :data:`PRIMARY_COLUMNS`
    present in the table, the lowest in priority dropped until every line fits ``width``
    characters, then :data:`ALWAYS_SHOWN`; a last line names the columns left out. If even one
    metric does not fit (very long dataset or method names), the first one is shown anyway.
    """
    if table.empty:
        return "(no results)"
    if full:
        return _format_table(table)
    from .metrics import primary_columns

    cols = [c for c in primary_columns() + COST_COLUMNS if c in table.columns]
    keep = [c for c in ALWAYS_SHOWN if c in table.columns]
    while True:
        shown = [c for c in table.columns if c in cols or c in keep or
                 (c.endswith("_sd") and c[:-3] in cols)]  # the sd is folded into its mean's column
        text = _format_table(table[shown])
        if len(cols) <= 1 or max(len(line) for line in text.splitlines()) <= width:
            break
        cols = cols[:-1]
    left = [c for c in table.columns if c not in shown and not (c.endswith("_sd") and c[:-3] in table.columns)]
    if left:
        import textwrap

        note = (f"({len(left)} more column{'s' if len(left) > 1 else ''} in summary.csv, or with --full-summary: "
                + ", ".join(left) + ")")
        text += "\n" + textwrap.fill(note, width=width, break_on_hyphens=False)
    return text


def _format_table(table: pd.DataFrame) -> str:
    if table.empty:
        return "(no results)"
    shown = table.copy()
    for c in [c for c in shown.columns if f"{c}_sd" in shown.columns]:  # "mean ± sd" over seeds
        mean, sd = shown[c], shown.pop(f"{c}_sd")
        shown[c] = [("n/a" if pd.isna(m) else f"{m:.3f}") + ("" if pd.isna(d) else f" ± {d:.3f}")
                    for m, d in zip(mean, sd)]
    for c in shown.columns:
        if shown[c].dtype == object and c not in ("failed_jobs", "time_s", "peak_mem_mb"):
            continue  # already formatted
        if c == "n_seeds":
            shown[c] = shown[c].fillna(0).astype(int)
        elif c == "failed_jobs":
            shown[c] = shown[c].fillna(0).astype(int)
        elif c in ("time_s", "peak_mem_mb"):
            shown[c] = shown[c].map(lambda v: "" if pd.isna(v) else f"{v:.1f}" if c == "time_s" else f"{v:.0f}")
        else:
            shown[c] = shown[c].map(lambda v: "n/a" if pd.isna(v) else f"{v:.3f}")
    return shown.to_string()


def direction_note() -> str:
    """Which summary columns are better high, low, or near a target, from the metric registry."""
    from .metrics import all_metrics

    shown = [m for m in all_metrics().values() if m.summary or m.scope == "summary"]

    def _name(m) -> str:  # the bare name where cell and gene share it (css, pcc), else the column
        return m.name if m.scope in ("cell", "gene", "cluster", "summary") else m.column

    higher = list(dict.fromkeys(_name(m) for m in shown if m.higher_is_better is True))
    lower = list(dict.fromkeys(_name(m) for m in shown if m.higher_is_better is False))
    target = [f"{_name(m)} ({m.best:g})" for m in shown if m.higher_is_better is None and np.isfinite(m.best)]
    note = f"higher is better for {', '.join(higher)}; lower is better for {', '.join(lower)}"
    return note + (f"; nearest the target is best for {', '.join(target)}." if target else ".")


__all__ = ["COLUMNS", "PRIMARY_COLUMNS", "to_frame", "write_results", "read_results", "read_run", "summary_table",
           "format_summary"]
