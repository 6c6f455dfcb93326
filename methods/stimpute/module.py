"""stImpute's torch networks: autoencoder, gene GNN (GraphSAGE + MLP head), reliability MLP."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.nn import DenseSAGEConv


def mlp(n_in: int, hidden: tuple[int, ...], n_out: int = 1) -> nn.Sequential:
    """Linear layers with ReLU between them: ``n_in -> hidden... -> n_out``."""
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(n_in, h), nn.ReLU()]
        n_in = h
    layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


class AutoEncoder(nn.Module):
    """One-layer encoder and mirrored decoder with ReLU (paper Eq. 1-3)."""

    def __init__(self, n_genes: int, latent_dim: int = 100):
        super().__init__()
        self.encoder = nn.Linear(n_genes, latent_dim)
        self.decoder = nn.Linear(latent_dim, n_genes)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.encoder(x))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encode(x)
        return z, F.relu(self.decoder(z))


class SparseGeneGraph:
    """A sparsified gene graph (``graph_top_m``), aggregated as one sparse x dense product.

    Every cell of a batch shares the graph, so the genes x genes sparse matrix multiplies the
    batch's features laid out as genes x (cells * width): the work is edges x cells x width,
    against genes^2 x cells x width for the dense graph. (Replaces a block-diagonal graph of one
    copy per cell under PyG's ``SAGEConv``, which was 2.5 times slower than the dense graph at
    250 genes, measured 2026-12-05.) Holds the row-normalised weights, as the dense path uses.
    """

    def __init__(self, weights: torch.Tensor):
        self.n_genes = weights.shape[0]
        self.adj = dense_mean_adjacency(weights).to_sparse_coo().coalesce()

    def aggregate(self, h: torch.Tensor) -> torch.Tensor:
        """``adj @ h`` for ``h`` of cells x genes x width."""
        b, g, f = h.shape
        x = h.transpose(0, 1).reshape(g, b * f)
        return torch.sparse.mm(self.adj, x).reshape(g, b, f).transpose(0, 1)

    def aggregate_rows(self, x: torch.Tensor) -> torch.Tensor:
        """``x @ adj.T`` for ``x`` of cells x genes (each row aggregated over the graph)."""
        return torch.sparse.mm(self.adj, x.T).T


def aggregate(graph: "torch.Tensor | SparseGeneGraph", h: torch.Tensor) -> torch.Tensor:
    """The weighted mean over each gene's graph neighbours, for cells x genes x width ``h``."""
    if isinstance(graph, SparseGeneGraph):
        return graph.aggregate(h)
    return torch.matmul(dense_mean_adjacency(graph), h)


class GeneGNN(nn.Module):
    """Predicts a spatial cell's expression of each gene from its k reference neighbours.

    Node ``v`` (a gene) of a cell's graph has as features the expression of ``v`` in the
    cell's k nearest reference cells (a k-vector, nearest first). GraphSAGE layers with the
    mean aggregator (Eq. 7-8; ReLU, then L2 normalisation as in GraphSAGE) mix each gene with
    its graph neighbours; an MLP head gives one value per gene (Eq. 9).

    The layers are ``torch_geometric.nn.DenseSAGEConv``, PyG's batched form of ``SAGEConv``
    (out = lin_rel(mean over neighbours) + lin_root(node)): all cells of a batch share the graph.
    The neighbour mean is a dense matrix product for the paper's dense graph, or a sparse one
    for a sparsified graph (:class:`SparseGeneGraph`); the parameters are the same either way.
    """

    def __init__(self, k: int, hidden: int = 50, layers: int = 2, mlp_hidden: tuple[int, ...] = (64, 32),
                 output_activation: str = "none"):
        super().__init__()
        dims = [k] + [hidden] * layers
        self.width = max(dims)
        self.convs = nn.ModuleList(DenseSAGEConv(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.head = mlp(hidden, mlp_hidden)
        self.output_activation = output_activation

    def forward(self, feats: torch.Tensor, graph: "torch.Tensor | SparseGeneGraph",
                feats_agg: torch.Tensor | None = None) -> torch.Tensor:
        """``feats``: cells x genes x k neighbour expression; ``graph``: the genes x genes weights
        (dense) or a :class:`SparseGeneGraph`. Returns cells x genes.

        ``feats_agg`` is the first layer's neighbour aggregation ``adj @ feats``, when the caller
        computed it once for all cells (see
        :func:`~benchmark.methods.stimpute.training.aggregate_reference`): the first layer's input
        is expression of reference cells, so aggregating the reference once replaces a genes x
        genes product per spatial cell by a gather.
        """
        b, g, _ = feats.shape
        # DenseSAGEConv's computation (out = lin_rel(adj @ x / deg) + lin_root(x)), written out so
        # the shared genes x genes matrix is used as 2-D (no batch copy of it) and so the first
        # layer can take its precomputed aggregation; tests check it against DenseSAGEConv.
        h = feats
        for i, conv in enumerate(self.convs):
            agg = feats_agg if (i == 0 and feats_agg is not None) else aggregate(graph, h)
            h = F.normalize(F.relu(conv.lin_rel(agg) + conv.lin_root(h)), p=2.0, dim=-1)
        out = self.head(h).reshape(b, g)
        return F.relu(out) if self.output_activation == "relu" else out


def dense_mean_adjacency(graph: torch.Tensor) -> torch.Tensor:
    """The aggregation matrix DenseSAGEConv applies: rows divided by their sum (at least 1)."""
    return graph / graph.sum(dim=-1, keepdim=True).clamp(min=1)


class ReliabilityMLP(nn.Module):
    """Maps a gene's predicted values over spatial cells to its expected CSS (paper Eq. 13)."""

    def __init__(self, n_inputs: int, hidden: tuple[int, ...] = (512, 256)):
        super().__init__()
        self.net = mlp(n_inputs, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)
