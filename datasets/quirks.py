"""Repairs of source-release quirks, applied by the loaders (never to the files themselves).

Each helper does one documented thing and refuses to guess: a repair that would make two gene
names collide, or a field layout it cannot place, is an :class:`~benchmark.errors.InputError`.
Every loader that uses one keeps the source spelling or value beside the repaired one (a ``var``
column or an ``obsm`` key), so nothing of the release is lost. docs/datasets.md lists which
dataset needs which repair.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from benchmark.errors import InputError

#: Name patterns of negative-control probes of imaging panels: MERFISH/Xenium ``Blank-0001``,
#: CosMx ``NegPrb1``, Xenium ``NegControlProbe_00042`` / ``NegControlCodeword_0500``.
#: They measure background, not a gene, so they are left out of the gene cross-validation.
CONTROL_PROBE_PATTERN = re.compile(r"^(Blank[-_]\w+|NegPrb\w*|NegControl\w*)$", re.IGNORECASE)

#: A gene name a spreadsheet program turned into a date (``3/1/2018``, ``2018-03-01``, ``1-Mar``).
DATE_LIKE = re.compile(
    r"^(\d{1,2}/\d{1,2}/\d{2,4}|\d{4}-\d{2}-\d{2}|\d{1,2}-(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec))$",
    re.IGNORECASE,
)


def control_probes(genes: Iterable[str]) -> list[str]:
    """The names among ``genes`` that are negative-control probes (:data:`CONTROL_PROBE_PATTERN`)."""
    return [g for g in genes if CONTROL_PROBE_PATTERN.match(str(g))]


def _check_unique(new: Sequence[str], old: Sequence[str], what: str) -> None:
    seen: dict[str, str] = {}
    for n, o in zip(new, old):
        if n in seen:
            raise InputError(f"{what}: {seen[n]!r} and {o!r} would both become {n!r}; gene names must stay unique")
        seen[n] = o


def strip_quotes(names: Sequence[str]) -> list[str]:
    """Gene names without the literal quote characters a table export left around them.

    ``"'Tal1'"`` becomes ``"Tal1"``; names without quotes are unchanged.

    Raises
    ------
    InputError
        If two names would become the same, or a name is empty once unquoted.
    """
    out = []
    for n in names:
        s = str(n).strip()
        if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
            s = s[1:-1].strip()
        if not s:
            raise InputError(f"gene name {n!r} is empty once its quotes are removed")
        out.append(s)
    _check_unique(out, [str(n) for n in names], "removing quotes")
    return out


def mouse_symbol_case(names: Sequence[str]) -> list[str]:
    """Mouse (MGI-style) capitalisation of gene names that a source wrote all in lower case.

    MGI symbols begin with a capital letter (``Gad2``, ``Slc17a7``, ``Gm6377``): a name with no
    upper-case letter that begins with a letter gets its first letter capitalised; every other
    name is unchanged (``4930452B06Rik``, ``Gad2``). This restores the spelling other mouse data
    use, so the genes match a user's reference or an embedding table exactly. It does not fix
    misspellings (Shah et al.'s ``palvb`` stays ``Palvb``), and it is for mouse data only:
    FlyBase symbols are case-sensitive and lower case is their spelling (``eve``, ``hb``).

    Raises
    ------
    InputError
        If two names would become the same.
    """
    out = []
    for n in names:
        s = str(n)
        if s and s[0].isalpha() and s == s.lower():
            s = s[0].upper() + s[1:]
        out.append(s)
    _check_unique(out, [str(n) for n in names], "capitalising mouse gene symbols")
    return out


def fix_mangled_names(names: Sequence[str], fixes: Mapping[str, str]) -> list[str]:
    """Rename gene names a spreadsheet program turned into dates, and refuse any it does not know.

    Parameters
    ----------
    names
        Gene names as in the source.
    fixes
        Mangled name -> restored name, each documented by the loader that passes it.

    Raises
    ------
    InputError
        If a name in ``fixes`` is missing (the release changed: the fix must be reviewed), a
        date-like name has no fix (it would enter the benchmark as a gene called ``3/1/2018``),
        or a restored name collides with another gene.
    """
    names = [str(n) for n in names]
    missing = [m for m in fixes if m not in names]
    if missing:
        raise InputError(f"expected mangled gene name(s) {missing} are not in the data; the source release changed")
    out = [fixes.get(n, n) for n in names]
    unknown = [n for n in out if DATE_LIKE.match(n)]
    if unknown:
        raise InputError(f"gene name(s) {unknown} look like dates made by a spreadsheet program, and no repair is "
                         "known for them")
    _check_unique(out, names, "restoring spreadsheet-mangled gene names")
    return out


def tile_fields(coords: np.ndarray, fields: Sequence, *, gap_factor: float = 2.0) -> np.ndarray:
    """Place per-field coordinate frames side by side in one frame, with gaps between them.

    Some releases give each cell's position within its own imaging field or section, so two cells
    of different fields can have the same coordinates. Shifting each field (in order of first
    appearance) onto a near-square grid of tiles, each tile as large as the largest field plus a
    gap of ``gap_factor`` times that size, makes every distance between two cells of one field
    (at most the diagonal, sqrt(2) x the size) smaller than any distance to a cell of another
    field (at least the gap). So any nearest-neighbour structure (a method's spatial graph) stays
    within a field as long as a field has more cells than the neighbours asked for. Within a field
    the coordinates are only translated; the first two columns are tiled, further columns (depth)
    are kept and are not covered by that guarantee.

    Parameters
    ----------
    coords
        Cells x d coordinates (d >= 2), each in its field's own frame.
    fields
        The field of each cell.
    gap_factor
        Gap between tiles as a multiple of the largest field's extent; it must exceed sqrt(2)
        for the guarantee above.

    Returns
    -------
    numpy.ndarray
        float64 cells x d, every field translated to its own tile.
    """
    coords = np.asarray(coords, dtype=np.float64)
    fields = pd.Series(np.asarray(fields)).astype(str).to_numpy()
    if coords.ndim != 2 or coords.shape[1] < 2 or coords.shape[0] != len(fields):
        raise InputError(f"tile_fields needs cells x >=2 coordinates and one field per cell (got {coords.shape} and "
                         f"{len(fields)} fields)")
    if not np.isfinite(coords).all():
        raise InputError("tile_fields: coordinates contain NaN or infinite values")
    if not gap_factor > np.sqrt(2.0):
        raise InputError(f"tile_fields: gap_factor must exceed sqrt(2) (a field's diagonal), got {gap_factor}")
    order = list(dict.fromkeys(fields))
    lows, extents = {}, []
    for f in order:
        c = coords[fields == f, :2]
        lows[f] = c.min(axis=0)
        extents.append(c.max(axis=0) - c.min(axis=0))
    # one tile size for all fields: the largest extent of any field along either axis (at least 1)
    size = max(float(np.max(extents)), 1.0)
    step = size * (1.0 + gap_factor)
    n_cols = int(np.ceil(np.sqrt(len(order))))
    out = coords.copy()
    for i, f in enumerate(order):
        row, col = divmod(i, n_cols)
        mask = fields == f
        out[mask, 0] = coords[mask, 0] - lows[f][0] + col * step
        out[mask, 1] = coords[mask, 1] - lows[f][1] + row * step
    return out


#: ``obsm`` key where :func:`separate_fields` keeps each cell's position within its own field.
FIELD_COORDS_KEY = "spatial_field"


def separate_fields(spatial, field_key: str) -> None:
    """Keep per-field coordinates in ``obsm["spatial_field"]`` and put the fields side by side in
    ``obsm["spatial"]`` (:func:`tile_fields`), in place: the one way loaders handle per-field frames."""
    spatial.obsm[FIELD_COORDS_KEY] = spatial.obsm["spatial"].copy()
    spatial.obsm["spatial"] = tile_fields(spatial.obsm[FIELD_COORDS_KEY], spatial.obs[field_key].to_numpy())
