"""The verbs of ``python -m benchmark``, one module each.

Each module has ``add_parser(subparsers)``, which adds its sub-command (or sub-commands) and sets
``func`` to the function that carries it out; :func:`benchmark.cli.build_parser` calls them in
the order ``--help`` lists them (:data:`benchmark.cli.VERBS`). Heavy imports happen inside the
functions, so that ``--help`` and ``ls`` stay fast.
"""

from __future__ import annotations


def print_table(header, rows) -> None:
    """Print ``rows`` under ``header`` in left-aligned columns (the last column unpadded)."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    widths[-1] = 0
    for r in [header, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip())
