"""``python -m benchmark leaderboard``: the verb that ties collecting, the reference and rendering together.

The options are declared in benchmark/commands/leaderboard.py; this is what they do.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError
from .model import Leaderboard
from .reference import REFERENCE_FILE, load_reference, reference_dir, save_reference
from .render import repo_outputs, stale_files, write
from .runs import collect


def cmd_leaderboard(args: argparse.Namespace) -> int:
    """Entry of ``python -m benchmark leaderboard``.

    With RUN_DIRs, writes their leaderboard into ``--out`` (default: the first RUN_DIR); with
    ``--update-reference``, imports them into the reference first and re-renders the repository's
    files; without RUN_DIRs, re-renders those files from the reference (``--check``: only compare).

    Parameters
    ----------
    args
        The parsed options (benchmark/commands/leaderboard.py).

    Returns
    -------
    int
        0, or 1 when ``--check`` finds a file out of date.

    Raises
    ------
    InputError
        For contradictory options or unreadable folders.
    """
    ref_dir = Path(args.reference_dir) if args.reference_dir else reference_dir()
    runs = [Path(r) for r in args.run_dirs]
    if args.merge and not args.update_reference:
        raise InputError("--merge only applies with --update-reference")
    if args.check and runs:
        raise InputError("--check compares the committed files with the reference; give no RUN_DIR")
    if runs and not args.update_reference:
        lb = collect(runs)
        out = Path(args.out) if args.out else runs[0]
        paths = write(lb, out / "LEADERBOARD.md", out / "leaderboard.json")
        print(f"wrote {paths[0]} and {paths[1]} ({sum(len(t) for t in lb.tables.values())} rows, "
              f"datasets: {', '.join(lb.tables)})")
        return 0
    if runs:  # --update-reference
        old = load_reference(ref_dir) if (ref_dir / REFERENCE_FILE).is_file() else Leaderboard()
        new = old.merge(collect(runs), whole_datasets=not args.merge)
        save_reference(new, ref_dir)
        print(f"updated the reference in {ref_dir}: datasets {', '.join(new.tables)}")
    lb = load_reference(ref_dir)
    md, js = (Path(args.out) / "LEADERBOARD.md", Path(args.out) / "leaderboard.json") if args.out else repo_outputs()
    if args.check:
        stale = stale_files(lb, md, js, registry=True)
        if stale:
            print("out of date: " + ", ".join(map(str, stale)) + "; run `python -m benchmark leaderboard` and commit")
            return 1
        print(f"{md} and {js} match the reference")
        return 0
    write(lb, md, js, registry=True)
    print(f"wrote {md} and {js} from {ref_dir}")
    return 0
