"""Gene splits: K-fold cross-validation and held-out fractions with repeats."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InputError


@dataclass(frozen=True)
class GeneSplit:
    """Which shared genes a method sees (``train_genes``) and which it predicts (``target_genes``).

    ``label`` names the split in results: ``"0"``..``"K-1"`` for folds, ``"h0"``.. for repeats.
    """

    protocol: str
    index: int
    train_genes: tuple[str, ...]
    target_genes: tuple[str, ...]

    @property
    def label(self) -> str:
        return str(self.index) if self.protocol == "kfold" else f"h{self.index}"


def _split(protocol: str, index: int, genes: list[str], held: set[int]) -> GeneSplit:
    return GeneSplit(
        protocol,
        index,
        tuple(genes[j] for j in range(len(genes)) if j not in held),
        tuple(genes[j] for j in sorted(held)),
    )


def kfold_gene_splits(genes: list[str], n_folds: int = 5, seed: int = 0) -> list[GeneSplit]:
    """Shuffle ``genes`` with ``seed`` and cut them into ``n_folds`` folds of near-equal size.

    Each fold's genes are the targets of one split, the other folds' genes its training genes.
    """
    if n_folds < 2:
        raise InputError(f"--folds must be at least 2 (got {n_folds})")
    if len(genes) < n_folds:
        raise InputError(
            f"{len(genes)} shared genes are too few for {n_folds} folds; use --folds {max(2, len(genes))} or fewer"
        )
    genes = list(genes)
    order = np.random.default_rng(seed).permutation(len(genes))
    return [_split("kfold", i, genes, set(fold.tolist())) for i, fold in enumerate(np.array_split(order, n_folds))]


def holdout_gene_splits(genes: list[str], fraction: float = 0.5, repeats: int = 3, seed: int = 0) -> list[GeneSplit]:
    """``repeats`` random splits that each hide ``fraction`` of ``genes``."""
    if not 0.0 < fraction < 1.0:
        raise InputError(f"--holdout-fraction must be between 0 and 1 (got {fraction})")
    if repeats < 1:
        raise InputError(f"--repeats must be at least 1 (got {repeats})")
    n_hold = int(round(fraction * len(genes)))
    if n_hold < 1 or n_hold > len(genes) - 1:
        raise InputError(
            f"holding out {fraction:.0%} of {len(genes)} shared genes leaves no gene to predict or none to train on"
        )
    genes = list(genes)
    rng = np.random.default_rng(seed)
    return [_split("holdout", r, genes, set(rng.permutation(len(genes))[:n_hold].tolist())) for r in range(repeats)]
