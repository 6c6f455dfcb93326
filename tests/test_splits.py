import pytest

from benchmark.errors import InputError
from benchmark.splits import holdout_gene_splits, kfold_gene_splits

GENES = [f"g{i}" for i in range(23)]


def test_kfold_partitions_genes():
    splits = kfold_gene_splits(GENES, 5, seed=0)
    targets = [g for s in splits for g in s.target_genes]
    assert sorted(targets) == sorted(GENES)  # every gene hidden exactly once
    for s in splits:
        assert not set(s.train_genes) & set(s.target_genes)
        assert set(s.train_genes) | set(s.target_genes) == set(GENES)
    assert sorted(len(s.target_genes) for s in splits) == [4, 4, 5, 5, 5]


def test_kfold_is_seeded():
    assert kfold_gene_splits(GENES, 5, seed=3) == kfold_gene_splits(GENES, 5, seed=3)
    assert kfold_gene_splits(GENES, 5, seed=3) != kfold_gene_splits(GENES, 5, seed=4)


def test_kfold_needs_enough_genes():
    with pytest.raises(InputError, match="too few for 5 folds"):
        kfold_gene_splits(GENES[:4], 5)
    with pytest.raises(InputError, match="at least 2"):
        kfold_gene_splits(GENES, 1)


def test_holdout_fraction_and_repeats():
    splits = holdout_gene_splits(GENES, 0.8, repeats=4, seed=0)
    assert len(splits) == 4
    assert all(len(s.target_genes) == round(0.8 * 23) for s in splits)
    assert len({s.target_genes for s in splits}) > 1
    with pytest.raises(InputError):
        holdout_gene_splits(GENES, 1.0)
