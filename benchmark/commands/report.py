"""``report``: tables, figures and one self-contained HTML page from results folders."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub) -> None:
    rep = sub.add_parser(
        "report", help="tables, figures and one self-contained HTML page from results folders",
        description="Write a report of one or more results folders (several: e.g. a parameter sweep, or one "
        "run per dataset): Markdown and CSV tables, PNG figures with SVG/PDF copies, and report.html, which "
        "embeds every image and opens offline. See docs/reports.md for every file it writes.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  python -m benchmark report benchmark-results\n"
        "  python -m benchmark report runs/k5 runs/k10 runs/k20 --out runs/report --genes Gad2 Slc17a7",
    )
    rep.set_defaults(func=execute)
    rep.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="results folder(s) of `run`")
    rep.add_argument("--out", type=Path, help="report folder (default: RUN_DIR/report; required for several)")
    rep.add_argument("--genes", nargs="+", metavar="GENE", help="genes of the spatial maps (default: the best, "
                     "median and worst predicted)")
    rep.add_argument("--n-genes", type=int, default=3, help="genes in the spatial maps when --genes is not given")
    rep.add_argument("--formats", nargs="+", choices=["svg", "pdf"], default=["svg"],
                     help="vector copies of each figure (default: svg)")
    rep.add_argument("--no-umap", action="store_true", help="skip the UMAP figure (the slowest)")
    rep.add_argument("--umap-max-cells", type=int, default=5000, help="cells per UMAP panel at most (default: 5000)")


def execute(args) -> int:
    from ..reports import make_report

    report = make_report(args.run_dirs, args.out, formats=tuple(args.formats), genes=args.genes,
                         n_genes=args.n_genes, umap=not args.no_umap, umap_max_cells=args.umap_max_cells)
    for note in report.notes:
        print(f"note: {note}")
    print(f"wrote {len(report.files)} files to {report.out}; open {report.html}")
    return 0
