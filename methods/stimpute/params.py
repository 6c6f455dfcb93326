"""stImpute's parameters: one typed object, the paper's values as defaults, two presets."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

#: Number of spatial cells from which the large-data preset applies (paper: 10,000).
LARGE_DATA_CELLS = 10_000
#: ``graph_top_m="auto"`` keeps the paper's dense gene graph up to this many genes (training +
#: target); above it, the dense neighbour mean (genes^2 x width per cell) dominates the GNN and a
#: 5,000-gene panel does not finish in 15 minutes on one CPU thread (docs/scaling.md).
DENSE_GRAPH_MAX_GENES = 1000
#: Edges kept per gene when ``"auto"`` sparsifies the graph.
AUTO_GRAPH_TOP_M = 50


@dataclass
class StImputeParams:
    """Parameters of stImpute (Zeng et al. 2024). ``None`` means "from the preset".

    The preset is chosen by the number of spatial cells: below :data:`LARGE_DATA_CELLS` the
    small-data values of the paper, otherwise the large-data values.

    Attributes
    ----------
    preset
        ``"auto"`` (by number of cells), ``"small"`` or ``"large"``.
    latent_dim
        Autoencoder latent size (paper: 100).
    ae_epochs, ae_lr, ae_weight_decay, ae_batch_size
        Autoencoder training (paper: 30 epochs, Adam, lr 0.01; weight decay and batch size from
        the authors' code: 1e-4 and 512).
    k
        Reference neighbours per spatial cell (paper: 50; large data 20, as the authors' code).
    gnn_hidden, gnn_layers
        GraphSAGE width and depth (paper: 50 and 2).
    mlp_hidden
        Hidden sizes of the MLP head after the GNN (paper: unspecified; authors' code 512, 256;
        default 64, 32, about 30 times cheaper per step; see docs/stimpute.md).
    gnn_epochs, gnn_lr, gnn_weight_decay, gnn_batch_size
        GNN training per round (paper: 10 epochs for small data, 32 otherwise, Adam lr 0.01;
        weight decay 0.01 from the authors' code). ``gnn_batch_size`` cells per step; ``None``
        trains on all cells at once (full batch, as the paper and code do for small data).
    ae_refine_epochs
        Autoencoder epochs on Eq. 11 between rounds (authors' code: 10 full-batch steps); with
        ``gnn_batch_size`` set, each epoch is a pass over mini-batches of that size.
    rounds
        Iterative (EM-style) rounds (paper: 2).
    alpha
        Weight of the GNN output in the final prediction (Eq. 12; paper: 0.7 small, 0.5 large).
    sim_weight, rec_weight
        Weights of the similarity loss and the MSE loss in Eq. 10 (paper: 1 and 1; the authors'
        code weights the similarity loss by 2).
    sim_centering
        ``"global"`` subtracts the matrix mean before the cosines of Eq. 10 (as the authors'
        code), ``"axis"`` the row or column mean (Pearson-like).
    edge_weighting
        ``"similarity"``: cosine similarity (paper Eq. 4-6, negative values clipped to 0);
        ``"distance"``: cosine distance (authors' code). Both drop self loops and row-normalise.
    graph_top_m
        Keep only each gene's ``m`` strongest edges; ``None``: the dense graph, as the paper;
        ``"auto"`` (default): dense up to :data:`DENSE_GRAPH_MAX_GENES` genes in the graph,
        :data:`AUTO_GRAPH_TOP_M` edges per gene above (the same gene PCC where both were
        measured; 4.4 times less aggregation time at 4,000 genes; docs/scaling.md).
    use_embeddings
        Use gene (protein) embeddings for the graph where available; ``False`` gives the
        expression-only graph.
    use_gnn
        ``False``: no GNN, the prediction is the neighbour mean (ablation).
    output_activation
        Activation ``delta`` of Eq. 9: ``"relu"`` or ``"none"`` (the authors' code has none).
    reliability, reliability_epochs, reliability_hidden, reliability_folds, reliability_max_cells
        The post-hoc reliability MLP (Eq. 13): trained on the training genes in
        ``reliability_folds`` folds (an ensemble), input = a gene's predicted values over at
        most ``reliability_max_cells`` spatial cells (a seeded subset beyond that).
    train_cells
        Train the autoencoder and the GNN (all rounds, and the refinement of Eq. 11) on a fixed,
        seeded subset of this many spatial cells, then compute neighbours and predictions for
        every cell. ``None``: from the preset; ``0``: train on all cells (the paper). Training cost then stops growing
        with the data set; prediction stays linear in cells. Default: off for the small preset,
        100,000 for the large one (so nothing changes up to 100,000 cells); its accuracy cost is
        measured in docs/scaling.md. ``0`` = all cells whatever the preset.
    predict_batch_size
        Spatial cells per batch at prediction time (bounds memory).
    quick_factor
        With ``--quick``, epochs are divided by this.
    """

    preset: str = "auto"
    latent_dim: int = 100
    ae_epochs: int = 30
    ae_lr: float = 0.01
    ae_weight_decay: float = 1e-4
    ae_batch_size: int = 512
    k: int | None = None
    gnn_hidden: int = 50
    gnn_layers: int = 2
    mlp_hidden: tuple[int, ...] | None = None
    gnn_epochs: int | None = None
    gnn_lr: float = 0.01
    gnn_weight_decay: float = 0.01
    gnn_batch_size: int | None = None
    ae_refine_epochs: int = 10
    rounds: int = 2
    alpha: float | None = None
    sim_weight: float = 1.0
    rec_weight: float = 1.0
    sim_centering: str = "global"
    edge_weighting: str = "similarity"
    graph_top_m: int | str | None = "auto"
    use_embeddings: bool = True
    use_gnn: bool = True
    output_activation: str = "none"
    reliability: bool = True
    reliability_epochs: int = 100
    reliability_hidden: tuple[int, ...] = (128, 64)
    reliability_folds: int = 5
    reliability_max_cells: int = 5000
    train_cells: int | None = None
    predict_batch_size: int = 4096
    quick_factor: int = 5

    def resolved(self, n_cells: int, quick: bool = False, n_genes: int | None = None) -> "StImputeParams":
        """Fill ``None`` values from the preset for ``n_cells`` spatial cells; apply ``quick``;
        resolve ``graph_top_m="auto"`` for a graph of ``n_genes`` genes (dense when unknown)."""
        preset = self.preset
        if preset == "auto":
            preset = "large" if n_cells >= LARGE_DATA_CELLS else "small"
        if preset not in PRESETS:
            raise ValueError(f"preset must be 'auto', 'small' or 'large', got {self.preset!r}")
        filled: dict[str, Any] = {
            f.name: PRESETS[preset][f.name] if getattr(self, f.name) is None and f.name in PRESETS[preset]
            else getattr(self, f.name)
            for f in fields(self)
        }
        filled["preset"] = preset
        out = replace(self, **filled)
        out.mlp_hidden = tuple(out.mlp_hidden)
        out.reliability_hidden = tuple(out.reliability_hidden)
        if out.graph_top_m == "auto":
            big = n_genes is not None and n_genes > DENSE_GRAPH_MAX_GENES
            out.graph_top_m = AUTO_GRAPH_TOP_M if big else None
        if quick:
            q = max(1, self.quick_factor)
            out.ae_epochs = max(1, out.ae_epochs // q)
            out.gnn_epochs = max(1, out.gnn_epochs // q)
            out.ae_refine_epochs = max(1, out.ae_refine_epochs // q)
            out.reliability_epochs = max(1, out.reliability_epochs // q)
        out.validate()
        return out

    def validate(self) -> None:
        checks = [
            (self.k is None or self.k >= 1, "k must be >= 1"),
            (self.alpha is None or 0.0 <= self.alpha <= 1.0, "alpha must be in [0, 1]"),
            (self.rounds >= 1, "rounds must be >= 1"),
            (self.gnn_layers >= 1, "gnn_layers must be >= 1"),
            (self.sim_centering in ("global", "axis"), "sim_centering must be 'global' or 'axis'"),
            (self.edge_weighting in ("similarity", "distance"), "edge_weighting must be 'similarity' or 'distance'"),
            (self.output_activation in ("relu", "none"), "output_activation must be 'relu' or 'none'"),
            (self.graph_top_m is None or (isinstance(self.graph_top_m, int) and not isinstance(self.graph_top_m, bool)
                                          and self.graph_top_m >= 1),
             f"graph_top_m must be 'auto', None (the dense graph) or an integer >= 1, got {self.graph_top_m!r}"),
            (self.train_cells is None or self.train_cells == 0 or self.train_cells >= 2,
             "train_cells must be 0 (all cells) or >= 2"),
        ]
        for ok, msg in checks:
            if not ok:
                from benchmark.errors import InputError

                raise InputError(f"stImpute: {msg}")


PRESETS: dict[str, dict[str, Any]] = {
    # Paper, Implementation Details: k = 50, 10 GNN epochs, alpha = 0.7 for < 10,000 spatial cells.
    "small": {"k": 50, "gnn_epochs": 10, "alpha": 0.7, "mlp_hidden": (64, 32), "gnn_batch_size": None,
              "train_cells": 0},
    # Paper: 32 GNN epochs, alpha = 0.5; authors' code: k = 20, hidden 32; mini-batches bound memory.
    # train_cells: GNN training on at most 100,000 cells keeps a million-cell run to hours on 2 CPU cores
    "large": {"k": 20, "gnn_epochs": 32, "alpha": 0.5, "mlp_hidden": (32, 32), "gnn_batch_size": 4096,
              "train_cells": 100_000},
}
