"""The leaderboard across datasets: one row per method over every real dataset of the reference.

For each method (not variants, not ``+tuned`` rows, not oracles) the overall table gives

* its **mean rank** over the real datasets it ran on: per dataset, the methods of the overall
  table that ran there (status ``ok``, per-gene values stored) are ranked by gene-level PCC,
  best 1, ties sharing their average rank;
* its **mean accuracy score** over those datasets: Li et al.'s (2022) AS
  (:func:`metrics.accuracy_score`), computed per dataset among the same methods from the means
  over genes of PCC, SSIM, RMSE and JS, then averaged over datasets;
* on how many datasets it is **significantly better / worse than the ``knn`` control**: per
  dataset, the paired Wilcoxon signed-rank test over genes of the two methods' gene PCC
  (:func:`benchmark.stats.wilcoxon_pair`); the p-values of one method are Holm-corrected over
  the datasets it was tested on (:func:`benchmark.stats.holm`, family = that method's datasets),
  and a dataset counts where the adjusted p-value is below :data:`benchmark.stats.ALPHA`, on the
  side the signed ranks lean to;
* the datasets where it **could not run**, with the reason (failed, timed out, not applicable,
  or not run at all), and whether its rows were run with ``--quick``.

The per-gene values it needs are kept in the reference beside the per-dataset tables:
``leaderboard/reference/genes/<dataset>.csv``, one row per method and metric (``pcc``, ``ssim``,
``rmse``, ``js``) with the id of the run it came from and the metric's mean over genes
(column ``mean_over_genes``); the ``pcc`` rows also have one column per gene, named
``gene:<name>`` so that no gene name (Drosophila has a gene ``run``) can clash with the others (the Wilcoxon tests need
them; the accuracy score needs only the means, so the other metrics keep only those, which keeps
the files small). 6 significant digits. A per-gene row is kept only while the dataset table's row of that method still comes
from the same run, so importing a newer run of a method drops its old per-gene values.

Built-in simulated datasets (``synthetic``) keep their per-dataset tables but do not enter the
overall table: it aggregates real data only. Rows without per-gene values (runs imported before
this table existed) cannot be ranked by it and are listed below it.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from .leaderboard.model import Leaderboard

#: The control every method is tested against.
CONTROL = "knn"
#: Gene-level metrics stored per gene: the four of Li et al.'s accuracy score.
GENE_METRICS = ("pcc", "ssim", "rmse", "js")
#: Sub-folder of the reference folder with the per-gene values.
GENES_DIR = "genes"
#: Columns of the in-memory per-gene tables (long form).
GENE_COLUMNS = ["method", "run", "metric", "gene", "value"]
#: The "gene" that holds a metric's mean over genes (ignoring genes where it is undefined): empty,
#: as the results table's aggregate items are, so it is never a gene's name.
MEAN = ""
#: Its column in the files, and the prefix of the per-gene columns.
MEAN_COLUMN, GENE_PREFIX = "mean_over_genes", "gene:"
#: A method is given a position only if it ran on at least this fraction of the real datasets: a
#: mean rank over one or two datasets, where few methods ran, is not comparable to one over all of
#: them (measured 2026-12-05: stPlus, ranked on 2 of 8, headed the table). Such rows follow the
#: ranked ones, unnumbered, with the datasets they could not run on.
MIN_COVERAGE = 0.5
#: The metric kept per gene (the others keep only their mean).
PER_GENE_METRIC = "pcc"
#: Columns of one overall row, in order (see :func:`overall_table`).
OVERALL_COLUMNS = ["method", "kind", "n_datasets", "n_real", "mean_rank", "mean_accuracy_score", "mean_gene_pcc",
                   "better_than_control", "worse_than_control", "tested_against_control", "quick_on", "full_on",
                   "could_not_run", "per_dataset", "ranked"]


def _sig(v: float, digits: int = 6) -> float:
    return float(f"{float(v):.{digits}g}") if np.isfinite(v) else math.nan


# -- per-gene values: collected from a run, merged, saved, loaded ---------------------------------

def genes_of_run(results: pd.DataFrame, run_id: str, methods: dict[str, list[str]]) -> dict[str, pd.DataFrame]:
    """Per-gene values of a run's rows, per dataset (long form, :data:`GENE_COLUMNS`).

    Parameters
    ----------
    results
        The run's tidy results table.
    run_id
        The id of the run (the ``run`` column of the leaderboard rows).
    methods
        Dataset -> methods that got a leaderboard row (oracles are left out there, so here too).
    """
    from .stats import per_gene_table

    empty = pd.DataFrame(columns=GENE_COLUMNS)
    if results.empty:
        return {}
    table = per_gene_table(results[results["metric"].isin(GENE_METRICS)])
    out = {}
    for dataset, names in methods.items():
        sub = table[(table["dataset"] == dataset) & table["method"].isin(names)]
        if sub.empty:
            continue
        sub = sub.rename(columns={"item": "gene"}).assign(run=run_id)
        means = sub.groupby(["method", "run", "metric"], as_index=False)["value"].mean().assign(gene=MEAN)
        per_gene = sub[sub["metric"] == PER_GENE_METRIC]
        out[dataset] = _normalise_genes(pd.concat([empty, per_gene[GENE_COLUMNS], means[GENE_COLUMNS]],
                                                  ignore_index=True))
    return out


def _normalise_genes(long: pd.DataFrame) -> pd.DataFrame:
    """Sorted, rounded, NaN-free long table: identical whether just built or read back."""
    t = long[GENE_COLUMNS].copy()
    t["value"] = pd.to_numeric(t["value"], errors="coerce").map(_sig).astype("float64")
    t = t[np.isfinite(t["value"])]
    for c in ("method", "run", "metric", "gene"):
        t[c] = t[c].astype(str)
    return t.sort_values(["method", "metric", "gene"], kind="stable").reset_index(drop=True)


def merge_genes(tables: dict[str, pd.DataFrame], *sources: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The per-gene values of ``sources`` (later ones win) that belong to the rows of ``tables``.

    A per-gene row is kept only if the dataset table has a row of that method from the same run,
    so a method re-imported from a newer run never keeps the older run's per-gene values.
    """
    out = {}
    for name, table in tables.items():
        current = set(zip(table["method"], table["run"]))
        parts = [s[name] for s in sources if name in s and len(s[name])]
        if not parts:
            continue
        long = pd.concat(parts, ignore_index=True)
        keep = [(m, r) in current for m, r in zip(long["method"], long["run"])]
        long = long[keep].drop_duplicates(["method", "metric", "gene"], keep="last")
        if len(long):
            out[name] = _normalise_genes(long)
    return dict(sorted(out.items()))


def save_genes(genes: dict[str, pd.DataFrame], directory: Path) -> list[Path]:
    """Write ``directory/genes/<dataset>.csv`` (wide: a row per method and metric, a column per
    gene); remove files of datasets no longer present. Returns the paths written."""
    folder = Path(directory) / GENES_DIR
    written = []
    if genes:
        folder.mkdir(parents=True, exist_ok=True)
    for name, long in genes.items():
        wide = long.pivot_table(index=["method", "run", "metric"], columns="gene", values="value", aggfunc="first")
        wide = wide.reindex([MEAN, *sorted(c for c in wide.columns if c != MEAN)], axis=1)
        wide.columns = [MEAN_COLUMN if c == MEAN else GENE_PREFIX + c for c in wide.columns]
        wide = wide.reset_index()
        path = folder / f"{name}.csv"
        wide.to_csv(path, index=False, lineterminator="\n", float_format="%.6g")
        written.append(path)
    if folder.is_dir():
        for old in folder.glob("*.csv"):
            if old.stem not in genes:
                old.unlink()
    return written


def load_genes(directory: Path) -> dict[str, pd.DataFrame]:
    """Read what :func:`save_genes` wrote (an absent folder gives no per-gene values)."""
    folder = Path(directory) / GENES_DIR
    out = {}
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.csv")):
        wide = pd.read_csv(path, dtype={"method": str, "run": str, "metric": str}, keep_default_na=False,
                           na_values=["", "nan", "NaN"])
        missing = {"method", "run", "metric", MEAN_COLUMN} - set(wide.columns)
        other = [c for c in wide.columns if c not in {"method", "run", "metric", MEAN_COLUMN}
                 and not c.startswith(GENE_PREFIX)]
        if missing or other:
            from .errors import InputError

            raise InputError(f"{path} lacks the columns {sorted(missing)} or has columns {other} that are not "
                             f"'{GENE_PREFIX}<gene>'; it is not a per-gene reference file")
        # melt under the prefixed names: a gene may be called like an id column ("run")
        long = wide.melt(id_vars=["method", "run", "metric"], var_name="column", value_name="value")
        long["gene"] = [MEAN if c == MEAN_COLUMN else c.removeprefix(GENE_PREFIX) for c in long["column"]]
        out[path.stem] = _normalise_genes(long)
    return out


# -- the overall table ----------------------------------------------------------------------------

def is_real(dataset: str) -> bool:
    """Whether a dataset is real data: every name but a built-in (simulated) registered dataset."""
    from .datasets import all_datasets

    spec = all_datasets().get(dataset.removeprefix("self:"))
    return not (spec is not None and spec.builtin)


def _in_overall(method: str, kind: str) -> bool:
    from .tuning import is_tuned

    return kind in ("method", "control") and not is_tuned(method)


def _wide(genes: pd.DataFrame | None, metric: str) -> pd.DataFrame:
    """Genes x methods of one metric (without the mean row)."""
    if genes is None or genes.empty:
        return pd.DataFrame()
    sub = genes[(genes["metric"] == metric) & (genes["gene"] != MEAN)]
    return sub.pivot_table(index="gene", columns="method", values="value", aggfunc="first")


def _means(genes: pd.DataFrame, metric: str, methods: list[str]) -> pd.Series:
    """Each method's stored mean over genes of one metric (NaN where none is stored)."""
    sub = genes[(genes["metric"] == metric) & (genes["gene"] == MEAN)]
    return sub.set_index("method")["value"].reindex(methods).astype(float)


#: The runner's words for a job stopped at its time budget (benchmark/runner.py).
_TIMEOUT = re.compile(r"exceeded the time budget of ([0-9.eg+]+) s")


def _reason(row: pd.Series) -> str:
    """Why a row has no rank, short: ``timeout at 180 s (5/5 jobs)``, ``not applicable: ...``, else
    the dataset table's status text."""
    from .leaderboard.render import _status

    err, jobs = str(row["error"]), f"{row['failed_jobs']}/{row['n_jobs']} jobs"
    hit = _TIMEOUT.search(err)
    if hit:
        return f"timeout at {hit.group(1)} s ({jobs})"
    if err.startswith("not applicable"):
        return err
    return _status(row)


def overall_table(lb: "Leaderboard") -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The overall table of ``lb``'s real datasets, and the rows it could not use.

    Returns
    -------
    table
        One row per method (:data:`OVERALL_COLUMNS`), best mean rank first (ties: higher mean
        accuracy score, then name). ``per_dataset`` holds, per dataset it ran on, its rank, accuracy
        score, gene PCC and the test against :data:`CONTROL` (raw and Holm p-value, direction).
    unused
        ``{"method", "dataset", "why"}`` for ok rows that have no per-gene values, so no rank.
    """
    from .metrics import accuracy_score
    from .metrics.spatial import AS_COLUMNS

    from .stats import ALPHA, _signed_rank_sum, holm, wilcoxon_pair

    real = [d for d in lb.tables if is_real(d)]
    kinds: dict[str, str] = {}
    for d in real:
        for m, k in zip(lb.tables[d]["method"], lb.tables[d]["kind"]):
            if _in_overall(m, k):
                kinds.setdefault(m, k)
    genes = {d: lb.genes.get(d) for d in real}
    with_genes = {d: set(genes[d]["method"]) if genes[d] is not None else set() for d in real}
    # a method with per-gene values somewhere is a row; so is one that ran nowhere (every row a failure,
    # listed with its reasons); one whose only scores predate stored per-gene values cannot be ranked
    ok_rows = {m: [d for d in real if m in set(lb.tables[d]["method"][lb.tables[d]["status"] == "ok"])] for m in kinds}
    methods = sorted(m for m in kinds if any(m in with_genes[d] for d in real) or not ok_rows[m])

    per: dict[str, dict[str, dict[str, Any]]] = {m: {} for m in methods}
    could_not: dict[str, list[dict[str, str]]] = {m: [] for m in methods}
    unused = []
    for d in real:
        table = lb.tables[d].set_index("method")
        ran = []
        for m in methods:
            if m not in table.index:
                why = lb.not_run.get(m, {}).get(d)
                could_not[m].append({"dataset": d, "why": f"not run: {why}" if why else "not run"})
            elif table.loc[m, "status"] != "ok":
                could_not[m].append({"dataset": d, "why": _reason(table.loc[m])})
            elif m not in with_genes[d]:
                could_not[m].append({"dataset": d, "why": "ran, but its reference row predates stored per-gene "
                                                          "values (rerun and import it to count it)"})
            else:
                ran.append(m)
        for m, k in kinds.items():
            if m not in methods and m in table.index and table.loc[m, "status"] == "ok":
                unused.append({"method": m, "dataset": d, "why": "no per-gene values in the reference"})
        if not ran:
            continue
        pcc = _wide(genes[d], "pcc")
        means = pd.DataFrame({col: _means(genes[d], col.removeprefix("gene_"), ran) for col, _ in AS_COLUMNS})
        score = accuracy_score(means)
        primary = table.loc[ran, "gene_pcc"].astype(float)
        rank = primary.rank(ascending=False, method="average")
        for m in ran:
            entry = {"rank": float(rank[m]), "n_ranked": len(ran), "accuracy_score": float(score[m]),
                     "gene_pcc": float(primary[m]), "quick": bool(table.loc[m, "quick"]),
                     "p_vs_control": None, "p_holm_vs_control": None, "vs_control": None}
            if m != CONTROL and CONTROL in ran:
                a, b = pcc[m].to_numpy(float), pcc[CONTROL].to_numpy(float)
                ok = np.isfinite(a) & np.isfinite(b)
                if ok.any():
                    entry["p_vs_control"] = wilcoxon_pair(a[ok], b[ok])[1]
                    entry["_sign"] = _signed_rank_sum(a[ok] - b[ok])
                    entry["n_genes"] = int(ok.sum())
            per[m][d] = entry

    rows = []
    for m in methods:
        ds = per[m]
        tested = [d for d in ds if ds[d]["p_vs_control"] is not None]
        adj = holm(np.array([ds[d]["p_vs_control"] for d in tested])) if tested else []
        better = worse = 0
        for d, p in zip(tested, adj):
            sign = ds[d].pop("_sign")
            ds[d]["p_holm_vs_control"] = float(p)
            if p < ALPHA and sign != 0:
                ds[d]["vs_control"] = "better" if sign > 0 else "worse"
                better += sign > 0
                worse += sign < 0
            else:
                ds[d]["vs_control"] = "n.s."
        rows.append({
            "method": m, "kind": kinds[m], "n_datasets": len(ds), "n_real": len(real),
            "mean_rank": float(np.mean([e["rank"] for e in ds.values()])) if ds else math.nan,
            "mean_accuracy_score": float(np.mean([e["accuracy_score"] for e in ds.values()])) if ds else math.nan,
            "mean_gene_pcc": float(np.mean([e["gene_pcc"] for e in ds.values()])) if ds else math.nan,
            "better_than_control": int(better), "worse_than_control": int(worse),
            "tested_against_control": len(tested),
            "quick_on": [d for d, e in ds.items() if e["quick"]],
            "full_on": [d for d, e in ds.items() if not e["quick"]],
            "could_not_run": could_not[m], "per_dataset": ds,
            "ranked": bool(ds) and len(ds) >= math.ceil(MIN_COVERAGE * len(real)),
        })
    out = pd.DataFrame(rows, columns=OVERALL_COLUMNS)
    if len(out):
        out = out.assign(_as=-out["mean_accuracy_score"], _unranked=~out["ranked"].astype(bool)).sort_values(
            ["_unranked", "mean_rank", "_as", "method"], na_position="last", kind="stable").drop(
            columns=["_as", "_unranked"])
    return out.reset_index(drop=True), unused


# -- rendering ------------------------------------------------------------------------------------

def _position(table: pd.DataFrame, i: int) -> int | None:
    """Row ``i``'s place in the order (ranked rows come first), or ``None`` for an unranked row."""
    return i + 1 if bool(table["ranked"].iloc[i]) else None

def _quick_text(r: pd.Series) -> str:
    """Says which datasets ran with ``--quick``, so quick and full rows never mix silently."""
    if not r["quick_on"] and not r["full_on"]:
        return "–"  # ranked nowhere: its failed rows say whether they were quick
    if not r["quick_on"]:
        return "no"
    if not r["full_on"]:
        return "yes"
    return "on " + ", ".join(r["quick_on"]) + "; full on " + ", ".join(r["full_on"])


def _short_reason(why: str) -> str:
    return why if len(why) <= 160 else why[:157] + "..."


def markdown_lines(lb: "Leaderboard") -> list[str]:
    """The overall section of ``LEADERBOARD.md`` (empty when ``lb`` has no per-gene values)."""
    from .leaderboard.render import _cell
    from .stats import ALPHA

    table, unused = overall_table(lb)
    if table.empty:
        return []
    n_real = int(table["n_real"].iloc[0])
    lines = [
        f"## Overall: {n_real} real datasets", "",
        "Methods ranked by their **mean rank** over the real datasets they ran on (per dataset, the "
        "methods of this table that ran there ranked by gene PCC, best 1) and, beside it, the **mean "
        "accuracy score** of Li et al. (2022): per dataset, each of the means over genes of PCC, SSIM, "
        "RMSE and JS is ranked among the same methods (best N, worst 1, divided by N) and the four are "
        "averaged, so 1 is best. **vs `knn`**: on how many datasets the method's per-gene PCC is "
        f"significantly better / worse than the `knn` control's (paired Wilcoxon signed-rank test over "
        f"genes, Holm-corrected over the datasets of that method, p < {ALPHA:g}) of those tested. "
        "A method that did not run everywhere is averaged over fewer datasets, which the *ran on* "
        "column says; the datasets where it could not run are listed with the reason. One that ran on "
        f"fewer than {MIN_COVERAGE:.0%} of the datasets gets no place (#: –) and follows the others. "
        "*quick*: the rows were run with `--quick` (shortened training, see each method's note). "
        "Simulated datasets are left out. Per-dataset tables follow. "
        "How it is computed: [benchmark/overall.py](benchmark/overall.py); the compute budget of the "
        "reference run: [docs/leaderboard.md](docs/leaderboard.md).", "",
        "| # | method | mean rank ↓ | mean accuracy score ↑ | mean gene PCC ↑ | ran on | vs `knn` better / worse "
        "(tested) | quick | could not run |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for i, r in table.iterrows():
        name = f"`{r['method']}`" + (" (control)" if r["kind"] == "control" else "")
        vs = "–" if r["method"] == CONTROL else (
            f"{r['better_than_control']} / {r['worse_than_control']} ({r['tested_against_control']})")
        cnr = "; ".join(f"{c['dataset']}: {_short_reason(c['why'])}" for c in r["could_not_run"]) or "–"
        fmt = (lambda v, d=3: "–" if pd.isna(v) else f"{v:.{d}f}")
        lines.append("| " + " | ".join([
            str(_position(table, i) or "–"), name, fmt(r["mean_rank"], 2), fmt(r["mean_accuracy_score"]), fmt(r["mean_gene_pcc"]),
            f"{r['n_datasets']}/{r['n_real']}", vs, _quick_text(r), _cell(cnr)]) + " |")
    if unused:
        by_method: dict[str, list[str]] = {}
        for u in unused:
            by_method.setdefault(u["method"], []).append(u["dataset"])
        lines += ["", "Not in this table (their reference rows predate stored per-gene values, so they cannot be "
                  "ranked or tested here; rerun and import them to add them): "
                  + ", ".join(f"`{m}` ({', '.join(ds)})" for m, ds in sorted(by_method.items())) + "."]
    return lines + [""]


def readme_lines(lb: "Leaderboard", top: int = 5) -> list[str]:
    """The short form of the overall table that the README shows: its first ``top`` rows, without
    the could-not-run column (``tests/test_overall.py`` checks the README against it)."""
    table, _ = overall_table(lb)
    lines = ["| # | method | mean rank ↓ | mean accuracy score ↑ | vs `knn` better / worse (tested) | ran on | quick |",
             "|---|---|---|---|---|---|---|"]
    for i, r in table.head(top).iterrows():
        vs = "–" if r["method"] == CONTROL else (
            f"{r['better_than_control']} / {r['worse_than_control']} ({r['tested_against_control']})")
        lines.append(f"| {_position(table, i) or '–'} | `{r['method']}`{' (control)' if r['kind'] == 'control' else ''} | "
                     f"{r['mean_rank']:.2f} | {r['mean_accuracy_score']:.3f} | {vs} | "
                     f"{r['n_datasets']}/{r['n_real']} | {_quick_text(r)} |")
    return lines


def to_json(lb: "Leaderboard") -> dict[str, Any]:
    """The overall table for ``leaderboard.json`` (deterministic, no NaN)."""
    table, unused = overall_table(lb)

    def num(v):
        return None if v is None or (isinstance(v, float) and not np.isfinite(v)) else _sig(v) \
            if isinstance(v, float) else v

    rows = []
    for i, r in table.iterrows():
        rows.append({
            "position": _position(table, i), "method": r["method"], "kind": r["kind"], "n_datasets": int(r["n_datasets"]),
            "mean_rank": num(r["mean_rank"]), "mean_accuracy_score": num(r["mean_accuracy_score"]),
            "mean_gene_pcc": num(r["mean_gene_pcc"]),
            "vs_control": {"control": CONTROL, "better": int(r["better_than_control"]),
                           "worse": int(r["worse_than_control"]), "tested": int(r["tested_against_control"])},
            "quick_on": list(r["quick_on"]), "could_not_run": list(r["could_not_run"]),
            "per_dataset": {d: {k: num(v) for k, v in e.items()} for d, e in sorted(r["per_dataset"].items())},
        })
    return {"datasets": [d for d in lb.tables if is_real(d)], "control": CONTROL,
            "test": "paired Wilcoxon signed-rank over genes of gene PCC, Holm over each method's datasets",
            "rows": rows, "not_in_table": unused}


__all__ = ["CONTROL", "GENE_METRICS", "genes_of_run", "merge_genes", "save_genes", "load_genes", "is_real",
           "overall_table", "markdown_lines", "readme_lines", "to_json"]
