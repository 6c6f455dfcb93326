"""Tables and the figure of ``python -m benchmark scale`` runs (time and memory against cells).

One place for both outputs of a scaling measurement: ``scale.md`` and ``scale.png`` that
``benchmark scale`` / ``scale-merge`` write (:mod:`benchmark.scale` runs the measurement), and the
report's "Runtime and memory against cells" figure, which is the same drawing with the report's
colours (:func:`scale_figure`).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def _name_column(table: pd.DataFrame) -> str:
    """``label`` in a merged table (a method under different settings), else ``method``."""
    return "label" if "label" in table.columns else "method"


def growth_exponent(table: pd.DataFrame, method: str) -> float | None:
    """Slope of log(time) against log(cells) over a method's successful sizes (1 = linear)."""
    ok = table[(table[_name_column(table)] == method) & (table["status"] == "ok")]
    if len(ok) < 2:
        return None
    slope = np.polyfit(np.log(ok["n_cells"].astype(float)), np.log(ok["runtime_s"].astype(float)), 1)[0]
    return float(slope)


def per_method_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per method: largest size that ran, its time per 100,000 cells, the growth exponent, and where it stopped."""
    out = []
    for m, g in table.groupby(_name_column(table), sort=True):
        ok = g[g["status"] == "ok"]
        failed = g[~g["status"].isin(["ok", "skipped"])]
        last = ok.iloc[-1] if len(ok) else None
        out.append({
            "method": m,
            "largest_ok_cells": None if last is None else int(last["n_cells"]),
            "s_per_100k_cells_at_largest": None if last is None else float(last["s_per_100k_cells"]),
            "peak_rss_mb_at_largest": None if last is None else last["peak_rss_mb"],
            "time_growth_exponent": growth_exponent(table, m),
            "stopped_at": "" if failed.empty else f"{int(failed.iloc[0]['n_cells']):,} cells ({failed.iloc[0]['status']})",
        })
    return pd.DataFrame(out)


def _fmt(v, spec: str = ".1f") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return format(v, spec) if isinstance(v, (int, float, np.floating, np.integer)) else str(v)


def to_markdown(table: pd.DataFrame, provenance: dict[str, Any]) -> str:
    cfg = provenance.get("config", {})
    mach = provenance.get("machine", {})
    lines = ["# Scaling: one fold per method and size", ""]
    if "sources" in provenance:  # a merged table: the data once, then each run's own settings
        lines += [f"Built-in data: {cfg.get('genes')} panel genes (one fold of {cfg.get('n_folds')} hidden), "
                  f"{cfg.get('reference_cells'):,} reference cells. Merged from {len(provenance['sources'])} runs:", ""]
        for src in provenance["sources"]:
            m = src.get("machine", {})
            lines.append(f"* `{src['run']}`: {', '.join(src['methods'])}; device {src.get('device')}, time budget "
                         f"{src.get('time_budget')} s, memory budget {src.get('memory_budget_mb')} MB; commit "
                         f"{src.get('git_commit')}; {m.get('cpus')} CPUs ({src.get('cpu_affinity')} usable); torch "
                         f"{src.get('torch') or 'n/a'}; started {src.get('started')}")
        lines.append("")
    else:
        lines += [
            f"Built-in data: {cfg.get('genes')} panel genes (one fold of {cfg.get('n_folds')} hidden), "
            f"{cfg.get('reference_cells'):,} reference cells; time budget {cfg.get('time_budget')} s, memory budget "
            f"{cfg.get('memory_budget_mb')} MB per job; device {cfg.get('device')}.",
            f"Commit {provenance.get('git_commit')}; {mach.get('cpus')} CPUs ({provenance.get('cpu_affinity')} "
            f"usable), {mach.get('platform')}; torch {provenance.get('packages', {}).get('torch', 'n/a')}; "
            f"started {provenance.get('started')}.",
        ]
    lines += [
        "Peak RSS is the job process's resident memory at its peak, including the input data it shares with "
        "the runner since the fork (`baseline` = its resident memory when the method started).",
        "",
        "| method | cells | status | time (s) | s / 100k cells | peak RSS (MB) | baseline (MB) | GPU peak (MB) "
        "| gene CSS | gene PCC | cell CSS | note |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    name = _name_column(table)
    for r in table.to_dict("records"):
        lines.append(
            f"| {r[name]} | {int(r['n_cells']):,} | {r['status']} | {_fmt(r.get('runtime_s'))} | "
            f"{_fmt(r.get('s_per_100k_cells'))} | {_fmt(r.get('peak_rss_mb'), '.0f')} | "
            f"{_fmt(r.get('baseline_rss_mb'), '.0f')} | {_fmt(r.get('gpu_peak_mb'), '.0f')} | "
            f"{_fmt(r.get('gene_css'), '.3f')} | {_fmt(r.get('gene_pcc'), '.3f')} | {_fmt(r.get('cell_css'), '.3f')} | "
            f"{_fmt(r.get('error')).replace('|', '/')[:80]} |")
    lines += ["", "Per method (time per 100,000 cells at the largest size that ran; growth exponent = slope of "
              "log time against log cells, 1 = linear):", "",
              "| method | largest size | s / 100k cells | peak RSS (MB) | growth exponent | stopped at |",
              "|---|---:|---:|---:|---:|---|"]
    for r in per_method_summary(table).to_dict("records"):
        lines.append(f"| {r['method']} | {_fmt(r['largest_ok_cells'], ',.0f')} | {_fmt(r['s_per_100k_cells_at_largest'])} | "
                     f"{_fmt(r['peak_rss_mb_at_largest'], '.0f')} | {_fmt(r['time_growth_exponent'], '.2f')} | "
                     f"{r['stopped_at']} |")
    return "\n".join(lines) + "\n"


def killed_rss_mb(error) -> float:
    """The resident memory a memory kill names in its message (runs older than the runner
    recording it as ``peak_memory_mb``); NaN if there is none."""
    match = re.search(r"resident memory (\d+(?:\.\d+)?) MB", error if isinstance(error, str) else "")
    return float(match.group(1)) if match else float("nan")


def stop_marker_y(failed: pd.DataFrame, ok: pd.DataFrame, col: str) -> pd.Series:
    """Where a plot of ``col`` marks a method's failed rows: at the time (or memory) each was
    stopped with; a memory kill without a recorded peak (runs from before the runner kept it) at
    the memory its message names; else at the method's last successful size's value (NaN if none)."""
    y = pd.to_numeric(failed[col], errors="coerce")
    if col == "peak_rss_mb":
        y = y.fillna(failed["error"].map(killed_rss_mb))
    return y.fillna(ok[col].iloc[-1] if not ok.empty else np.nan)


def scale_figure(table: pd.DataFrame, *, colours: dict[str, str] | None = None, title: str | None = None):
    """Log-log wall time and peak memory against cells, one line per method (or ``label`` of a
    merged table); a cross where a method stopped (time-out, memory budget, failure), at the time
    or memory it was stopped with (:func:`stop_marker_y`).

    ``colours`` maps a method to its colour (the report's palette); others get distinct colours
    of ``tab10``/``tab20``. Returns the matplotlib figure.
    """
    from .figures import _plain_log, _plt

    plt = _plt()
    name = _name_column(table)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    methods = sorted(set(table[name]))
    palette = plt.get_cmap("tab10" if len(methods) <= 10 else "tab20").colors  # no two lines of one colour
    colours = colours or {}
    for i, m in enumerate(methods):
        g = table[table[name] == m].sort_values("n_cells")
        ok = g[g["status"] == "ok"]
        failed = g[~g["status"].isin(["ok", "skipped"])]
        colour = colours.get(m) or palette[i % len(palette)]
        for ax, col in zip(axes, ("runtime_s", "peak_rss_mb")):
            ax.plot(ok["n_cells"], ok[col], marker="o", color=colour, label=m if col == "runtime_s" else None)
            if failed.empty:
                continue
            y = stop_marker_y(failed, ok, col).iloc[0]  # the first failure: nothing larger was run
            if not pd.isna(y):
                ax.plot(failed["n_cells"].iloc[:1], [y], marker="x", markersize=10, linestyle="", color=colour,
                        zorder=3)
    for ax, ylabel in zip(axes, ("wall time of the job (s)", "peak resident memory (MB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("spatial cells")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="major", alpha=0.3)
        _plain_log(ax)
    fig.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.suptitle(title or "one fold per method and size (x: stopped at that size, at the time it was stopped)")
    fig.tight_layout()
    return fig


def plot_scale(table: pd.DataFrame, path: Path) -> None:
    """Write :func:`scale_figure` of ``table`` to ``path`` (``scale.png`` of a scale run)."""
    from .figures import _plt

    fig = scale_figure(table)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    _plt().close(fig)


__all__ = ["growth_exponent", "per_method_summary", "to_markdown", "killed_rss_mb", "stop_marker_y", "scale_figure",
           "plot_scale"]
