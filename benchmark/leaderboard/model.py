"""The leaderboard's data: the ranking metric, the columns of a reference table and :class:`Leaderboard`.

Collecting runs (:mod:`.runs`), the stored reference (:mod:`.reference`) and rendering
(:mod:`.render`) all go through :func:`_normalise`, so a table has the same columns, dtypes and
rounding whether it was just collected or read back from the reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .. import overall
from ..metrics import leaderboard_columns as _leaderboard_columns

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
METRIC_COLUMNS = [*_leaderboard_columns(), "time_s", "peak_mem_mb"]
#: Every column of a reference table, in order.
ROW_COLUMNS = [
    "method", "kind", "variant_of", "package", "method_version", "params", "quick", "protocol", "n_seeds",
    "n_jobs", "failed_jobs", "status", "error", "flags", "run", *METRIC_COLUMNS,
]
_INT_COLUMNS = ["n_seeds", "n_jobs", "failed_jobs"]
_STR_COLUMNS = ["method", "kind", "variant_of", "package", "method_version", "params", "protocol", "status", "error",
                "flags", "run"]


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
    not_run
        Method -> dataset -> why the reference has no row there (``not_run.json`` beside the
        tables, written by hand: e.g. a measured estimate over the compute budget), shown after
        "not run" in the overall table's *could not run* column.
    """

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)
    genes: dict[str, pd.DataFrame] = field(default_factory=dict)
    not_run: dict[str, dict[str, str]] = field(default_factory=dict)

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
                           dict(sorted(datasets.items())), overall.merge_genes(tables, self.genes, other.genes),
                           {m: {**self.not_run.get(m, {}), **other.not_run.get(m, {})}
                            for m in sorted({*self.not_run, *other.not_run})})


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
