"""Quality flags: failures that look like results.

A job can finish with a prediction that passes :meth:`benchmark.task.Prediction.check` (right
shape, finite values) and still be a failure: the optimal-transport solver stopped at its
iteration limit, the training loss went NaN and the method fell back to zeros, or the
prediction is the same in every cell. Such a job is scored like any other, so without a mark it
reads as a plain result. This module is the one place that turns a checked prediction and the
facts the method reported in :attr:`Prediction.info` into a list of flags. The runner stores them
in the job record (``job.json``), the harness writes them to ``jobs.csv`` and the leaderboard
shows a flagged method's status as ``ok (flagged: ...)``.

Flags (see docs/protocol.md):

``constant_prediction``
    One or more target genes have (numerically) the same predicted value in every cell: their
    gene-level PCC is undefined and any cell-to-cell signal is absent. The detail says how many.
``not_converged``
    The method reported that a solver did not converge: ``info["converged"]`` is ``False`` (or a
    list or mapping of booleans, one per solve, with at least one ``False``). The optional
    ``info["convergence_detail"]`` (text) says what did not converge.
``nan_loss``
    The method reported a non-finite training objective: ``info["final_loss"]`` is NaN or
    infinite. ``None`` (or a missing key) means the method did not report one.

A method that raises a flag by design (the ``mean`` control is constant) declares it in
:attr:`benchmark.methods.base.MethodInfo.expected_flags`; such flags are not recorded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

CONSTANT = "constant_prediction"
NOT_CONVERGED = "not_converged"
NAN_LOSS = "nan_loss"
#: Every flag name, in the order they are reported.
FLAGS = (CONSTANT, NOT_CONVERGED, NAN_LOSS)

#: A gene counts as constant when its range across cells is at most this fraction of its largest
#: absolute value (or exactly zero for an all-zero gene). Relative, because predictions live on
#: different scales; 1e-6 sits above float32 rounding noise of a transport-weighted mean over a
#: near-uniform plan (about 1e-7 relative) and far below any cell-to-cell signal worth scoring.
CONSTANT_RTOL = 1e-6


def constant_genes(expression: pd.DataFrame | np.ndarray, rtol: float = CONSTANT_RTOL) -> np.ndarray:
    """Boolean mask over the columns (genes) of ``expression``: constant across the rows (cells).

    Parameters
    ----------
    expression
        Cells x genes, finite values (a checked prediction).
    rtol
        Largest range across cells, relative to the gene's largest absolute value, that still
        counts as constant.

    Returns
    -------
    numpy.ndarray
        One boolean per gene. With fewer than two cells every gene is constant.
    """
    values = np.asarray(expression, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"expected a cells x genes matrix, got shape {values.shape}")
    if values.shape[0] < 2:
        return np.ones(values.shape[1], dtype=bool)
    hi = values.max(axis=0)
    lo = values.min(axis=0)
    scale = np.maximum(np.abs(hi), np.abs(lo))
    return (hi - lo) <= rtol * scale


def _converged_values(value: Any) -> list[bool] | None:
    """The convergence facts in ``info["converged"]`` as a list of booleans, or ``None`` when
    the method gave none (or something that is not a boolean)."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return [bool(value)]
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, (list, tuple, np.ndarray)):
        out = [bool(v) for v in value if isinstance(v, (bool, np.bool_))]
        return out or None
    return None


def _finite_number(value: Any) -> bool | None:
    """Whether ``value`` is a finite number; ``None`` when it is not a number at all."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        # json round trips write NaN as the string "nan" only with default=str; accept both spellings
        text = str(value).strip().lower()
        return False if text in ("nan", "inf", "-inf", "infinity", "-infinity") else None


def flags(expression: pd.DataFrame | np.ndarray, info: Mapping[str, Any] | None,
          method_info: Any = None) -> list[dict[str, str]]:
    """The quality flags of one job.

    Parameters
    ----------
    expression
        The checked prediction, cells x target genes.
    info
        :attr:`Prediction.info` as the method returned it (or as read back from ``job.json``).
    method_info
        The method's :class:`~benchmark.methods.base.MethodInfo`; flags named in its
        ``expected_flags`` are left out. ``None``: nothing is expected.

    Returns
    -------
    list of dict
        ``{"flag": name, "detail": text}`` per raised flag, in the order of :data:`FLAGS`;
        empty for a clean job. Plain strings only, so the list goes into JSON and CSV as is.
    """
    info = info or {}
    expected = set(getattr(method_info, "expected_flags", ()) or ())
    out: list[dict[str, str]] = []

    const = constant_genes(expression)
    if const.any() and CONSTANT not in expected:
        n = int(const.sum())
        cols = list(expression.columns) if isinstance(expression, pd.DataFrame) else []
        names = [str(cols[j]) for j in np.flatnonzero(const)[:5]] if cols else []
        more = f" ({', '.join(names)}{', ...' if n > len(names) else ''})" if names else ""
        out.append({"flag": CONSTANT,
                    "detail": f"{n} of {const.size} target genes constant across cells{more}"})

    conv = _converged_values(info.get("converged"))
    if conv is not None and not all(conv) and NOT_CONVERGED not in expected:
        detail = str(info.get("convergence_detail") or "")
        if not detail:
            detail = ("the solver reported converged=False" if len(conv) == 1
                      else f"{conv.count(False)} of {len(conv)} solves reported converged=False")
        out.append({"flag": NOT_CONVERGED, "detail": detail})

    loss = info.get("final_loss")
    if _finite_number(loss) is False and NAN_LOSS not in expected:
        out.append({"flag": NAN_LOSS, "detail": f"final training loss is {loss}"})
    return out


def names(job_flags: list[dict[str, str]] | None) -> list[str]:
    """The flag names of a job's flags, in order."""
    return [f["flag"] for f in job_flags or []]


def to_csv_fields(job_flags: list[dict[str, str]] | None) -> dict[str, str]:
    """The two ``jobs.csv`` columns of a job's flags: ``flags`` (names joined by ``;``, for
    programs) and ``flag_details`` (``name: detail`` joined by ``; ``, for people)."""
    job_flags = job_flags or []
    return {"flags": ";".join(names(job_flags)),
            "flag_details": "; ".join(f"{f['flag']}: {f['detail']}" for f in job_flags)}


def parse_csv_flags(text: Any) -> list[str]:
    """Flag names from a ``jobs.csv`` ``flags`` cell (empty, NaN or missing: none)."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return []
    return [t for t in (s.strip() for s in str(text).split(";")) if t]


def summarise(job_flag_names: list[list[str]], n_jobs: int) -> str:
    """One line for the leaderboard: ``"not_converged in 3/5 jobs; constant_prediction in 5/5 jobs"``.

    Parameters
    ----------
    job_flag_names
        For each job of a method (on one dataset), its flag names.
    n_jobs
        All jobs of that method, failed ones included (they carry no flags).

    Returns
    -------
    str
        Empty when no job was flagged.
    """
    counts = {name: sum(name in fl for fl in job_flag_names) for name in FLAGS}
    # flags this version does not know (a newer or plug-in writer) are still shown, after ours
    for fl in job_flag_names:
        for name in fl:
            counts.setdefault(name, sum(name in f for f in job_flag_names))
    return "; ".join(f"{name} in {c}/{n_jobs} jobs" for name, c in counts.items() if c)


def record_flags(record: Mapping[str, Any], expression: pd.DataFrame, method_name: str) -> list[dict[str, str]]:
    """The flags of a cached job record: those it stores, or, for a ``job.json`` written before
    flags existed, computed now from its stored prediction and info (with the method's declared
    expected flags when the method is still registered)."""
    if "flags" in record:
        return list(record["flags"] or [])
    from .methods import all_methods

    cls = all_methods(include_oracles=True).get(method_name)
    return flags(expression, record.get("info") or {}, None if cls is None else cls.info)


__all__ = ["CONSTANT", "NOT_CONVERGED", "NAN_LOSS", "FLAGS", "CONSTANT_RTOL", "constant_genes", "flags", "names",
           "to_csv_fields", "parse_csv_flags", "summarise", "record_flags"]
