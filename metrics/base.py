"""Metric metadata: name, scope, direction and bounds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

#: Scopes a metric can have. ``cell``: one value per spatial cell, across the predicted genes.
#: ``gene``: one value per gene, across cells. ``cluster``: one value per clustering of the
#: imputed matrix. ``run``: facts about a job (time, memory). ``summary``: computed across the
#: methods of a run when the summary table is made (relative, so never per job).
SCOPES = ("cell", "gene", "cluster", "run", "summary")


@dataclass(frozen=True)
class Metric:
    """A registered metric.

    Attributes
    ----------
    name
        Short name used in results (``css``, ``mse``, ...).
    scope
        One of :data:`SCOPES`.
    higher_is_better
        Direction.
    bounds
        ``(low, high)``; ``None`` for unbounded sides.
    best
        The value a perfect prediction reaches.
    description
        Formula and conventions, for ``ls metrics`` and the docs.
    fn
        For ``cell``/``gene`` metrics: ``fn(truth, pred) -> per-item values`` with cells x genes
        arrays (per-cell values for scope ``cell``; per-gene for ``gene``).
    """

    name: str
    scope: str
    higher_is_better: bool
    bounds: tuple[float | None, float | None]
    best: float
    description: str
    fn: Callable | None = None

    @property
    def key(self) -> str:
        return f"{self.scope}/{self.name}"
