"""``validate``: check a method that is not registered yet (the work is done by
:mod:`benchmark.validate`)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub) -> None:
    val = sub.add_parser(
        "validate", help="check a method that is not registered yet (file, folder or module)",
        description="Import a method from a .py file, a folder or a dotted module name and run the metadata\n"
        "and contract checks every registered method must pass; print what passes and what fails,\n"
        "and why. Exit status 0 when everything passed, 1 otherwise.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  python -m benchmark validate my_method.py\n"
        "  python -m benchmark validate mypkg.methods --dataset synthetic-small",
    )
    val.set_defaults(func=execute)
    val.add_argument("target", metavar="PATH_OR_MODULE", help="a .py file, a folder, or a dotted module name")
    val.add_argument("--dataset", help="run the contract checks on this registered dataset "
                     "(default: a tiny built-in pair, seconds)")
    val.add_argument("--data-dir", type=Path, help="data directory for --dataset")


def execute(args) -> int:
    from ..validate import cmd_validate

    return cmd_validate(args)
