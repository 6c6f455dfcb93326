"""Reliability of per-gene confidence scores: are the genes a method trusts the ones it got right?

For methods that return a confidence score per predicted gene (stImpute's reliability MLP),
the gene-level CSS of the most confident half of the genes is compared with the CSS of all
genes (the stImpute paper's "top 50% reliable genes"). A confidence that ranks genes well puts
the top half above the whole.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .base import Metric


def top_fraction(values: pd.Series, confidence: pd.Series, fraction: float = 0.5) -> pd.Series:
    """The ``values`` (per gene) of the ``fraction`` most confident genes (at least one gene).

    Ties in confidence are broken by gene order, so the choice is deterministic.
    """
    conf = confidence.loc[values.index]
    n = max(1, int(np.floor(fraction * len(values))))
    order = np.argsort(-conf.to_numpy(), kind="stable")[:n]
    return values.iloc[order]


RELIABILITY_METRICS = [
    Metric(
        "css_top50_reliable", "gene", True, (-1.0, 1.0), 1.0,
        "Gene-level CSS over the 50% of genes with the highest confidence score (methods with confidence only); "
        "compare with gene-level CSS over all genes.",
    ),
]
