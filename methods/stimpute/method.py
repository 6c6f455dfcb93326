"""The user-facing stImpute method under the common interface."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp

from benchmark.errors import InputError
from benchmark.task import ImputationTask, Prediction

from .. import register
from ..base import Method, MethodInfo
from .params import StImputeParams

PAPER = "https://doi.org/10.1038/s42003-024-06964-2"
CODE = "https://github.com/cquzys/stImpute"


def _dense32(x) -> np.ndarray:
    return (x.toarray() if sp.issparse(x) else np.asarray(x)).astype(np.float32, copy=False)


def _device(requested: str):
    import torch

    if requested in ("cuda", "auto") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


@register
class StImpute(Method):
    """stImpute (Zeng et al., Commun. Biol. 7:1271, 2024), implemented in this repository.

    1. An autoencoder on the spatial training genes embeds spatial and reference cells; each
       spatial cell gets its k nearest reference cells by cosine distance in latent space.
    2. A gene graph joins genes by the cosine similarity of their protein (ESM-2) embeddings,
       or of their reference expression where a gene has no embedding.
    3. A GraphSAGE network over that graph predicts each gene of a spatial cell from the gene's
       expression in the cell's k neighbours; it is trained on the training genes with MSE plus
       a cell- and gene-wise similarity loss. The autoencoder is then refined against the
       GNN's output and neighbours recomputed, for 2 rounds.
    4. The prediction is ``alpha * GNN + (1 - alpha) * neighbour mean``; a post-hoc MLP scores
       each predicted gene's reliability (its expected CSS).

    Deviations from the paper are listed in ``docs/stimpute.md``.
    """

    info = MethodInfo(
        name="stimpute",
        summary="stImpute: autoencoder kNN + protein-embedding gene graph GraphSAGE, with reliability scores.",
        paper_url=PAPER,
        code_url=CODE,
        package=None,
        preprocessing="spage",
        returns_confidence=True,
        requires=("torch", "torch_geometric"),
        install_hint="pip install -c constraints.txt torch torch-geometric",
        quick_note="--quick divides every epoch count by 5",
        preload=("torch", "torch_geometric.nn", "benchmark.methods.stimpute.training"),
    )

    Params = StImputeParams
    # the paper's sensitivity analysis: neighbours k and the GNN weight alpha (None: the size preset's value)
    search_space = {"alpha": (None, 0.3, 0.5, 0.9), "k": (None, 20, 100)}

    def fit_predict(self, task: ImputationTask) -> Prediction:
        import torch

        from .graph import adjacency, gene_similarity, validate_embeddings
        from .module import AutoEncoder, GeneGNN, SparseGeneGraph
        from .training import (
            encode,
            knn_cosine,
            predict_final,
            predict_gnn,
            refine_autoencoder,
            reliability_cells,
            reliability_from_parts,
            seed_everything,
            train_autoencoder,
            train_gnn,
        )

        train = list(task.spatial.var_names)
        targets = list(task.target_genes)
        p = self.params.resolved(task.n_cells, task.quick, n_genes=len(train) + len(targets))
        ref_genes = set(task.reference.var_names)
        absent = [g for g in train + targets if g not in ref_genes]
        if absent:
            raise InputError(f"stImpute: genes absent from the reference: {absent[:5]}")
        genes = task.genes
        n_train = len(train)

        device = _device(task.device)
        gen = seed_everything(task.seed)
        timings: dict[str, float] = {}
        t0 = time.perf_counter()

        x_sp = torch.from_numpy(_dense32(task.spatial.X)).to(device)
        ref_all = torch.from_numpy(_dense32(task.reference[:, genes].X)).to(device)
        ref_train = ref_all[:, :n_train]

        # Gene graph over training + target genes; the training graph is its restriction.
        emb = None
        if p.use_embeddings and task.gene_embeddings is not None:
            emb = validate_embeddings(task.gene_embeddings)
        sim, has_emb = gene_similarity(genes, ref_all.cpu().numpy(), emb)
        adj_all = adjacency(sim, p.edge_weighting, p.graph_top_m)
        adj_train = adjacency(sim[:n_train, :n_train], p.edge_weighting, p.graph_top_m)
        sparse = p.graph_top_m is not None
        graph_all, graph_train = (
            SparseGeneGraph(w) if sparse else w
            for w in (torch.from_numpy(a.astype(np.float32)).to(device) for a in (adj_all, adj_train))
        )
        timings["graph_s"] = time.perf_counter() - t0

        # Training cells: all, or a seeded subset (``train_cells``) that every training step uses;
        # neighbours and the prediction (Eq. 12) are computed for every cell either way.
        n_cells = x_sp.shape[0]
        subset = None
        if p.train_cells and p.train_cells < n_cells:  # 0: all cells
            subset = torch.sort(torch.randperm(n_cells, generator=gen)[:p.train_cells]).values.to(device)
        x_fit = x_sp if subset is None else x_sp[subset]

        # 1. Autoencoder on the spatial training genes.
        ae = AutoEncoder(n_train, p.latent_dim).to(device)
        ae_opt = torch.optim.Adam(ae.parameters(), lr=p.ae_lr, weight_decay=p.ae_weight_decay)
        ae_losses = train_autoencoder(ae, ae_opt, x_fit, p.ae_epochs, p.ae_batch_size, gen)
        timings["autoencoder_s"] = time.perf_counter() - t0 - sum(timings.values())

        def neighbours(x):
            z_sp = encode(ae, x, p.predict_batch_size)
            z_ref = encode(ae, ref_train, p.predict_batch_size)
            return knn_cosine(z_sp, z_ref, p.k, p.predict_batch_size)

        gnn = None
        gnn_losses: list[list[float]] = []
        nbr = neighbours(x_fit)
        if p.use_gnn:
            gnn = GeneGNN(nbr.shape[1], p.gnn_hidden, p.gnn_layers, p.mlp_hidden, p.output_activation).to(device)
            gnn_opt = torch.optim.Adam(gnn.parameters(), lr=p.gnn_lr, weight_decay=p.gnn_weight_decay)
            for r in range(p.rounds):
                if r > 0:
                    nbr = neighbours(x_fit)
                gnn_losses.append(train_gnn(
                    gnn, gnn_opt, ref_train, nbr, x_fit, graph_train, epochs=p.gnn_epochs,
                    batch_size=p.gnn_batch_size, sim_weight=p.sim_weight, rec_weight=p.rec_weight,
                    centering=p.sim_centering, gen=gen))
                if r < p.rounds - 1:  # Eq. 11, then new neighbours in the next round
                    fixed = predict_gnn(gnn, ref_train, nbr, graph_train, p.predict_batch_size)
                    refine_autoencoder(ae, ae_opt, x_fit, fixed, p.ae_refine_epochs, p.gnn_batch_size, gen)
                    del fixed
        timings["gnn_s"] = time.perf_counter() - t0 - sum(timings.values())
        if subset is not None:  # the autoencoder is final: neighbours of every cell, as the last round's
            nbr = neighbours(x_sp)
        del x_fit

        # Eq. 12 for every gene (training genes too: the reliability model learns from them), batch
        # by batch; the cells x genes matrix is never held whole (see predict_final).
        do_reliability = p.reliability and n_train >= 2
        rel_cells = (reliability_cells(n_cells, p.reliability_max_cells, gen) if do_reliability
                     else torch.arange(0))
        idx_targets = torch.tensor([genes.index(g) for g in targets], device=device)
        pred_targets, train_css, rel_pred = predict_final(
            gnn, ref_all, nbr, graph_all, p.alpha, p.predict_batch_size, x_sp, idx_targets, rel_cells)

        confidence = None
        oof = None
        if do_reliability:
            conf, oof = reliability_from_parts(
                rel_pred[:, :n_train].T.contiguous(), rel_pred[:, idx_targets].T.contiguous(), train_css,
                hidden=p.reliability_hidden, epochs=p.reliability_epochs, folds=p.reliability_folds, lr=1e-3,
                gen=gen)
            confidence = pd.Series(conf, index=targets)
        timings["predict_s"] = time.perf_counter() - t0 - sum(timings.values())

        values = pred_targets.cpu().numpy().astype(np.float64)
        info = {
            "params": {k: v for k, v in dataclasses.asdict(p).items()},
            "device": str(device),
            "genes_with_embedding": int(has_emb.sum()),
            "genes_in_graph": len(genes),
            "train_cells": n_cells if subset is None else int(len(subset)),
            "ae_loss_first_last": [ae_losses[0], ae_losses[-1]] if ae_losses else [],
            "gnn_loss_per_round_first_last": [[r[0], r[-1]] for r in gnn_losses],
            "timings": timings,
        }
        if oof is not None:
            info["training_gene_reliability_oof"] = dict(zip(train, map(float, oof)))
        return Prediction(pd.DataFrame(values, index=task.spatial.obs_names, columns=targets), confidence, info)
