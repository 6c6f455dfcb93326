"""Splits: K-fold gene cross-validation, held-out gene fractions with repeats, and cell splits.

* ``kfold``: the shared genes are cut into K folds; each fold is hidden once.
* ``holdout``: each repeat hides a random fraction of the genes.
* ``cellsplit`` (the variant of the stImpute paper's Supplementary Fig. S3): each repeat hides a
  random fraction of the genes, and the spatial cells are partitioned into K folds; the job of
  fold k gets the cells of fold k only (with the training genes) and predicts the hidden genes
  there. The K folds together predict every (cell, hidden gene) exactly once per repeat. Cells
  that the source duplicated (same coordinates and counts) are kept in one fold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InputError

PROTOCOLS = ("kfold", "holdout", "cellsplit")


@dataclass(frozen=True)
class GeneSplit:
    """Which shared genes a method sees (``train_genes``) and which it predicts (``target_genes``).

    ``cells`` is ``None`` when the job sees every spatial cell, or the names of the cells of
    this job (cell-split protocol). ``repeat`` numbers the repeat of the holdout and cellsplit
    protocols.

    ``label`` names the split in results: ``"0"``..``"K-1"`` for gene folds, ``"h0"``.. for
    held-out repeats, ``"r0c0"``.. (repeat 0, cell fold 0) for cell splits, and ``"r0"``.. for
    the assembled matrix of a cell-split repeat (``cells`` is ``None`` there).
    """

    protocol: str
    index: int
    train_genes: tuple[str, ...]
    target_genes: tuple[str, ...]
    cells: tuple[str, ...] | None = None
    repeat: int = 0

    @property
    def label(self) -> str:
        if self.protocol == "kfold":
            return str(self.index)
        if self.protocol == "cellsplit":  # a cell fold, or (cells None) the repeat's assembled matrix
            return f"r{self.repeat}" if self.cells is None else f"r{self.repeat}c{self.index}"
        return f"h{self.index}"



def _split(protocol: str, index: int, genes: list[str], held: set[int], **extra) -> GeneSplit:
    return GeneSplit(
        protocol,
        index,
        tuple(genes[j] for j in range(len(genes)) if j not in held),
        tuple(genes[j] for j in sorted(held)),
        **extra,
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


def _n_held(genes: list[str], fraction: float, repeats: int) -> int:
    if not 0.0 < fraction < 1.0:
        raise InputError(f"--holdout-fraction must be between 0 and 1 (got {fraction})")
    if repeats < 1:
        raise InputError(f"--repeats must be at least 1 (got {repeats})")
    n_hold = int(round(fraction * len(genes)))
    if n_hold < 1 or n_hold > len(genes) - 1:
        raise InputError(
            f"holding out {fraction:.0%} of {len(genes)} shared genes leaves no gene to predict or none to train on"
        )
    return n_hold


def holdout_gene_splits(genes: list[str], fraction: float = 0.5, repeats: int = 3, seed: int = 0) -> list[GeneSplit]:
    """``repeats`` random splits that each hide ``fraction`` of ``genes``."""
    n_hold = _n_held(genes, fraction, repeats)
    genes = list(genes)
    rng = np.random.default_rng(seed)
    return [_split("holdout", r, genes, set(rng.permutation(len(genes))[:n_hold].tolist()), repeat=r)
            for r in range(repeats)]


def group_cell_folds(groups: np.ndarray, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """Fold number (``0..n_folds-1``) of each cell; the cells of a group share a fold.

    Groups are put in a random order and cut into ``n_folds`` runs of near-equal cell counts
    (a run ends at a group boundary), so folds differ in size by at most the largest group.
    """
    groups = np.asarray(groups)
    n = len(groups)
    n_groups = int(groups.max()) + 1 if n else 0
    if n_groups < n_folds:
        raise InputError(f"{n_groups} cell groups are too few for {n_folds} cell folds")
    sizes = np.bincount(groups, minlength=n_groups)
    order = rng.permutation(n_groups)
    start = np.cumsum(sizes[order]) - sizes[order]  # cells before each group in the random order
    fold_of_group = np.empty(n_groups, dtype=np.int64)
    fold_of_group[order] = np.minimum((start * n_folds) // max(n, 1), n_folds - 1)
    return fold_of_group[groups]


def cell_gene_splits(
    genes: list[str],
    cells: list[str],
    groups: np.ndarray | None = None,
    n_folds: int = 5,
    fraction: float = 0.5,
    repeats: int = 1,
    seed: int = 0,
) -> list[GeneSplit]:
    """Cell-split protocol: per repeat, hide ``fraction`` of the genes and partition the cells.

    Parameters
    ----------
    genes
        Shared genes.
    cells
        Spatial cell names.
    groups
        Duplicate group id of each cell (cells of a group stay in one fold); ``None``: every
        cell is its own group.
    n_folds
        Cell folds (5 in the paper).
    fraction
        Fraction of the genes hidden in each repeat (0.5 or 0.8 in the paper).
    repeats
        Independent repeats, each with its own hidden genes and cell partition.
    seed
        Seed of every random choice.

    Returns
    -------
    list of GeneSplit
        ``repeats * n_folds`` splits; the splits of one repeat share their genes and their
        ``cells`` partition the spatial cells.
    """
    if n_folds < 2:
        raise InputError(f"--folds (cell folds of the cellsplit protocol) must be at least 2 (got {n_folds})")
    n_hold = _n_held(genes, fraction, repeats)
    genes, cells = list(genes), list(cells)
    groups = np.arange(len(cells)) if groups is None else np.asarray(groups)
    if len(groups) != len(cells):
        raise ValueError("one group id per cell is needed")
    rng = np.random.default_rng(seed)
    out = []
    for r in range(repeats):
        held = set(rng.permutation(len(genes))[:n_hold].tolist())
        fold = group_cell_folds(groups, n_folds, rng)
        for k in range(n_folds):
            members = tuple(cells[i] for i in np.nonzero(fold == k)[0])
            out.append(_split("cellsplit", k, genes, held, cells=members, repeat=r))
    return out
