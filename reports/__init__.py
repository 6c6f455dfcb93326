"""Reports built from one or more results folders: tables, figures and one self-contained HTML page.

``python -m benchmark report RUN_DIR [RUN_DIR ...] [--out DIR]``, or from Python::

    from benchmark.reports import make_report
    report = make_report(["benchmark-results"], "benchmark-results/report")

See docs/reports.md for every file a report writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_FORMATS = ("svg",)


@dataclass
class Report:
    """What :func:`make_report` wrote: the page, every file (relative to ``out``) and the notes."""

    out: Path
    html: Path
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def make_report(
    run_dirs: list[str | Path],
    out: str | Path | None = None,
    *,
    formats: tuple[str, ...] = DEFAULT_FORMATS,
    genes: list[str] | None = None,
    n_genes: int = 3,
    umap: bool = True,
    umap_max_cells: int = 5000,
) -> Report:
    """Write the report of the results folders ``run_dirs`` into ``out``.

    Parameters
    ----------
    run_dirs
        Results folders written by ``python -m benchmark run``; several are read together (a
        parameter sweep, or one run per dataset). A (dataset, method, parameters, seed) found in
        two folders is taken from the first.
    out
        Report folder; default ``RUN_DIR/report`` for one folder (required for several).
    formats
        Vector formats written beside each PNG: ``"svg"`` and/or ``"pdf"``.
    genes
        Genes for the spatial maps (default: the best, median and worst predicted).
    n_genes
        How many genes the spatial maps show when ``genes`` is not given.
    umap
        Draw the UMAP figure (needs umap-learn; the slowest figure).
    umap_max_cells
        Cells embedded per panel at most (a seeded random subset above that).
    """
    from benchmark.errors import InputError

    from . import figures as F
    from .data import load
    from .html import write_html
    from .tables import write_tables

    run_dirs = [Path(d) for d in run_dirs]
    bad = [f for f in formats if f not in ("svg", "pdf")]
    if bad:
        raise InputError(f"unknown figure format(s) {bad}; use svg and/or pdf")
    if out is None:
        if len(run_dirs) != 1:
            raise InputError("give --out for a report of several results folders")
        out = run_dirs[0] / "report"
    if n_genes < 1:
        raise InputError("--n-genes must be at least 1")
    data = load(run_dirs)
    if genes and data.predictions:  # fail before drawing anything
        known = set().union(*(set(p.truth.columns) for p in data.predictions.values()))
        if not any(g in known for g in genes):
            raise InputError(f"gene(s) {genes} are not among the scored genes of any dataset of these results; "
                             f"some that are: {sorted(known)[:12]}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fmts = list(formats)
    tables = write_tables(data, out)
    figs = []
    figs += F.box_plots(data, out, fmts)
    figs += F.cluster_bars(data, tables["aggregates"], out, fmts)
    figs += F.family_bars(data, tables["aggregates"], out, fmts)  # spatial, uncertainty, cell typing
    figs += F.rank_heatmap(data, tables["ranks"], out, fmts)
    figs += F.ablation_plots(data, tables["aggregates"], out, fmts)
    figs += F.sensitivity_plots(data, tables["aggregates"], out, fmts)
    figs += F.reliability_curves(data, out, fmts)
    figs += F.resource_plots(data, tables["resources"], out, fmts)
    if not data.predictions:
        data.notes.append("No spatial maps, reliability curves or UMAP: these results have no predictions/ folder "
                          "(the harness writes it for K-fold runs where every fold of a method succeeded; re-run "
                          "the same command to add it from the cache).")
    figs += F.spatial_maps(data, out, fmts, genes=genes, n_genes=n_genes)
    if umap:
        figs += F.umap_plots(data, out, fmts, max_cells=umap_max_cells)
    else:
        data.notes.append("No UMAP: turned off (--no-umap).")
    files = sorted(str(p.relative_to(out)) for p in (out / "tables").glob("*"))
    files += [p for f in figs for p in f.files]
    files.append("report.md")
    _write_markdown(data, figs, out)
    html = write_html(data, tables, figs, out, ["report.md", *files[:-1]])
    return Report(out, html, ["report.html", *files], list(data.notes))


def _write_markdown(data, figs, out: Path) -> Path:
    """``report.md``: the Markdown tables and links to every figure, for a repository or a paper draft."""
    parts = [(out / "tables" / "summary.md").read_text(), (out / "tables" / "ranks.md").read_text()]
    parts.append("# Figures\n")
    for f in figs:
        parts.append(f"## {f.title}\n\n![{f.title}]({f.png})\n\n{f.caption} "
                     + " ".join(f"[{Path(p).suffix[1:].upper()}]({p})" for p in f.files) + "\n")
    parts.append((out / "tables" / "failures.md").read_text())
    if data.notes:
        parts.append("# Notes\n\n" + "\n".join(f"- {n}" for n in data.notes) + "\n")
    path = out / "report.md"
    path.write_text("\n".join(parts))
    return path


__all__ = ["make_report", "Report"]
