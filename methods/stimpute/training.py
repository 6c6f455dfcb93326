"""stImpute's training procedures: autoencoder, neighbours, GNN, EM refinement, reliability.

Everything works on float32 tensors and processes spatial cells in batches, so memory grows
linearly with the number of cells; there are no per-cell Python loops.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .module import AutoEncoder, GeneGNN, ReliabilityMLP, SparseGeneGraph, dense_mean_adjacency


def seed_everything(seed: int) -> torch.Generator:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    return torch.Generator().manual_seed(seed)


def _batches(n: int, size: int | None, generator: torch.Generator | None = None):
    """Index batches over ``n`` items; shuffled when a generator is given; one batch if ``size`` is None."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    size = n if size is None else max(1, size)
    for start in range(0, n, size):
        yield order[start:start + size]


# -- autoencoder -------------------------------------------------------------------------

def train_autoencoder(ae: AutoEncoder, opt: torch.optim.Optimizer, x: torch.Tensor, epochs: int, batch_size: int,
                      gen: torch.Generator) -> list[float]:
    """Minimise the reconstruction MSE of the spatial training genes (Eq. 3)."""
    ae.train()
    losses = []
    for _ in range(epochs):
        total = 0.0
        for idx in _batches(x.shape[0], batch_size, gen):
            xb = x[idx.to(x.device)]
            _, rec = ae(xb)
            loss = F.mse_loss(rec, xb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / x.shape[0])
    return losses


def refine_autoencoder(ae: AutoEncoder, opt: torch.optim.Optimizer, x: torch.Tensor, gnn_pred: torch.Tensor,
                       epochs: int, batch_size: int | None, gen: torch.Generator) -> list[float]:
    """Eq. 11: with the GNN fixed, fit the average of reconstruction and GNN output to the data.

    ``batch_size=None`` takes full-batch steps (the authors' code: 10 of them); otherwise each
    epoch is a pass over shuffled mini-batches (bounded memory for large data).
    """
    ae.train()
    losses = []
    for _ in range(epochs):
        total = 0.0
        for idx in _batches(x.shape[0], batch_size, gen if batch_size is not None else None):
            idx = idx.to(x.device)
            _, rec = ae(x[idx])
            loss = F.mse_loss((rec + gnn_pred[idx]) / 2.0, x[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / x.shape[0])
    return losses


@torch.no_grad()
def encode(ae: AutoEncoder, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    ae.eval()
    return torch.cat([ae.encode(x[idx.to(x.device)]) for idx in _batches(x.shape[0], batch_size)])


@torch.no_grad()
def knn_cosine(query: torch.Tensor, ref: torch.Tensor, k: int, batch_size: int) -> torch.Tensor:
    """Indices of the ``k`` reference rows nearest to each query row by cosine distance.

    Works in batches of queries (query batch x reference similarities), never cells x cells.
    Ties are broken by the lower reference index, so the result is deterministic.
    """
    k = min(k, ref.shape[0])
    refn = F.normalize(ref, dim=1)
    out = []
    for idx in _batches(query.shape[0], batch_size):
        sims = F.normalize(query[idx.to(query.device)], dim=1) @ refn.T
        out.append(torch.topk(sims, k, dim=1, sorted=True).indices)
    return torch.cat(out)


# -- GNN ---------------------------------------------------------------------------------

def neighbour_features(ref_expr: torch.Tensor, nbr: torch.Tensor) -> torch.Tensor:
    """cells x genes x k: the expression of each gene in each cell's k neighbours."""
    return ref_expr[nbr].permute(0, 2, 1).contiguous()


@torch.no_grad()
def aggregate_reference(ref_expr: torch.Tensor, graph) -> torch.Tensor | None:
    """``ref_expr @ adj.T``: every reference cell's expression aggregated over the gene graph.

    The GNN's first layer aggregates, for each spatial cell and gene, the neighbours' expression
    of the gene's graph neighbours: ``(adj @ feats)[b, g, j] = (ref @ adj.T)[nbr[b, j], g]``. So
    one product over the reference cells replaces one genes x genes product per spatial cell,
    and the result is gathered like the features.
    """
    if isinstance(graph, SparseGeneGraph):
        return graph.aggregate_rows(ref_expr)
    return ref_expr @ dense_mean_adjacency(graph).T


#: A batch whose cells x genes x width tensors exceed CHUNK_FROM_ELEMENTS floats is evaluated in
#: chunks of cells of at most CHUNK_ELEMENTS floats. Chunks that stay in the CPU cache make a
#: training step about twice as fast per cell as one 4,096-cell tensor (302 genes: 0.95 against
#: 2.06 ms per cell on 2 cores, docs/scaling.md); below the threshold (e.g. osmFISH's 33 genes,
#: full batch) the extra forward pass of a chunked step costs more than it saves. On a GPU there
#: is no such cache to fit, and ~70-cell chunks would only launch many small kernels: no chunks.
CHUNK_ELEMENTS = 2**20
CHUNK_FROM_ELEMENTS = 2**24


def chunk_cells(n_genes: int, width: int) -> int:
    """Cells per GNN chunk for ``n_genes`` genes and features of ``width`` (k or hidden size)."""
    return max(1, CHUNK_ELEMENTS // max(1, n_genes * width))


def _gnn_chunk(gnn: GeneGNN, ref_expr: torch.Tensor, ref_agg: torch.Tensor | None, nbr: torch.Tensor,
               graph) -> torch.Tensor:
    """The GNN on the cells given by their neighbours ``nbr`` (cells x k), as one tensor."""
    feats_agg = None if ref_agg is None else neighbour_features(ref_agg, nbr)
    return gnn(neighbour_features(ref_expr, nbr), graph, feats_agg)


def _gnn_chunks(gnn: GeneGNN, n_cells: int, n_genes: int, k: int, device: torch.device) -> list[slice]:
    width = max(k, gnn.width)
    if device.type != "cpu" or n_cells * n_genes * width <= CHUNK_FROM_ELEMENTS:
        return [slice(0, n_cells)]
    size = chunk_cells(n_genes, width)
    return [slice(s, min(s + size, n_cells)) for s in range(0, n_cells, size)]


@torch.no_grad()
def _apply_gnn(gnn: GeneGNN, ref_expr: torch.Tensor, ref_agg: torch.Tensor | None, nbr: torch.Tensor,
               graph) -> torch.Tensor:
    """The GNN's output (cells x genes) for a batch of cells, evaluated chunk by chunk, no gradient.

    Cells do not interact in the GNN (each cell's graph is its own), so chunking changes nothing
    but the cache footprint.
    """
    chunks = _gnn_chunks(gnn, nbr.shape[0], ref_expr.shape[1], nbr.shape[1], ref_expr.device)
    if len(chunks) == 1:
        return _gnn_chunk(gnn, ref_expr, ref_agg, nbr, graph)
    return torch.cat([_gnn_chunk(gnn, ref_expr, ref_agg, nbr[c], graph) for c in chunks])


def _gnn_step(gnn: GeneGNN, opt: torch.optim.Optimizer, ref_expr: torch.Tensor, ref_agg: torch.Tensor | None,
              nbr: torch.Tensor, graph, loss_fn) -> torch.Tensor:
    """One optimiser step on a batch of cells; returns the loss.

    The loss couples the batch's cells (Eq. 10's gene-wise cosines run over cells), so a batch
    larger than a chunk takes two passes with the gradient of one: the prediction without a graph,
    ``dloss/dpred`` from it, then each chunk again with ``backward(dloss/dpred[chunk])``; the
    parameter gradients add up to the whole batch's. The extra forward pass costs less than the
    cache misses of one large tensor. The GNN has no dropout or batch statistics, so both
    passes compute the same function.
    """
    chunks = _gnn_chunks(gnn, nbr.shape[0], ref_expr.shape[1], nbr.shape[1], ref_expr.device)
    opt.zero_grad()
    if len(chunks) == 1:
        loss = loss_fn(_gnn_chunk(gnn, ref_expr, ref_agg, nbr, graph))
        loss.backward()
    else:
        pred = _apply_gnn(gnn, ref_expr, ref_agg, nbr, graph).requires_grad_(True)
        loss = loss_fn(pred)
        (grad,) = torch.autograd.grad(loss, pred)
        for c in chunks:
            _gnn_chunk(gnn, ref_expr, ref_agg, nbr[c], graph).backward(grad[c])
    opt.step()
    return loss.detach()


def similarity_loss(pred: torch.Tensor, obs: torch.Tensor, centering: str = "global") -> torch.Tensor:
    """Eq. 10: 1 - cosine of centred prediction and observation, averaged over cells and genes."""
    if centering == "global":
        pc, oc = pred - pred.mean(), obs - obs.mean()
        pr, orow = pc, oc
    else:
        pr, orow = pred - pred.mean(dim=1, keepdim=True), obs - obs.mean(dim=1, keepdim=True)
        pc, oc = pred - pred.mean(dim=0, keepdim=True), obs - obs.mean(dim=0, keepdim=True)
    cell = 1.0 - F.cosine_similarity(pr, orow, dim=1, eps=1e-8).mean()
    gene = 1.0 - F.cosine_similarity(pc, oc, dim=0, eps=1e-8).mean()
    return cell + gene


def train_gnn(gnn: GeneGNN, opt: torch.optim.Optimizer, ref_train: torch.Tensor, nbr: torch.Tensor,
              y: torch.Tensor, graph: "torch.Tensor | SparseGeneGraph", *, epochs: int, batch_size: int | None,
              sim_weight: float, rec_weight: float, centering: str, gen: torch.Generator) -> list[float]:
    """Fit the GNN to the spatial training genes from the cells' neighbours (Eq. 10)."""
    gnn.train()
    ref_agg = aggregate_reference(ref_train, graph)
    losses = []
    for _ in range(epochs):
        total = 0.0
        for idx in _batches(y.shape[0], batch_size, gen if batch_size is not None else None):
            idx = idx.to(y.device)
            obs = y[idx]

            def loss_fn(pred: torch.Tensor, obs: torch.Tensor = obs) -> torch.Tensor:
                loss = torch.zeros((), device=obs.device)
                if rec_weight:
                    loss = loss + rec_weight * F.mse_loss(pred, obs)
                if sim_weight:
                    loss = loss + sim_weight * similarity_loss(pred, obs, centering)
                return loss

            loss = _gnn_step(gnn, opt, ref_train, ref_agg, nbr[idx], graph, loss_fn)
            total += float(loss) * len(idx)
        losses.append(total / y.shape[0])
    return losses


@torch.no_grad()
def predict_gnn(gnn: GeneGNN, ref_expr: torch.Tensor, nbr: torch.Tensor, graph: "torch.Tensor | SparseGeneGraph",
                batch_size: int) -> torch.Tensor:
    """The GNN's output for every cell of ``nbr``, written batch by batch into one float32 matrix."""
    gnn.eval()
    ref_agg = aggregate_reference(ref_expr, graph)
    out = torch.empty((nbr.shape[0], ref_expr.shape[1]), dtype=torch.float32, device=ref_expr.device)
    for idx in _batches(nbr.shape[0], batch_size):
        idx = idx.to(nbr.device)
        out[idx] = _apply_gnn(gnn, ref_expr, ref_agg, nbr[idx], graph)
    return out


@torch.no_grad()
def predict_final(gnn: GeneGNN | None, ref_expr: torch.Tensor, nbr: torch.Tensor, graph, alpha: float,
                  batch_size: int, obs: torch.Tensor, target_idx: torch.Tensor, reliability_cells: torch.Tensor):
    """Eq. 12 for every cell, batch by batch, keeping only what is used afterwards.

    The full cells x genes prediction is never held: per batch, ``alpha * GNN + (1 - alpha) *
    neighbour mean`` is computed for all genes, its target columns are stored, the per-gene sums
    for the training genes' CSS against ``obs`` (the first ``obs.shape[1]`` genes) are
    accumulated, and the rows of ``reliability_cells`` (sorted cell indices) are kept.

    Returns
    -------
    targets (cells x target genes), training-gene CSS (one per training gene),
    predicted expression of ``reliability_cells`` (cells x all genes)
    """
    if gnn is not None:
        gnn.eval()
    n_train = obs.shape[1]
    ref_agg = aggregate_reference(ref_expr, graph) if gnn is not None else None
    device = ref_expr.device
    targets = torch.empty((nbr.shape[0], len(target_idx)), dtype=torch.float32, device=device)
    dot = torch.zeros(n_train, dtype=torch.float64, device=device)
    pp = torch.zeros(n_train, dtype=torch.float64, device=device)
    oo = torch.zeros(n_train, dtype=torch.float64, device=device)
    keep = torch.empty((len(reliability_cells), ref_expr.shape[1]), dtype=torch.float32, device=device)
    rel = reliability_cells.to(device)
    for idx in _batches(nbr.shape[0], batch_size):
        idx = idx.to(nbr.device)
        nb = nbr[idx]
        final = ref_expr[nb].mean(dim=1)
        if gnn is not None:
            final = alpha * _apply_gnn(gnn, ref_expr, ref_agg, nb, graph) + (1.0 - alpha) * final
        targets[idx] = final[:, target_idx]
        tp, to = final[:, :n_train].double(), obs[idx].double()
        dot += (tp * to).sum(0)
        pp += (tp * tp).sum(0)
        oo += (to * to).sum(0)
        lo, hi = int(idx[0]), int(idx[-1]) + 1  # batches are contiguous ranges (no shuffling here)
        sel = (rel >= lo) & (rel < hi)
        if sel.any():
            keep[sel] = final[rel[sel] - lo]
    css = (dot / torch.sqrt(pp * oo).clamp(min=1e-12)).float()
    return targets, css, keep


@torch.no_grad()
def neighbour_mean(ref_expr: torch.Tensor, nbr: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Eq. 12's second term: the plain mean of the k neighbours' expression."""
    return torch.cat([ref_expr[nbr[idx.to(nbr.device)]].mean(dim=1) for idx in _batches(nbr.shape[0], batch_size)])


# -- reliability -------------------------------------------------------------------------

def gene_css(pred: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
    """Cosine similarity per gene (column) between prediction and observation."""
    return F.cosine_similarity(pred, obs, dim=0, eps=1e-12)


def reliability_scores(train_pred: torch.Tensor, train_obs: torch.Tensor, target_pred: torch.Tensor, *,
                       hidden: tuple[int, ...], epochs: int, folds: int, max_cells: int, lr: float,
                       gen: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Eq. 13: an MLP from a gene's predicted values over cells to its CSS, trained on training genes.

    An ensemble of ``folds`` MLPs, each trained on the other folds' training genes, scores the
    target genes (mean of the ensemble) and, out of fold, the training genes themselves.

    Returns
    -------
    target_scores, training_scores_out_of_fold
    """
    n_cells, n_train = train_pred.shape
    cells = reliability_cells(n_cells, max_cells, gen).to(train_pred.device)
    x_train = train_pred[cells].T.contiguous()
    x_target = target_pred[cells].T.contiguous()
    y = gene_css(train_pred, train_obs)
    return reliability_from_parts(x_train, x_target, y, hidden=hidden, epochs=epochs, folds=folds, lr=lr, gen=gen)


def reliability_cells(n_cells: int, max_cells: int, gen: torch.Generator) -> torch.Tensor:
    """The cells whose predicted values are the reliability MLP's input: all, or a fixed seeded subset."""
    if n_cells > max_cells:
        return torch.sort(torch.randperm(n_cells, generator=gen)[:max_cells]).values
    return torch.arange(n_cells)


def reliability_from_parts(x_train: torch.Tensor, x_target: torch.Tensor, y: torch.Tensor, *,
                           hidden: tuple[int, ...], epochs: int, folds: int, lr: float,
                           gen: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
    """:func:`reliability_scores` from its inputs: genes x cells predictions of the training and
    target genes (over the reliability cells) and the training genes' CSS ``y``."""
    n_train = x_train.shape[0]
    folds = max(2, min(folds, n_train))
    assign = torch.randperm(n_train, generator=gen) % folds
    target_scores = torch.zeros(x_target.shape[0], device=x_target.device)
    oof = torch.zeros(n_train, device=x_train.device)
    for f in range(folds):
        fit, held = (assign != f).to(x_train.device), (assign == f).to(x_train.device)
        mlp = ReliabilityMLP(x_train.shape[1], hidden).to(x_train.device)
        opt = torch.optim.Adam(mlp.parameters(), lr=lr)
        mlp.train()
        for _ in range(epochs):
            loss = F.mse_loss(mlp(x_train[fit]), y[fit])
            opt.zero_grad()
            loss.backward()
            opt.step()
        mlp.eval()
        with torch.no_grad():
            target_scores += mlp(x_target) / folds
            oof[held] = mlp(x_train[held])
    # a CSS lies in [-1, 1]; so does its prediction
    return (target_scores.clamp(-1, 1).cpu().numpy().astype(np.float64),
            oof.clamp(-1, 1).cpu().numpy().astype(np.float64))
