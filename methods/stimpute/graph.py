"""The gene graph of stImpute (paper Eq. 4-6).

Nodes are genes. Where both genes of a pair have a protein (ESM-2) embedding, the edge comes
from the cosine similarity of the embeddings (Eq. 4); otherwise from the cosine similarity of
the genes' expression over the reference cells (Eq. 5). Protein similarity overrides
expression similarity (Eq. 6).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from benchmark.errors import InputError


def validate_embeddings(emb: pd.DataFrame, expected_dim: int | None = None) -> pd.DataFrame:
    """Check a genes x dimensions embedding table; return it as float64.

    Raises
    ------
    InputError
        Duplicated genes, non-numeric or non-finite values, or a dimension other than
        ``expected_dim``.
    """
    if not isinstance(emb, pd.DataFrame) or emb.ndim != 2 or emb.shape[1] == 0:
        raise InputError("gene embeddings must be a genes x dimensions table with at least one column")
    dup = emb.index[emb.index.duplicated()]
    if len(dup):
        raise InputError(f"gene embedding table has duplicated genes, e.g. {list(dup.unique()[:5])}")
    if expected_dim is not None and emb.shape[1] != expected_dim:
        raise InputError(f"gene embeddings have {emb.shape[1]} dimensions, expected {expected_dim}")
    try:
        values = emb.to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("gene embedding table must be numeric") from None
    if not np.isfinite(values).all():
        raise InputError("gene embedding table contains NaN or infinite values")
    return pd.DataFrame(values, index=emb.index.astype(str), columns=emb.columns)


def cosine_similarity_matrix(x: np.ndarray) -> np.ndarray:
    """Cosine similarity between the columns of ``x`` (rows = observations). Zero columns give 0."""
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=0)
    norms[norms == 0] = 1.0
    xn = x / norms
    return np.clip(xn.T @ xn, -1.0, 1.0)


def gene_similarity(
    genes: list[str],
    reference_expression,
    embeddings: pd.DataFrame | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Similarity between ``genes``: protein where both have an embedding, expression otherwise.

    Parameters
    ----------
    genes
        Graph nodes, in order.
    reference_expression
        Reference cells x ``genes`` (preprocessed), dense or sparse.
    embeddings
        Genes x dims table, or ``None`` for the expression-only graph.

    Returns
    -------
    similarity, has_embedding
        ``len(genes) x len(genes)`` similarity, and which genes used their embedding.
    """
    x = reference_expression.toarray() if sp.issparse(reference_expression) else np.asarray(reference_expression)
    sim = cosine_similarity_matrix(x)  # Eq. 5
    has = np.zeros(len(genes), dtype=bool)
    if embeddings is not None:
        has = np.array([g in embeddings.index for g in genes])
        if has.sum() >= 2:
            idx = np.nonzero(has)[0]
            protein = cosine_similarity_matrix(embeddings.loc[[genes[i] for i in idx]].to_numpy().T)  # Eq. 4
            sim[np.ix_(idx, idx)] = protein  # Eq. 6: protein overrides expression
    return sim, has


def adjacency(similarity: np.ndarray, weighting: str = "similarity", top_m: int | None = None) -> np.ndarray:
    """Row-normalised aggregation weights from a similarity matrix.

    ``weighting="similarity"`` uses the similarity (negative values clipped to 0, paper);
    ``"distance"`` uses ``1 - similarity`` (the authors' code). Self loops are dropped (GraphSAGE
    handles the node itself separately); ``top_m`` keeps each gene's strongest edges. Each row
    sums to 1 (a weighted mean over neighbours) or to 0 for a gene without neighbours.
    """
    if weighting == "similarity":
        w = np.clip(similarity, 0.0, None)
    elif weighting == "distance":
        w = np.clip(1.0 - similarity, 0.0, None)
    else:
        raise InputError(f"edge weighting must be 'similarity' or 'distance', got {weighting!r}")
    w = w.copy()
    np.fill_diagonal(w, 0.0)
    if top_m is not None and top_m < w.shape[1] - 1:
        drop = np.argsort(-w, axis=1, kind="stable")[:, top_m:]
        np.put_along_axis(w, drop, 0.0, axis=1)
    sums = w.sum(axis=1, keepdims=True)
    sums[sums == 0] = 1.0
    return w / sums
