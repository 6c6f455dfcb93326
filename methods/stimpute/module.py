"""stImpute's torch networks: autoencoder, gene GNN (GraphSAGE + MLP head), reliability MLP."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.nn import DenseSAGEConv, SAGEConv


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


class BatchedGeneGraph:
    """The gene graph repeated for a batch of cells, as one block-diagonal sparse adjacency.

    This is how PyG batches graphs: cell ``b``'s copy of gene ``g`` is node ``b * G + g``. The
    adjacency holds the row-normalised weights, so a ``sum`` aggregation is the weighted mean
    aggregator of the paper (Eq. 7). Built once per batch size.
    """

    def __init__(self, weights: torch.Tensor):
        self.weights = weights
        self.n_genes = weights.shape[0]
        nz = weights.nonzero(as_tuple=False)
        self._rows, self._cols = nz[:, 0], nz[:, 1]
        self._vals = weights[self._rows, self._cols]
        self._cache: dict[int, torch.Tensor] = {}

    def for_batch(self, n_cells: int) -> torch.Tensor:
        if n_cells not in self._cache:
            if len(self._cache) > 4:
                self._cache.clear()
            g = self.n_genes
            offsets = (torch.arange(n_cells, device=self.weights.device) * g).repeat_interleave(len(self._rows))
            rows = self._rows.repeat(n_cells) + offsets
            cols = self._cols.repeat(n_cells) + offsets
            vals = self._vals.repeat(n_cells)
            adj = torch.sparse_coo_tensor(torch.stack([rows, cols]), vals, (n_cells * g, n_cells * g),
                                          check_invariants=False)
            self._cache[n_cells] = adj.coalesce().to_sparse_csr()
        return self._cache[n_cells]


class GeneGNN(nn.Module):
    """Predicts a spatial cell's expression of each gene from its k reference neighbours.

    Node ``v`` (a gene) of a cell's graph has as features the expression of ``v`` in the
    cell's k nearest reference cells (a k-vector, nearest first). GraphSAGE layers with the
    mean aggregator (Eq. 7-8; ReLU, then L2 normalisation as in GraphSAGE) mix each gene with
    its graph neighbours; an MLP head gives one value per gene (Eq. 9).

    With a dense gene graph (the paper's) the layers are ``torch_geometric.nn.DenseSAGEConv``,
    PyG's batched form of ``SAGEConv``: one matrix product per layer for a whole batch of
    cells sharing the graph. With a sparsified graph (``graph_top_m``) they are ``SAGEConv``
    over the block-diagonal batch graph. Both aggregate with the row-normalised edge weights,
    i.e. a weighted mean over each gene's neighbours.
    """

    def __init__(self, k: int, hidden: int = 50, layers: int = 2, mlp_hidden: tuple[int, ...] = (64, 32),
                 output_activation: str = "none", sparse: bool = False):
        super().__init__()
        dims = [k] + [hidden] * layers
        self.width = max(dims)
        self.sparse = sparse
        if sparse:  # aggr="sum" over row-normalised weights = weighted mean
            self.convs = nn.ModuleList(SAGEConv(a, b, aggr="sum") for a, b in zip(dims[:-1], dims[1:]))
        else:
            self.convs = nn.ModuleList(DenseSAGEConv(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.head = mlp(hidden, mlp_hidden)
        self.output_activation = output_activation

    def forward(self, feats: torch.Tensor, graph: "torch.Tensor | BatchedGeneGraph",
                feats_agg: torch.Tensor | None = None) -> torch.Tensor:
        """``feats``: cells x genes x k neighbour expression; ``graph``: the genes x genes weights
        (dense) or a :class:`BatchedGeneGraph` (sparse). Returns cells x genes.

        ``feats_agg`` (dense graph only) is the first layer's neighbour aggregation
        ``adj @ feats``, when the caller computed it once for all cells (see
        :func:`~benchmark.methods.stimpute.training.aggregate_reference`): the first layer's input
        is expression of reference cells, so aggregating the reference once replaces a genes x
        genes product per spatial cell by a gather.
        """
        b, g, k = feats.shape
        if self.sparse:
            h = feats.reshape(b * g, k)
            adj = graph.for_batch(b)
            for conv in self.convs:
                h = F.normalize(F.relu(conv(h, adj)), p=2.0, dim=-1)
        else:
            # DenseSAGEConv's computation (out = lin_rel(adj @ x / deg) + lin_root(x)), written out so
            # the shared genes x genes matrix is used as 2-D (no batch copy of it) and so the first
            # layer can take its precomputed aggregation; tests check it against DenseSAGEConv.
            adj = dense_mean_adjacency(graph)
            h = feats
            for i, conv in enumerate(self.convs):
                agg = feats_agg if (i == 0 and feats_agg is not None) else torch.matmul(adj, h)
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
