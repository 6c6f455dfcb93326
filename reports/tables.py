"""The report's tables: aggregates with spread, ranks, resources and failures (CSV and Markdown)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .data import LABELS, METRICS, RANK_METRICS, ReportData, higher_is_better


def _col(df: pd.DataFrame) -> pd.Series:
    return df["scope"] + "_" + df["metric"]


def aggregates(data: ReportData) -> pd.DataFrame:
    """One row per dataset, entry and metric: mean, median and their spread.

    Columns: ``mean`` (of the assembled K-fold matrix, or over held-out repeats; averaged over
    seeds), ``median``, ``split_sd`` (SD of the per-fold or per-repeat means), ``seed_sd`` (SD of
    the per-seed means; empty with one seed), ``item_sd``, ``item_q25``, ``item_q75`` (spread of
    the per-cell or per-gene values, each item's values averaged over seeds first), ``n_items``,
    ``n_undefined`` (items whose metric is undefined, left out of the mean), ``n_seeds``.
    """
    from benchmark.metrics import all_metrics

    scopes = {m.scope for m in all_metrics().values() if m.scope not in ("run", "summary")}  # every scored scope
    r = data.results[data.results["scope"].isin(scopes)].copy()
    r["column"] = _col(r)
    keys = ["dataset", "entry", "column"]
    agg = r[(r["item"] == "") & r["stat"].isin(["mean", "value"])]
    assembled = agg[agg["fold"] == "all"]
    splits = agg[agg["fold"] != "all"]
    # per seed: the assembled value where there is one, else the mean over splits
    per_seed = pd.concat([
        assembled.groupby(keys + ["seed"])["value"].mean(),
        splits.groupby(keys + ["seed"])["value"].mean(),
    ])
    per_seed = per_seed[~per_seed.index.duplicated(keep="first")]
    out = per_seed.groupby(level=keys).agg(mean="mean", seed_sd="std", n_seeds="count")
    med = r[(r["item"] == "") & (r["stat"] == "median")]
    med_all = med[med["fold"] == "all"].groupby(keys)["value"].mean()
    med_split = med[med["fold"] != "all"].groupby(keys)["value"].mean()
    out["median"] = med_all.combine_first(med_split)
    out["split_sd"] = splits.groupby(keys)["value"].std()
    items = r[(r["item"] != "") & (r["stat"] == "value")]
    per_item = items.groupby(keys + ["item"])["value"].mean()
    g = per_item.groupby(level=keys)
    out["item_sd"] = g.std()
    out["item_q25"] = g.quantile(0.25)
    out["item_q75"] = g.quantile(0.75)
    out["n_items"] = g.count()
    und = r[(r["stat"] == "n_undefined") & (r["item"] == "")]
    und = und[und["fold"] == "all"] if (und["fold"] == "all").any() else und
    out["n_undefined"] = und.groupby(keys)["value"].mean()
    out = out.reset_index().rename(columns={"column": "metric"})
    out["n_undefined"] = out["n_undefined"].fillna(0)
    out["higher_is_better"] = out["metric"].map(higher_is_better)
    order = {lab: i for i, lab in enumerate(data.order)}
    morder = {m: i for i, m in enumerate(METRICS)}
    out = out.sort_values(["dataset", "entry", "metric"],
                          key=lambda s: s.map(order) if s.name == "entry" else s.map(morder).fillna(99)
                          if s.name == "metric" else s)
    cols = ["dataset", "entry", "metric", "higher_is_better", "mean", "median", "split_sd", "seed_sd", "item_sd",
            "item_q25", "item_q75", "n_items", "n_undefined", "n_seeds"]
    return out[cols].reset_index(drop=True)


def resources(data: ReportData) -> pd.DataFrame:
    """Per dataset and entry: time per seed (all splits), mean job time, peak memory, jobs, failures."""
    jobs = data.jobs
    if jobs.empty:
        r = data.results[data.results["scope"] == "run"]
        if r.empty:
            return pd.DataFrame()
        jobs = r.pivot_table(index=["dataset", "entry", "fold", "seed"], columns="metric", values="value").reset_index()
        jobs = jobs.rename(columns={"fold": "split"}).assign(status="ok")
    g = jobs.groupby(["dataset", "entry"])
    per_seed = jobs.groupby(["dataset", "entry", "seed"])["runtime_s"].sum().groupby(level=[0, 1]).mean()
    out = pd.DataFrame({
        "time_per_seed_s": per_seed,
        "mean_job_s": g["runtime_s"].mean(),
        "peak_memory_mb": g["peak_memory_mb"].max(),
        "n_jobs": g.size(),
        "n_failed": g["status"].apply(lambda s: int((s != "ok").sum())),
    }).reset_index()
    out["n_cells"] = out["dataset"].map(data.n_cells)
    order = {lab: i for i, lab in enumerate(data.order)}
    return out.sort_values(["dataset", "entry"], key=lambda s: s.map(order) if s.name == "entry" else s).reset_index(
        drop=True)


def ranks(agg: pd.DataFrame) -> pd.DataFrame:
    """Rank of each entry per dataset and metric (1 = best; ties share the best rank), for
    :data:`RANK_METRICS`, with the mean rank per dataset (``metric = "mean_rank"``)."""
    a = agg[agg["metric"].isin(RANK_METRICS)].dropna(subset=["mean"]).copy()
    if a.empty:
        return pd.DataFrame(columns=["dataset", "entry", "metric", "rank"])
    a["rank"] = a.groupby(["dataset", "metric"])["mean"].rank(method="min", ascending=False)
    low = a["higher_is_better"].eq(False)
    a.loc[low, "rank"] = a[low].groupby(["dataset", "metric"])["mean"].rank(method="min", ascending=True)
    mean_rank = a.groupby(["dataset", "entry"])["rank"].mean().reset_index().assign(metric="mean_rank")
    return pd.concat([a[["dataset", "entry", "metric", "rank"]], mean_rank], ignore_index=True)


def failures(data: ReportData) -> pd.DataFrame:
    cols = ["dataset", "entry", "split", "seed", "status", "error"]
    if data.jobs.empty:
        return pd.DataFrame(columns=cols)
    f = data.jobs[data.jobs["status"] != "ok"].copy()
    f["error"] = f["error"].map(lambda e: (str(e).strip().splitlines() or [""])[0][:300])
    return f[cols].reset_index(drop=True)


# -- Markdown ------------------------------------------------------------------------------


def _md_table(df: pd.DataFrame) -> str:
    """A GitHub Markdown table (no tabulate dependency); ``|`` in cells is escaped."""
    def cell(v) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    head = "| " + " | ".join(cell(c) for c in df.columns) + " |"
    sep = "|" + "|".join("---" if i == 0 else "---:" for i in range(len(df.columns))) + "|"
    rows = ["| " + " | ".join(cell(v) for v in r) + " |" for r in df.itertuples(index=False)]
    return "\n".join([head, sep, *rows])


def _fmt(v: float, metric: str) -> str:
    if pd.isna(v):
        return "n/a"
    return f"{v:.3g}" if metric.endswith("mse") and abs(v) >= 10 else f"{v:.3f}"


def summary_wide(data: ReportData, agg: pd.DataFrame, res: pd.DataFrame, dataset: str,
                 markdown: bool) -> pd.DataFrame:
    """The dataset's table: one row per entry, ``mean ± split SD`` of every metric (best in bold
    when ``markdown``), time, memory and failed jobs."""
    a = agg[agg["dataset"] == dataset]
    metrics = [m for m in METRICS if m in set(a["metric"])]
    entries = [e for e in data.order if e in set(a["entry"]) | set(res.get("entry", []))
               and (e in set(a["entry"]) or not res[(res["dataset"] == dataset) & (res["entry"] == e)].empty)]
    rows = []
    best = {}
    for m in metrics:
        s = a[a["metric"] == m].set_index("entry")["mean"].dropna()
        if len(s) > 1:
            best[m] = s.max() if higher_is_better(m) else s.min()
    for e in entries:
        row = {"method": e}
        for m in metrics:
            hit = a[(a["entry"] == e) & (a["metric"] == m)]
            if hit.empty or pd.isna(hit["mean"].iloc[0]):
                row[LABELS.get(m, m)] = "n/a"
                continue
            mean, sd = hit["mean"].iloc[0], hit["split_sd"].iloc[0]
            if pd.isna(sd):
                sd = hit["seed_sd"].iloc[0]
            text = _fmt(mean, m) + ("" if pd.isna(sd) else f" ± {_fmt(sd, m)}")
            if markdown and m in best and np.isclose(mean, best[m]):
                text = f"**{text}**"
            row[LABELS.get(m, m)] = text
        rr = res[(res["dataset"] == dataset) & (res["entry"] == e)] if not res.empty else res
        if not rr.empty:
            row["time per seed (s)"] = f"{rr['time_per_seed_s'].iloc[0]:.1f}"
            row["peak memory (MB)"] = f"{rr['peak_memory_mb'].iloc[0]:.0f}"
            row["failed jobs"] = f"{int(rr['n_failed'].iloc[0])}/{int(rr['n_jobs'].iloc[0])}"
        rows.append(row)
    return pd.DataFrame(rows).fillna("")


def rank_wide(data: ReportData, rk: pd.DataFrame, dataset: str | None) -> pd.DataFrame:
    """Entries x metrics ranks of one dataset, or (``dataset=None``) entries x datasets mean ranks
    with the mean over datasets."""
    if rk.empty:
        return pd.DataFrame()
    if dataset is not None:
        t = rk[rk["dataset"] == dataset].pivot_table(index="entry", columns="metric", values="rank")
        cols = [m for m in RANK_METRICS + ["mean_rank"] if m in t.columns]
        t = t[cols].rename(columns={**LABELS, "mean_rank": "mean rank"})
    else:
        t = rk[rk["metric"] == "mean_rank"].pivot_table(index="entry", columns="dataset", values="rank")
        t["mean over datasets"] = t.mean(axis=1)
    t = t.reindex([e for e in data.order if e in t.index])
    return t.map(lambda v: "" if pd.isna(v) else (f"{v:.0f}" if float(v).is_integer() else f"{v:.2f}")) \
        .reset_index().rename(columns={"entry": "method"})


def write_tables(data: ReportData, out: Path) -> dict[str, object]:
    """Write ``tables/*.csv`` and ``tables/*.md``; return the frames for the page."""
    folder = Path(out) / "tables"
    folder.mkdir(parents=True, exist_ok=True)
    agg = aggregates(data)
    res = resources(data)
    rk = ranks(agg)
    fail = failures(data)
    agg.to_csv(folder / "aggregates.csv", index=False, float_format="%.10g")
    res.to_csv(folder / "resources.csv", index=False, float_format="%.10g")
    rk.to_csv(folder / "ranks.csv", index=False, float_format="%.10g")
    fail.to_csv(folder / "failures.csv", index=False)
    summaries = {d: summary_wide(data, agg, res, d, markdown=False) for d in data.datasets}
    for d, t in summaries.items():
        t.to_csv(folder / f"summary_{_safe(d)}.csv", index=False)

    md = ["# Benchmark report tables", "",
          "Mean of each metric (the assembled K-fold matrix, or the mean over held-out repeats; averaged over "
          "seeds) ± SD over folds or repeats (over seeds where there are no folds). Best value in bold. "
          "Higher is better except for MSE, runtime and memory.", ""]
    for d in data.datasets:
        md += [f"## {d}", "", _md_table(summary_wide(data, agg, res, d, markdown=True)), ""]
    (folder / "summary.md").write_text("\n".join(md))

    md = ["# Ranks", "", "1 = best. Metrics ranked: " + ", ".join(LABELS[m] for m in RANK_METRICS) + ". "
          "Gene MSE is left out (its mean equals the cell MSE mean), and so is Completeness (1 for a "
          "prediction that puts every cell in one cluster).", ""]
    if len(data.datasets) > 1:
        md += ["## Mean rank per dataset", "", _md_table(rank_wide(data, rk, None)), ""]
    for d in data.datasets:
        t = rank_wide(data, rk, d)
        if not t.empty:
            md += [f"## {d}", "", _md_table(t), ""]
    (folder / "ranks.md").write_text("\n".join(md))

    md = ["# Failed jobs", ""]
    md += [_md_table(fail)] if not fail.empty else ["No job failed."]
    (folder / "failures.md").write_text("\n".join(md) + "\n")
    return {"aggregates": agg, "resources": res, "ranks": rk, "failures": fail, "summaries": summaries}


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


__all__ = ["aggregates", "resources", "ranks", "failures", "write_tables", "summary_wide", "rank_wide"]
