"""Command line: ``python -m benchmark VERB``; the verbs live in :mod:`benchmark.commands`."""

from __future__ import annotations

import argparse
import sys
import warnings

from . import envs
from .commands import download, embed, leaderboard, ls, report, run, scale, validate
from .errors import BenchmarkError

DESCRIPTION = """\
Benchmark gene imputation methods for imaging-based spatial transcriptomics.

Each shared gene of a spatial data set and its scRNA-seq reference is hidden in turn
(5-fold gene cross-validation by default) and predicted by every method from the other genes;
the predictions are scored by CSS, MSE and PCC at cell and gene level, and by Leiden cluster
agreement with known cell types.
"""

#: The verbs, in the order ``--help`` lists them. A new sub-command is a module with
#: ``add_parser(subparsers)`` (which sets ``func``), listed here: benchmark/commands/ holds the
#: suite's verbs; ``env build|ls|rm`` lives with the environments it manages (benchmark/envs.py).
VERBS = (run, embed, ls, download, leaderboard, validate, scale, report, envs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmark", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"st-impute-bench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for verb in VERBS:
        verb.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        return args.func(args)
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; finished jobs are cached, run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
