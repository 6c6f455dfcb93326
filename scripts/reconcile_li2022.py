#!/usr/bin/env python
"""Compare our per-gene scores on osmFISH with Li et al. 2022 (SpatialBenchmarking, Dataset 15).

Usage::

    python scripts/reconcile_li2022.py RUN_DIR [RUN_DIR ...] [--metric pcc] [--out table.csv] [--markdown]

Each RUN_DIR is a results folder of ``python -m benchmark run`` (``results.parquet`` or
``results.csv``). From it the per-gene rows (``scope == "gene"``, ``fold == "all"``,
``stat == "value"``) of one metric on one data set (``osmfish``) are read; with several seeds a
gene's value is the mean over seeds. For every method Li et al. ran that the suite wraps, the
table gives their mean over the 33 genes, ours, the difference, and the Spearman rank correlation
of the per-gene values between theirs and ours over the genes both have (gene names matched
case-insensitively). A method of the published table that a run did not score is listed with
empty "ours" columns, so every table has all published methods.

The published values are read from ``leaderboard/published/li2022_dataset15.csv`` (see the
README there for the exact source files and commits). For each method the newest release in
that file is used (``Data15`` before the earlier ``Dataset2`` and ``Dataset2_osmFISH`` files of
the same repository) unless ``--release`` names one; the table says which.

A run of the ``li2022`` preset (``python -m benchmark run --config li2022 --datasets osmfish``)
is their setup as far as their public code allows (docs/reconciliation.md, "The li2022
preset"); its rows carry ``preprocessing`` ``raw`` and ``scoring_space`` ``counts``.

If a results table has a ``scoring_space`` column (the harness's ``--scoring-space``), each
space gets its own rows.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PUBLISHED = ROOT / "leaderboard" / "published" / "li2022_dataset15.csv"

#: Our method name -> the name Li et al. use.
METHOD_MAP: dict[str, str] = {
    "tangram": "Tangram",
    "spage": "SpaGE",
    "gimvi": "gimVI",
    "seurat": "Seurat",
    "stplus": "stPlus",
    "liger": "LIGER",
    "novosparc": "novoSpaRc",
}

#: Releases in the published file, newest first (the default choice per method).
RELEASE_ORDER = ("Data15", "Dataset2", "Dataset2_osmFISH")

COLUMNS = ["run", "scoring_space", "method", "published_method", "release", "their_mean", "our_mean",
           "delta", "n_common", "spearman", "spearman_p", "our_method_version", "preprocessing", "quick"]


def load_published(path: str | Path = DEFAULT_PUBLISHED) -> pd.DataFrame:
    """The published per-gene table: method, gene, metric, value, release, source_path, source_commit."""
    df = pd.read_csv(path, float_precision="round_trip")
    need = {"method", "gene", "metric", "value", "release"}
    missing = need - set(df.columns)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}")
    return df


def pick_release(published: pd.DataFrame, method: str, release: str | None = None) -> str | None:
    """The release used for ``method``: ``release`` if given (None if the method lacks it), else the newest."""
    have = set(published.loc[published["method"] == method, "release"])
    if release is not None:
        return release if release in have else None
    for r in RELEASE_ORDER:
        if r in have:
            return r
    return sorted(have)[0] if have else None


def load_results(run_dir: str | Path) -> pd.DataFrame:
    """The results table of a run folder, read as every command reads one
    (:func:`benchmark.results.read_run`: parquet preferred, else csv; a clear error otherwise)."""
    from benchmark.results import read_run

    return read_run(Path(run_dir), require_run_json=False)[0]


def per_gene(results: pd.DataFrame, metric: str = "pcc", dataset: str = "osmfish") -> pd.DataFrame:
    """Per-gene values of ``metric`` on the assembled matrix: columns scoring_space, method, gene, value, ...

    Several seeds are averaged per gene. Rows with a missing value (an undefined metric) are dropped.
    """
    r = results
    sel = ((r["scope"] == "gene") & (r["fold"].astype(str) == "all") & (r["stat"] == "value")
           & (r["metric"] == metric))
    if "dataset" in r.columns and dataset is not None:
        sel &= r["dataset"] == dataset
    g = r.loc[sel].copy()
    g["scoring_space"] = g["scoring_space"].astype(str) if "scoring_space" in g.columns else "normalized"
    for col, default in (("method_version", ""), ("preprocessing", ""), ("quick", False)):
        if col not in g.columns:
            g[col] = default
    g = g.dropna(subset=["value"])
    keys = ["scoring_space", "method", "item"]
    out = (g.groupby(keys, sort=False)
            .agg(value=("value", "mean"), method_version=("method_version", "first"),
                 preprocessing=("preprocessing", "first"), quick=("quick", "first"))
            .reset_index().rename(columns={"item": "gene"}))
    return out


def reconcile(published: pd.DataFrame, ours: pd.DataFrame, metric: str = "pcc", run: str = "",
              release: str | None = None, method_map: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per (scoring space, published method): their mean, ours, delta, Spearman over common genes.

    ``ours`` is the output of :func:`per_gene`. A method of ``ours`` whose name is not in
    ``method_map`` is ignored; a published method with no row in ``ours`` gets NaN in our columns.
    """
    method_map = dict(METHOD_MAP if method_map is None else method_map)
    pub = published[published["metric"] == metric]
    spaces = list(dict.fromkeys(ours["scoring_space"])) or ["normalized"]
    rows = []
    for space in spaces:
        o_space = ours[ours["scoring_space"] == space]
        for theirs_name in dict.fromkeys(method_map.values()):
            rel = pick_release(pub, theirs_name, release)
            if rel is None:
                continue
            t = pub[(pub["method"] == theirs_name) & (pub["release"] == rel)]
            t = pd.Series(t["value"].to_numpy(dtype=float), index=t["gene"].str.upper())
            t = t[~t.index.duplicated()]
            ours_names = [m for m, p in method_map.items() if p == theirs_name and m in set(o_space["method"])]
            if not ours_names:
                ours_names = [None]
            for our_name in ours_names:
                row = {"run": run, "scoring_space": space, "method": our_name or "", "published_method": theirs_name,
                       "release": rel, "their_mean": float(t.mean()), "our_mean": np.nan, "delta": np.nan,
                       "n_common": 0, "spearman": np.nan, "spearman_p": np.nan, "our_method_version": "",
                       "preprocessing": "", "quick": ""}
                if our_name is not None:
                    o = o_space[o_space["method"] == our_name]
                    s = pd.Series(o["value"].to_numpy(dtype=float), index=o["gene"].astype(str).str.upper())
                    s = s[~s.index.duplicated()]
                    common = [g for g in t.index if g in s.index]
                    row.update(our_mean=float(s.mean()), delta=float(s.mean() - t.mean()), n_common=len(common),
                               our_method_version=str(o["method_version"].iloc[0]),
                               preprocessing=str(o["preprocessing"].iloc[0]), quick=bool(o["quick"].iloc[0]))
                    if len(common) >= 3:
                        rho, p = stats.spearmanr(t[common].to_numpy(), s[common].to_numpy())
                        row.update(spearman=float(rho), spearman_p=float(p))
                rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def to_markdown(table: pd.DataFrame) -> str:
    """A Markdown table of the main columns (3 decimals)."""
    cols = ["run", "scoring_space", "published_method", "release", "method", "their_mean", "our_mean", "delta",
            "n_common", "spearman"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in table.iterrows():
        cells = []
        for c in cols:
            v = r[c]
            if isinstance(v, float):
                cells.append("" if np.isnan(v) else f"{v:.3f}")
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="results folders of `python -m benchmark run`")
    ap.add_argument("--published", default=str(DEFAULT_PUBLISHED), help="published per-gene table (CSV)")
    ap.add_argument("--metric", default="pcc", choices=["pcc", "ssim", "rmse", "js"],
                    help="gene-level metric to compare (default: pcc)")
    ap.add_argument("--dataset", default="osmfish", help="data set name in the results (default: osmfish)")
    ap.add_argument("--release", default=None, help="force one published release (default: newest per method)")
    ap.add_argument("--map", action="append", default=[], metavar="OURS=THEIRS",
                    help="extra method name mapping, e.g. tangram-clusters=Tangram (repeatable)")
    ap.add_argument("--out", default="reconcile_li2022.csv", help="CSV to write (default: ./reconcile_li2022.csv)")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table instead of plain text")
    ap.add_argument("--ran-only", action="store_true",
                    help="leave out published methods a run did not score (default: list them with empty 'ours')")
    args = ap.parse_args(argv)

    method_map = dict(METHOD_MAP)
    for m in args.map:
        ours, _, theirs = m.partition("=")
        if not ours or not theirs:
            ap.error(f"--map expects OURS=THEIRS, got {m!r}")
        method_map[ours] = theirs

    published = load_published(args.published)
    tables = []
    for run_dir in args.run_dirs:
        ours = per_gene(load_results(run_dir), args.metric, args.dataset)
        tables.append(reconcile(published, ours, args.metric, run=str(run_dir), release=args.release,
                                method_map=method_map))
    table = pd.concat(tables, ignore_index=True)
    if args.ran_only:
        table = table[table["method"] != ""].reset_index(drop=True)
    table.insert(2, "metric", args.metric)
    table.to_csv(args.out, index=False)
    if args.markdown:
        print(to_markdown(table))
    else:
        with pd.option_context("display.width", 200, "display.max_columns", None, "display.max_rows", None):
            print(table.drop(columns=["spearman_p"]).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"\nwritten: {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
