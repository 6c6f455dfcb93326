"""``scale``: time and memory of methods against the number of spatial cells; ``scale-merge``:
one table and plot from several ``scale`` runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..run_config import parse_method_param

EPILOG = """\
examples:
  python -m benchmark scale --cells 10000 20000 --out scale-small         # the controls and stImpute
  python -m benchmark scale --methods all --cells 10000 100000 1000000 --time-budget 57600 --memory-budget 12000
  python -m benchmark scale --methods stimpute --device auto --cells 100000 1000000

Writes OUT/scale.csv, OUT/scale.md, OUT/scale.png and OUT/scale.json; finished jobs are cached in
OUT/cache, so the same command resumes an interrupted run. See docs/scaling.md.
"""


def add_parser(sub) -> None:
    sc = sub.add_parser(
        "scale", help="time and memory of methods against the number of spatial cells (built-in data)",
        description="Generate built-in data of each size and run each method once (one gene fold) per size; "
        "record wall time, peak resident memory and GPU memory; stop a method at the first size where it "
        "fails (time, memory or crash). Writes a table and a log-log plot.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sc.set_defaults(func=execute)
    sc.add_argument("--methods", nargs="+", metavar="NAME", default=[],
                    help="methods, or 'all' (default: the controls and stImpute)")
    sc.add_argument("--exclude-methods", nargs="+", metavar="NAME", default=[],
                    help="leave these methods out (e.g. of 'all')")
    sc.add_argument("--method-param", action="append", type=parse_method_param, default=[],
                    metavar="METHOD.PARAM=VALUE",
                    help="override a method parameter (repeatable)")
    sc.add_argument("--cells", nargs="+", type=int, default=[10_000, 100_000, 1_000_000], metavar="N",
                    help="spatial cell counts (default: 10000 100000 1000000)")
    sc.add_argument("--genes", type=int, default=377,
                    help="spatial panel genes (default: 377, the Xenium tonsil panel)")
    sc.add_argument("--reference-cells", type=int, default=30_000, help="reference cells (default: 30000)")
    sc.add_argument("--reference-only-genes", type=int, default=50, help="genes only in the reference (default: 50)")
    sc.add_argument("--time-budget", type=float, default=3600.0, help="seconds per job (default: 3600; 0 = none)")
    sc.add_argument("--memory-budget", type=float, default=12_000.0, metavar="MB",
                    help="resident memory per job in MB (default: 12000; 0 = none)")
    sc.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"], help="device for torch methods")
    sc.add_argument("--seed", type=int, default=0, help="seed of the data, the gene split and the methods")
    sc.add_argument("--quick", action="store_true", help="let methods shorten training")
    sc.add_argument("--retry-failed", action="store_true", help="re-run jobs whose failure is cached")
    sc.add_argument("--out", type=Path, default=Path("scale-results"), help="output folder (default: %(default)s)")
    sc.add_argument("--quiet", action="store_true", help="no progress bar")
    mg = sub.add_parser(
        "scale-merge", help="one table and plot from several `scale` runs (sessions, settings, devices)",
        description="Merge the outputs of several `benchmark scale` runs on the same built-in data (sizes "
        "measured in different sessions, with other parameters, on a GPU) into one table, summary and "
        "log-log plot. A method run with parameter overrides or on a GPU gets its own line, labelled with "
        "them. Runs nothing.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  python -m benchmark scale-merge scale-10k scale-100k scale-1m --out scale-all\n\n"
        "Writes OUT/scale.csv, OUT/scale.md, OUT/scale.png and OUT/scale.json (with every run's provenance).",
    )
    mg.set_defaults(func=execute_merge)
    mg.add_argument("run_dirs", nargs="+", type=Path, metavar="SCALE_DIR", help="output folders of `scale`")
    mg.add_argument("--out", type=Path, required=True, help="folder for the merged table and plot")


def execute(args) -> int:
    from ..scale import ScaleConfig, per_method_summary, run_scale

    params: dict[str, dict] = {}
    for method, param, value in args.method_param:
        params.setdefault(method, {})[param] = value
    cfg = ScaleConfig(methods=args.methods, exclude_methods=args.exclude_methods, cells=args.cells,
                      genes=args.genes, reference_cells=args.reference_cells,
                      reference_only_genes=args.reference_only_genes, time_budget=args.time_budget or None,
                      memory_budget_mb=args.memory_budget or None, device=args.device, out=args.out, seed=args.seed,
                      quick=args.quick, method_params=params, retry_failed=args.retry_failed)
    table = run_scale(cfg, progress=not args.quiet)
    cols = ["method", "n_cells", "status", "runtime_s", "s_per_100k_cells", "peak_rss_mb", "gpu_peak_mb", "gene_css"]
    print()
    print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print()
    print(per_method_summary(table).to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print(f"\nresults: {args.out / 'scale.md'} (and scale.csv, scale.png, scale.json)")
    return 0


def execute_merge(args) -> int:
    from ..scale import merge_scale_runs, per_method_summary, write_scale_outputs

    table, provenance = merge_scale_runs(args.run_dirs)
    args.out.mkdir(parents=True, exist_ok=True)
    write_scale_outputs(table, args.out, provenance)
    print(per_method_summary(table).to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print(f"\nresults: {args.out / 'scale.md'} (and scale.csv, scale.png, scale.json)")
    return 0
