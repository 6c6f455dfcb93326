"""Cluster metrics: Leiden clusters of the imputed matrix against known cell-type labels.

What is clustered, exactly (every step is a parameter of :class:`ClusterParams`):

1. the imputed cells x genes matrix of all predicted genes (for 5-fold CV: every shared gene,
   each predicted while hidden), on the log-normalised scale;
2. each gene z-scored across cells (clipped at +-10), as ``scanpy.pp.scale`` does;
3. PCA to ``n_pcs`` components (at most genes - 1), seeded;
4. an undirected kNN graph, ``n_neighbors`` neighbours by Euclidean distance in PCA space
   (coordinates rounded to 6 decimals first, so that float noise cannot break ties);
5. Leiden (``leidenalg``, RBConfiguration quality, ``resolution``), seeded, iterated to convergence.

The clusters are compared with the labels of the labelled cells by ARI, FMI and Completeness
(scikit-learn).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .base import Metric, NotScored


@dataclass(frozen=True)
class ClusterParams:
    n_neighbors: int = 15
    n_pcs: int = 30
    resolution: float = 1.0
    scale: bool = True


#: Decimals kept of the (PCA) coordinates before the neighbour search; see leiden_clusters.
ROUND_DECIMALS = 6


def leiden_clusters(x, params: ClusterParams = ClusterParams(), seed: int = 0) -> np.ndarray:
    """Leiden cluster labels of the rows of ``x`` (see the module docstring for the steps)."""
    import igraph as ig
    import leidenalg
    from sklearn.decomposition import PCA
    from sklearn.neighbors import NearestNeighbors

    x = np.asarray(x, dtype=np.float64)
    n, g = x.shape
    if params.scale:
        sd = x.std(axis=0)
        sd[sd == 0] = 1.0
        x = np.clip((x - x.mean(axis=0)) / sd, -10, 10)
    n_pcs = min(params.n_pcs, g - 1, n - 1)
    if n_pcs >= 2 and np.ptp(x, axis=0).any():  # a constant matrix (the mean control) has no PCs
        x = PCA(n_components=n_pcs, random_state=seed, svd_solver="full").fit_transform(x)
    # Rounding makes the graph independent of float noise: cells with equal coordinates (the
    # osmFISH release duplicates 317 cells) tie for neighbour ranks, and without it a 1e-13
    # difference from the thread count of BLAS decided the ties and moved ARI by up to 0.02.
    if ROUND_DECIMALS is not None:
        x = np.round(x, decimals=ROUND_DECIMALS)
    k = min(params.n_neighbors, n - 1)
    _, idx = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    src = np.repeat(np.arange(n), k)
    dst = idx[:, 1:].ravel()
    edges = {(min(a, b), max(a, b)) for a, b in zip(src.tolist(), dst.tolist()) if a != b}
    graph = ig.Graph(n=n, edges=sorted(edges))
    part = leidenalg.find_partition(
        graph,
        leidenalg.RBConfigurationVertexPartition,
        resolution_parameter=params.resolution,
        seed=seed,
        n_iterations=-1,
    )
    return np.asarray(part.membership)


def _ari(labels, clusters):
    from sklearn.metrics import adjusted_rand_score

    return adjusted_rand_score(labels, clusters)


def _fmi(labels, clusters):
    from sklearn.metrics import fowlkes_mallows_score

    return fowlkes_mallows_score(labels, clusters)


def _completeness(labels, clusters):
    from sklearn.metrics import completeness_score

    return completeness_score(labels, clusters)


def _clusters(inp) -> dict[str, float] | NotScored:
    """The Leiden clustering of the prediction as returned, scored against the known labels (once
    per input, shared by ARI, FMI, completeness and the cluster count)."""
    ctx = inp.context
    if ctx is None or ctx.cluster_params is None:
        return NotScored("the run does not cluster", row=False)
    if ctx.labels is None:
        return NotScored("the dataset has no cell-type labels", row=False)
    x = inp.returned if inp.returned is not None else inp.prediction
    return inp.cached("clusters", lambda: cluster_scores(x.to_numpy(), ctx.labels.loc[x.index].to_numpy(),
                                                         ctx.cluster_params, inp.seed))


def _cluster_value(name: str):
    def compute(inp):
        scores = _clusters(inp)
        return scores if isinstance(scores, NotScored) else scores[name]
    return compute


_SKLEARN = "scikit-learn; Leiden: Traag et al. 2019, Sci. Rep. 9:5233"
_COMMON = dict(stage="assembled", space_dependent=False, reference=_SKLEARN)

CLUSTER_METRICS = [
    Metric("ari", "cluster", True, (-0.5, 1.0), 1.0,
           "Adjusted Rand index of Leiden clusters of the imputed matrix vs known labels.", _ari,
           compute=_cluster_value("ari"), label="ARI", order=14, summary=True, report=True, rank=True,
           leaderboard=7, primary=7, **_COMMON),
    Metric("fmi", "cluster", True, (0.0, 1.0), 1.0,
           "Fowlkes-Mallows index of Leiden clusters of the imputed matrix vs known labels.", _fmi,
           compute=_cluster_value("fmi"), label="FMI", order=15, summary=True, report=True, rank=True,
           leaderboard=8, **_COMMON),
    Metric("completeness", "cluster", True, (0.0, 1.0), 1.0,
           "Completeness of Leiden clusters vs known labels: 1 when each label falls in one cluster.",
           _completeness, compute=_cluster_value("completeness"), label="Completeness", order=16, summary=True,
           report=True, leaderboard=9, **_COMMON),
]

#: The number of clusters found, beside the scores (a count: no better direction).
CLUSTER_COUNT = Metric("n_clusters", "cluster", None, (1.0, None), float("nan"),
                       "Number of Leiden clusters of the imputed matrix (a count, no better direction).",
                       compute=_cluster_value("n_clusters"), label="clusters", **_COMMON)


def cluster_scores(x, labels, params: ClusterParams = ClusterParams(), seed: int = 0) -> dict[str, float]:
    """Cluster the rows of ``x`` and score the clusters against ``labels`` (NaN labels ignored)."""
    labels = pd.Series(np.asarray(labels, dtype=object))
    keep = labels.notna().to_numpy()
    clusters = leiden_clusters(np.asarray(x)[keep], params, seed)
    lab = labels[keep].astype(str).to_numpy()
    return {m.name: float(m.fn(lab, clusters)) for m in CLUSTER_METRICS} | {"n_clusters": float(len(set(clusters)))}
