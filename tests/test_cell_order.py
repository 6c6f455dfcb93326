"""Order-free inputs: a method sees its cells in a seeded order that carries no information.

The osmFISH file is sorted by cell type; a method that normalises per batch of input cells
(uniPort's BatchNorm in training mode at inference) then scores by how the file was sorted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from benchmark import contract
from benchmark.harness import RunConfig, run_benchmark
from benchmark.methods.base import Method, MethodInfo
from benchmark.order import seeded_order
from benchmark.task import ImputationTask, Prediction

from _helpers import registered


class BatchCentred(Method):
    """Order-sensitive on purpose: predicts each target gene as the first training gene centred
    within consecutive batches of input cells, as batch normalisation in training mode does."""

    info = MethodInfo(name="test-batch-centred", summary="order-sensitive test method")

    @dataclass
    class Params:
        batch: int = 16

    def fit_predict(self, task: ImputationTask) -> Prediction:
        x = np.asarray(task.spatial.X[:, 0], dtype=float).ravel()
        out = np.empty_like(x)
        for start in range(0, len(x), self.params.batch):
            block = x[start:start + self.params.batch]
            out[start:start + self.params.batch] = block - block.mean()
        expr = pd.DataFrame(np.repeat(out[:, None], len(task.target_genes), axis=1),
                            index=task.spatial.obs_names, columns=task.target_genes)
        return Prediction(expr)


def _sorted_by_label(pair):
    """The pair with its spatial cells sorted by label, as many released files are."""
    import dataclasses

    order = np.argsort(pair.spatial.obs[pair.label_key].astype(str).to_numpy(), kind="stable")
    return dataclasses.replace(pair, spatial=pair.spatial[order].copy())


def test_seeded_order_depends_on_the_names_and_seed_only():
    names = pd.Index([f"cell{i}" for i in range(500)])
    perm = np.random.default_rng(1).permutation(len(names))
    a = names[seeded_order(names, 3)]
    b = names[perm][seeded_order(names[perm], 3)]
    assert list(a) == list(b)  # the same cells in another file order: the same input order
    assert sorted(seeded_order(names, 3)) == list(range(len(names)))  # a permutation
    c = names[seeded_order(names, 4)]
    assert list(a) != list(c)
    # no trace of the file order: rank correlation of file position and input position is small
    rho = np.corrcoef(np.argsort(seeded_order(names, 3)), np.arange(len(names)))[0, 1]
    assert abs(rho) < 0.2


def test_task_cells_are_shuffled_and_values_follow_their_cells(tiny_pair, tmp_path):
    prep = contract.prepare_pair(_sorted_by_label(tiny_pair))
    task = contract.make_task(prep, tmp_path)
    spatial_names = list(prep.truth.index)
    assert list(task.spatial.obs_names) != spatial_names
    assert sorted(task.spatial.obs_names) == sorted(spatial_names)
    assert list(task.reference.obs_names) != list(prep.reference.obs_names)
    plain = prep.make_task(contract.kfold_gene_splits(prep.shared, 3, 0)[0], seed=0, workdir=tmp_path,
                           time_budget=None, quick=True, device="cpu", shuffle=False)
    assert list(plain.spatial.obs_names) == spatial_names
    # each cell keeps its own values: same matrix up to the row order
    x = pd.DataFrame(np.asarray(task.spatial.X), index=task.spatial.obs_names)
    y = pd.DataFrame(np.asarray(plain.spatial.X), index=plain.spatial.obs_names)
    np.testing.assert_array_equal(x.loc[y.index].to_numpy(), y.to_numpy())
    r = pd.DataFrame(np.asarray(task.reference.X), index=task.reference.obs_names)
    np.testing.assert_array_equal(r.loc[prep.reference.obs_names].to_numpy(), np.asarray(prep.reference.X))
    assert task.reference.obs.loc[prep.reference.obs_names].equals(prep.reference.obs)


def test_harness_results_do_not_depend_on_the_file_order(tiny_pair, tmp_path):
    """An order-sensitive method scores the same on a file and on its sorted copy."""
    sorted_pair = _sorted_by_label(tiny_pair)
    with registered(BatchCentred):
        a = run_benchmark(RunConfig(methods=["test-batch-centred", "knn"], n_folds=3, cluster=False,
                                    out=tmp_path / "a"), [tiny_pair], progress=False)
        b = run_benchmark(RunConfig(methods=["test-batch-centred", "knn"], n_folds=3, cluster=False,
                                    out=tmp_path / "b"), [sorted_pair], progress=False)
    pd.testing.assert_frame_equal(a.summary.drop(columns=["time_s", "peak_mem_mb"]),
                                  b.summary.drop(columns=["time_s", "peak_mem_mb"]))
    # and the method really is order-sensitive: on the file order, unshuffled, it predicts otherwise
    prep = contract.prepare_pair(sorted_pair)
    split = contract.kfold_gene_splits(prep.shared, 3, 0)[0]
    kw = dict(seed=0, workdir=tmp_path, time_budget=None, quick=True, device="cpu")
    shuffled = BatchCentred().fit_predict(prep.make_task(split, **kw)).expression
    plain = BatchCentred().fit_predict(prep.make_task(split, shuffle=False, **kw)).expression
    assert not np.allclose(shuffled.loc[plain.index].to_numpy(), plain.to_numpy())


def test_order_check_fails_an_order_sensitive_method_without_the_shuffle(tiny_pair, tmp_path, monkeypatch):
    prep = contract.prepare_pair(tiny_pair)
    contract.check_order_invariance(BatchCentred, prep, tmp_path / "shuffled")  # passes with the harness order

    def unshuffled(prep, workdir, seed=0, fold=0, n_folds=3):
        split = contract.kfold_gene_splits(prep.shared, n_folds, seed)[fold]
        return prep.make_task(split, seed=seed, workdir=workdir, time_budget=None, quick=True, device="cpu",
                              shuffle=False)

    monkeypatch.setattr(contract, "make_task", unshuffled)
    with pytest.raises(AssertionError, match="depends on the order of the input"):
        contract.check_order_invariance(BatchCentred, prep, tmp_path / "plain")


def test_prediction_is_stored_in_the_data_order(tiny_pair, tmp_path):
    """The runner undoes the shuffle: the cached prediction of cell i is row i of the truth."""
    res = run_benchmark(RunConfig(methods=["truth"], n_folds=3, cluster=False, out=tmp_path / "t"),
                        [_sorted_by_label(tiny_pair)], progress=False)
    assert res.summary.loc[("tiny", "truth"), "gene_pcc"] == pytest.approx(1.0)
    assert res.summary.loc[("tiny", "truth"), "cell_mse"] == pytest.approx(0.0)
