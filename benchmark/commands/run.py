"""``run``: run the benchmark and write a results folder. The options come from
:data:`benchmark.run_config.OPTIONS`."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

from ..errors import BenchmarkError
from ..run_config import add_run_arguments

EPILOG = """\
examples:
  python -m benchmark run                                   # built-in data, controls and stImpute
  python -m benchmark run --methods all --quick             # every installed method, shortened training
  python -m benchmark run --datasets osmfish --methods mean knn --seeds 0 1 2
  python -m benchmark run --spatial sp.h5ad --reference ref.h5ad --label-key cell_type
  python -m benchmark run --protocol holdout --holdout-fraction 0.8 --repeats 5

Results go to OUT/results.parquet (and .csv), OUT/summary.csv, OUT/jobs.csv and OUT/run.json.
Finished jobs are cached in OUT/cache: run the same command again to resume an interrupted run.
"""


def add_parser(sub) -> None:
    run = sub.add_parser(
        "run", help="run the benchmark and write a results folder", description="Run the benchmark.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.set_defaults(func=execute)
    run.add_argument("--config", type=Path, metavar="FILE.yaml",
                     help="read run options from a YAML file (keys = option names with '_'; see docs/datasets.md); "
                     "flags given here override it")
    add_run_arguments(run)


def execute(args) -> int:
    from ..harness import run_benchmark
    from ..results import SUMMARY_WIDTH, direction_note, format_summary
    from ..run_config import build_run_config

    cfg = build_run_config(args)  # --config file, overridden by the flags given
    if (cfg.scheduler or cfg.dask_workers) and cfg.executor != "dask":
        raise BenchmarkError("--scheduler and --workers need --executor dask")
    result = run_benchmark(cfg, progress=not args.quiet)
    print()
    print(format_summary(result.summary, full=args.full_summary))
    note = (f"({direction_note()} Means over cells/genes of the assembled {cfg.n_folds}-fold matrix"
            + (", mean ± sd over seeds" if len(cfg.seeds) > 1 else "") + ".)"
            if cfg.protocol == "kfold" else f"({direction_note()})")
    print("\n" + textwrap.fill(note, width=SUMMARY_WIDTH, break_on_hyphens=False))  # a 120-column terminal
    if result.failures:
        print(f"\n{len(result.failures)} job(s) failed:")
        for f in result.failures:
            print(f"  {f['job']}: {f['status']}: {f['error'].splitlines()[0] if f['error'] else ''}")
    print(f"\nresults: {result.out / 'results.parquet'} (and .csv, summary.csv, jobs.csv, run.json)")
    return 0
