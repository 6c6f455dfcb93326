"""stImpute's ablations and variants, registered as methods so the harness runs them side by side.

Each is stImpute with some parameters changed; any of them can still be overridden with
``--method-param NAME.PARAM=VALUE`` (e.g. ``stimpute.k=20`` for sensitivity sweeps). They are
not part of a default run: name them with ``--methods``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from .. import register
from .method import StImpute


class _Ablation(StImpute):
    overrides: ClassVar[dict[str, Any]] = {}

    def __init__(self, **params: Any):
        super().__init__(**{**self.overrides, **params})


def _ablation(name: str, summary: str, **overrides: Any) -> type[StImpute]:
    info = dataclasses.replace(StImpute.info, name=name, summary=summary, variant_of="stimpute")
    cls = type(name.replace("-", "_"), (_Ablation,), {"info": info, "overrides": overrides, "__doc__": summary,
                                                        "__module__": __name__})
    return register(cls)


NoGNN = _ablation("stimpute-no-gnn", "stImpute ablation: no GNN, prediction = mean of the k latent-space neighbours.",
                  use_gnn=False)
NoESM = _ablation("stimpute-no-esm", "stImpute ablation: expression-only gene graph (no protein embeddings).",
                  use_embeddings=False)
NoSimLoss = _ablation("stimpute-no-sim-loss", "stImpute ablation: no similarity loss (MSE only).", sim_weight=0.0)
NoRecLoss = _ablation("stimpute-no-rec-loss", "stImpute ablation: no MSE loss (similarity loss only).",
                      rec_weight=0.0)
SingleRound = _ablation("stimpute-single-round", "stImpute ablation: one round, no iterative AE refinement.",
                        rounds=1)
CodeGraph = _ablation("stimpute-code-graph",
                      "stImpute variant: gene graph weighted by cosine distance, as the authors' code does.",
                      edge_weighting="distance")
