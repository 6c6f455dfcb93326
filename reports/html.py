"""The report's single HTML page: self-contained (images embedded as base64), opens offline."""

from __future__ import annotations

import base64
import html
import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from .data import ReportData
from .figures import Figure

SECTIONS = [
    ("scores", "Cell- and gene-level scores"),
    ("clusters", "Cluster metrics"),
    ("ranks", "Rank heatmap"),
    ("ablation", "Ablations"),
    ("sensitivity", "Parameter sensitivity"),
    ("reliability", "Reliability"),
    ("resources", "Runtime and memory"),
    ("spatial", "Spatial maps"),
    ("umap", "UMAP of imputed cells"),
]

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0 auto;max-width:1250px;padding:0 24px 60px;
color:#222;line-height:1.45}
h1{margin-top:28px}h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:38px}
table{border-collapse:collapse;font-size:12.5px;margin:8px 0 18px}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:right;white-space:nowrap}
th{background:#f4f4f4;white-space:normal;vertical-align:bottom;max-width:110px}
.scroll{overflow-x:auto}td:first-child,th:first-child{text-align:left}
figure{margin:14px 0 30px}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:13px;color:#444;max-width:1000px}
.swatch{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle;border-radius:2px}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:6px 10px;margin:6px 0;font-size:13px}
nav a{margin-right:12px}code,pre{background:#f6f6f6;font-size:12px}pre{padding:8px;overflow-x:auto}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 14px;font-size:13px}dt{font-weight:600}
"""


def _esc(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _table(df: pd.DataFrame) -> str:
    if df is None or df.empty:
        return "<p>(none)</p>"
    head = "".join(f"<th>{_esc(c)}</th>" for c in df.columns)
    rows = []
    for r in df.itertuples(index=False):
        cells = []
        for v in r:
            text = _esc("" if pd.isna(v) else v) if not isinstance(v, str) else _esc(v)
            text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)  # the Markdown tables' best values
            cells.append(f"<td>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"


def _img(out: Path, rel: str) -> str:
    data = base64.b64encode((out / rel).read_bytes()).decode()
    return f'<img alt="{_esc(rel)}" src="data:image/png;base64,{data}">'


def _command(argv: list[str]) -> str:
    """The command as a person would type it (``python -m benchmark ...`` for the module's path)."""
    if not argv:
        return "(from Python)"
    head = argv[0]
    if head.endswith("__main__.py") or head.endswith("/benchmark") or Path(head).name == "st-impute-bench":
        head = "python -m benchmark"
    return " ".join([head, *argv[1:]])


def _provenance(run_dir: str, run: dict[str, Any]) -> str:
    if not run:
        return f"<h3>{_esc(run_dir)}</h3><p>No run.json in this folder: provenance unknown.</p>"
    cfg = run.get("config", {})
    items = [
        ("command", _command(run.get("command", []))),
        ("git commit", run.get("git_commit")),
        ("suite version", run.get("suite_version")),
        ("started / finished", f"{run.get('started', '?')} / {run.get('finished', '?')}"),
        ("protocol", f"{cfg.get('protocol')} (folds {cfg.get('n_folds')}, hold-out fraction "
                     f"{cfg.get('holdout_fraction')}, repeats {cfg.get('repeats')})"),
        ("seeds", cfg.get("seeds")),
        ("preprocessing", cfg.get("preprocessing")),
        ("quick", cfg.get("quick")),
        ("time budget per job (s)", cfg.get("time_budget")),
        ("cluster parameters", json.dumps(cfg.get("cluster_params"))),
        ("jobs (from cache)", f"{run.get('n_jobs')} ({run.get('n_from_cache')})"),
        ("machine", json.dumps(run.get("machine"))),
    ]
    dl = "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in items)
    methods = pd.DataFrame([
        {"method": m, "version": d.get("version") or "(this repository)", "parameters": json.dumps(d.get("params", {})),
         "code": d.get("code", "")} for m, d in run.get("methods", {}).items()])
    datasets = pd.DataFrame([
        {"dataset": n, "spatial cells": d.get("n_spatial_cells"), "reference cells": d.get("n_reference_cells"),
         "shared genes": d.get("n_shared_genes"), "labels": d.get("label_key"), "fingerprint": d.get("fingerprint")}
        for n, d in run.get("datasets", {}).items()])
    pkgs = ", ".join(f"{k} {v}" for k, v in sorted(run.get("packages", {}).items()))
    return (f"<h3>{_esc(run_dir)}</h3><dl>{dl}</dl><h4>Methods</h4>{_table(methods)}<h4>Datasets</h4>"
            f"{_table(datasets)}<details><summary>package versions</summary><p style='font-size:12px'>"
            f"{_esc(pkgs)}</p></details>")


def write_html(data: ReportData, tables: dict[str, Any], figures: list[Figure], out: Path,
               files: list[str]) -> Path:
    """Write ``OUT/report.html``."""
    from .tables import rank_wide

    out = Path(out)
    legend = "".join(f'<span class="swatch" style="background:{e.color}"></span>{_esc(e.label)}'
                     + (" (control)" if e.control else "") + (f" (variant of {_esc(e.variant_of)})" if e.variant_of
                                                              else "") for e in data.entries)
    parts = ["<h1>Imputation benchmark report</h1>",
             f"<p>Results folder(s): {', '.join(f'<code>{_esc(d)}</code>' for d in data.run_dirs)}. "
             f"Datasets: {', '.join(_esc(d) for d in data.datasets)}. Generated "
             f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}.</p>",
             f"<p><b>Methods</b> (same order and colour in every figure):<br>{legend}</p>"]
    present = [s for s in SECTIONS if any(f.section == s[0] for f in figures)]
    nav = ["<a href='#summary'>Summary</a>", "<a href='#ranks-table'>Ranks</a>"]
    nav += [f"<a href='#{k}'>{_esc(t)}</a>" for k, t in present]
    nav += ["<a href='#failures'>Failures</a>", "<a href='#provenance'>Provenance</a>", "<a href='#files'>Files</a>"]
    parts.append("<nav>" + "".join(nav) + "</nav>")
    if data.notes:
        parts.append("<h2 id='notes'>Notes</h2>" + "".join(f"<div class='note'>{_esc(n)}</div>" for n in data.notes))
    parts.append("<h2 id='summary'>Summary</h2><p>Mean of each metric (the assembled K-fold matrix, or the mean over "
                 "held-out repeats; averaged over seeds) &plusmn; SD over folds or repeats. Best value in bold. Higher "
                 "is better except for MSE, time and memory. Full spread (median, quartiles and SD over cells or "
                 "genes, SD over seeds) in <a href='tables/aggregates.csv'>tables/aggregates.csv</a>.</p>")
    for d, _ in tables["summaries"].items():
        from .tables import summary_wide

        parts.append(f"<h3>{_esc(d)}</h3>" + _table(summary_wide(data, tables["aggregates"], tables["resources"], d,
                                                                 markdown=True)))
    parts.append("<h2 id='ranks-table'>Ranks</h2><p>1 = best. Gene MSE (same mean as cell MSE) and Completeness "
                 "are not ranked.</p>")
    if len(data.datasets) > 1:
        parts.append("<h3>Mean rank per dataset</h3>" + _table(rank_wide(data, tables["ranks"], None)))
    for d in data.datasets:
        parts.append(f"<h3>{_esc(d)}</h3>" + _table(rank_wide(data, tables["ranks"], d)))
    for key, title in present:
        parts.append(f"<h2 id='{key}'>{_esc(title)}</h2>")
        for f in [f for f in figures if f.section == key]:
            links = " ".join(f"<a href='{_esc(p)}'>{_esc(Path(p).suffix[1:].upper())}</a>" for p in f.files)
            parts.append(f"<figure id='fig-{_esc(f.name)}'>{_img(out, f.png)}<figcaption><b>{_esc(f.title)}.</b> "
                         f"{_esc(f.caption)} [{links}]</figcaption></figure>")
    parts.append("<h2 id='failures'>Failed jobs</h2>")
    fail = tables["failures"]
    parts.append(_table(fail) if not fail.empty else "<p>No job failed.</p>")
    parts.append("<h2 id='provenance'>Provenance</h2>")
    parts += [_provenance(d, r) for d, r in data.runs.items()]
    parts.append("<h2 id='files'>Files</h2><ul>" + "".join(f"<li><a href='{_esc(p)}'>{_esc(p)}</a></li>"
                                                          for p in files) + "</ul>")
    page = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Imputation benchmark report</title>"
            f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>")
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
