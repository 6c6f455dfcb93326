"""``leaderboard``: rank methods per dataset; LEADERBOARD.md and leaderboard.json
(the work is done by :mod:`benchmark.leaderboard`)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub) -> None:

    lb = sub.add_parser(
        "leaderboard", help="rank methods per dataset: LEADERBOARD.md and leaderboard.json",
        description="Rank the methods of results folders per dataset by gene-level PCC, with key metrics,\n"
        "failures, the reproducing command and provenance.\n\n"
        "  RUN_DIR...                      write LEADERBOARD.md and leaderboard.json into --out\n"
        "                                  (default: the first RUN_DIR)\n"
        "  RUN_DIR... --update-reference   import the runs into leaderboard/reference/, then re-render\n"
        "                                  the repository's LEADERBOARD.md and leaderboard/leaderboard.json\n"
        "  (no RUN_DIR)                    re-render those two files from leaderboard/reference/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  python -m benchmark leaderboard benchmark-results                      # your run's leaderboard\n"
        "  python -m benchmark leaderboard runs/osmfish runs/synthetic --update-reference\n"
        "  python -m benchmark leaderboard --check                                # is LEADERBOARD.md current?",
    )
    lb.set_defaults(func=execute)
    lb.add_argument("run_dirs", nargs="*", type=Path, metavar="RUN_DIR", help="results folders of `run`")
    lb.add_argument("--out", type=Path, help="folder for LEADERBOARD.md and leaderboard.json")
    lb.add_argument("--update-reference", action="store_true",
                    help="import the RUN_DIRs into the reference (their datasets replace those there)")
    lb.add_argument("--merge", action="store_true",
                    help="with --update-reference: replace only the methods the RUN_DIRs contain")
    lb.add_argument("--reference-dir", type=Path, help="reference folder (default: leaderboard/reference)")
    lb.add_argument("--check", action="store_true",
                    help="exit 1 if the rendered files differ from a rendering of the reference")


def execute(args) -> int:
    from ..leaderboard import cmd_leaderboard

    return cmd_leaderboard(args)
