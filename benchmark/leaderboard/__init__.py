"""The leaderboard: ``LEADERBOARD.md`` for people, ``leaderboard.json`` for programs.

``python -m benchmark leaderboard RUN_DIR [RUN_DIR ...]`` ranks, per dataset, the methods of
one or more results folders (written by ``python -m benchmark run``) by the primary metric,
with the key metrics, failures, the command that reproduces each run and its provenance.

The repository carries a leaderboard rendered from a **reference**: small aggregated tables
in ``leaderboard/reference/`` (one CSV per dataset, one row per method, and
``reference.json`` with each run's provenance), never raw data or caches.

* ``python -m benchmark leaderboard RUN_DIR --update-reference`` imports a run into the
  reference (its datasets replace those in the reference; ``--merge`` replaces only its
  methods) and re-renders ``LEADERBOARD.md`` and ``leaderboard/leaderboard.json``.
* ``python -m benchmark leaderboard`` re-renders them from the reference; ``--check`` only
  says whether the committed files are current (``tests/test_leaderboard.py`` does the same).

Rendering is deterministic: the same reference gives the same bytes (no clock is read; the
only dates are the runs' own start and end times).

The work is split by concern; this package re-exports their names, so ``benchmark.leaderboard``
keeps one import surface:

* :mod:`.model`: the primary metric, the reference table's columns, :class:`Leaderboard`;
* :mod:`.runs`: reading results folders (through :func:`benchmark.results.read_run`) into rows,
  provenance and the reproducing command;
* :mod:`.reference`: the stored reference in ``leaderboard/reference/``;
* :mod:`.render`: Markdown and JSON, writing them and checking they are current;
* :mod:`.command`: the ``leaderboard`` verb.
"""

from __future__ import annotations

# Private helpers are re-exported too: benchmark/overall.py and tests use some of them
# (``_status``, ``_cell``, ``_normalise``, ``_cli_command``, ``_provenance``).
from .command import cmd_leaderboard
from .model import (
    _INT_COLUMNS,
    _STR_COLUMNS,
    METRIC_COLUMNS,
    PRIMARY,
    PRIMARY_KEY,
    ROW_COLUMNS,
    Leaderboard,
    _normalise,
    _sig,
)
from .reference import REFERENCE_FILE, load_reference, reference_dir, save_reference
from .render import (
    HEADER,
    SHOWN,
    _cell,
    _commit_text,
    _dataset_line,
    _fmt,
    _method_cell,
    _num,
    _protocol_text,
    _provenance_block,
    _ranked,
    _renderings,
    _status,
    _table,
    _when,
    _without_rows_lines,
    methods_without_rows,
    render_json,
    render_markdown,
    repo_outputs,
    stale_files,
    write,
)
from .runs import _cli_command, _in_memory, _method_facts, _provenance, _run_id, collect, collect_run

__all__ = ["PRIMARY", "Leaderboard", "collect", "collect_run", "save_reference", "load_reference",
           "render_markdown", "render_json", "methods_without_rows", "write", "stale_files", "cmd_leaderboard",
           "reference_dir", "repo_outputs"]
