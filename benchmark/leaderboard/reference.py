"""The stored reference in ``leaderboard/reference/``: small aggregated tables the repository carries.

One CSV per dataset (one row per method, :data:`~.model.ROW_COLUMNS`), ``reference.json`` with
each run's provenance and the datasets' facts, and per-gene values under ``genes/``
(benchmark/overall.py); never raw data or caches. The committed ``LEADERBOARD.md`` and
``leaderboard/leaderboard.json`` are rendered from it (:mod:`.render`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .. import overall
from ..config import repo_root
from ..errors import InputError
from .model import METRIC_COLUMNS, _STR_COLUMNS, Leaderboard, _normalise

REFERENCE_FILE = "reference.json"
#: Why a method has no row on a dataset (method -> dataset -> reason), kept by hand beside the tables:
#: imports never write it, so a reason stays until a row replaces it (the row then wins).
NOT_RUN_FILE = "not_run.json"


def reference_dir() -> Path:
    """Where the committed reference results live."""
    return repo_root() / "leaderboard" / "reference"


def save_reference(lb: Leaderboard, directory: Path | None = None) -> list[Path]:
    """Write ``<dataset>.csv`` per dataset and ``reference.json``; remove CSVs of datasets no longer present.

    Parameters
    ----------
    lb
        The leaderboard to store.
    directory
        The reference folder (default: :func:`reference_dir`).

    Returns
    -------
    list of Path
        Every file written, the per-gene files included.
    """
    directory = Path(directory) if directory else reference_dir()
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in lb.tables.items():
        path = directory / f"{name}.csv"
        _normalise(table).to_csv(path, index=False, lineterminator="\n")
        written.append(path)
    for old in directory.glob("*.csv"):
        if old.stem not in lb.tables:
            old.unlink()
    meta = directory / REFERENCE_FILE
    meta.write_text(json.dumps({"runs": lb.runs, "datasets": lb.datasets}, indent=2, sort_keys=True) + "\n")
    written.append(meta)
    return written + overall.save_genes(overall.merge_genes(lb.tables, lb.genes), directory)


def load_reference(directory: Path | None = None) -> Leaderboard:
    """Read the reference written by :func:`save_reference`.

    Parameters
    ----------
    directory
        The reference folder (default: :func:`reference_dir`).

    Returns
    -------
    Leaderboard
        The stored tables, runs, dataset facts and per-gene values.

    Raises
    ------
    InputError
        If the folder has no ``reference.json``, or a table refers to a run it does not describe.
    """
    directory = Path(directory) if directory else reference_dir()
    meta_file = directory / REFERENCE_FILE
    if not meta_file.is_file():
        raise InputError(f"no reference results in {directory} (missing {REFERENCE_FILE}); import a run with "
                         "`python -m benchmark leaderboard RUN_DIR --update-reference`")
    meta = json.loads(meta_file.read_text())
    tables = {}
    for path in sorted(directory.glob("*.csv")):
        tables[path.stem] = _normalise(pd.read_csv(path, dtype={c: str for c in _STR_COLUMNS}, keep_default_na=False,
                                                   na_values={c: ["", "nan", "NaN"] for c in METRIC_COLUMNS}))
    missing = sorted({r for t in tables.values() for r in t["run"]} - set(meta.get("runs", {})))
    if missing:
        raise InputError(f"reference tables in {directory} refer to runs missing from {REFERENCE_FILE}: {missing}")
    not_run = _read_not_run(directory / NOT_RUN_FILE)
    return Leaderboard(tables, meta.get("runs", {}), meta.get("datasets", {}),
                       overall.merge_genes(tables, overall.load_genes(directory)), not_run)


def _read_not_run(path: Path) -> dict[str, dict[str, str]]:
    """``not_run.json`` (method -> dataset -> reason), or nothing where the file is absent."""
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    ok = isinstance(data, dict) and all(
        isinstance(per, dict) and all(isinstance(why, str) and why.strip() for why in per.values())
        for per in data.values())
    if not ok:
        raise InputError(f"{path} must map method -> dataset -> a reason (non-empty text)")
    return data
