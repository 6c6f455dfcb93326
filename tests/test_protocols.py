"""Protocol variants: gene CV bookkeeping, the cell-split protocol, self-pairing, preprocessing
schemes, HVG and the spread over seeds."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from benchmark.datasets.base import PairedData
from benchmark.datasets.preprocessing import PREPROCESSING, normalize_tangram, scran_size_factors
from benchmark.datasets.self_pair import duplicate_groups, make_self_pair
from benchmark.datasets.synthetic import make_synthetic_pair
from benchmark.errors import InputError
from benchmark.harness import RunConfig, run_benchmark
from benchmark.splits import cell_gene_splits, kfold_gene_splits

from _helpers import registered
from test_leakage import LeakProbe, _counts, assert_no_leak

GENES = [f"g{i}" for i in range(17)]


def _with_duplicates(data: PairedData, n_pairs: int = 20, seed: int = 0) -> PairedData:
    """Append copies of ``n_pairs`` spatial cells (same counts and coordinates, new names) and
    flag both cells of each pair, as the osmFISH release does."""
    sp = data.spatial
    pick = np.random.default_rng(seed).choice(sp.n_obs, n_pairs, replace=False)
    copies = sp[pick].copy()
    copies.obs_names = [f"dup{i}" for i in range(n_pairs)]
    both = ad.concat([sp, copies])
    both.obsm["spatial"] = np.vstack([sp.obsm["spatial"], sp.obsm["spatial"][pick]])
    flag = np.zeros(both.n_obs, dtype=bool)
    flag[pick] = True
    flag[sp.n_obs:] = True
    both.obs["source_duplicate"] = flag
    return PairedData(data.name, both, data.reference, data.label_key, "spatial", data.gene_embeddings,
                      duplicate_key="source_duplicate")


def _pairs(data: PairedData) -> list[tuple[str, str]]:
    n = data.spatial.n_obs
    k = int((~data.spatial.obs_names.str.startswith("dup")).sum())
    originals = data.spatial.obs_names[:k]
    coords = data.spatial.obsm["spatial"]
    return [(originals[np.nonzero((coords[:k] == coords[i]).all(1))[0][0]], data.spatial.obs_names[i])
            for i in range(k, n)]


def test_kfold_every_gene_predicted_once_per_seed(tiny_pair, tmp_path):
    res = run_benchmark(RunConfig(methods=["mean"], n_folds=4, seeds=[0, 1], out=tmp_path / "r", cluster=False,
                                  isolate=False), [tiny_pair], progress=False)
    for seed, jobs in res.jobs.groupby("seed"):
        assert len(jobs) == 4
    for seed in (0, 1):
        splits = kfold_gene_splits(list(tiny_pair.spatial.var_names), 4, seed)
        predicted = [g for s in splits for g in s.target_genes]
        assert sorted(predicted) == sorted(tiny_pair.spatial.var_names)  # each gene exactly once
    genes = res.results[(res.results.fold == "all") & (res.results.scope == "gene") & (res.results.stat == "value")
                        & (res.results.metric == "css")]
    assert genes.groupby("seed")["item"].apply(lambda s: s.is_unique and len(s) == 15).all()


def test_cellsplit_bookkeeping_and_seeding():
    cells = [f"c{i}" for i in range(103)]
    splits = cell_gene_splits(GENES, cells, None, n_folds=5, fraction=0.8, repeats=3, seed=4)
    assert len(splits) == 15
    for r in range(3):
        rep = [s for s in splits if s.repeat == r]
        assert len({s.target_genes for s in rep}) == 1  # one hidden gene set per repeat
        assert len(rep[0].target_genes) == round(0.8 * 17)
        assert not set(rep[0].target_genes) & set(rep[0].train_genes)
        seen = [c for s in rep for c in s.cells]
        assert sorted(seen) == sorted(cells)  # every (cell, hidden gene) predicted exactly once
        assert max(len(s.cells) for s in rep) - min(len(s.cells) for s in rep) <= 1
    assert len({s.target_genes for s in splits}) > 1  # repeats differ
    assert splits == cell_gene_splits(GENES, cells, None, n_folds=5, fraction=0.8, repeats=3, seed=4)
    assert splits != cell_gene_splits(GENES, cells, None, n_folds=5, fraction=0.8, repeats=3, seed=5)
    assert [s.label for s in splits[:2]] == ["r0c0", "r0c1"]
    with pytest.raises(InputError):
        cell_gene_splits(GENES, cells, None, n_folds=1)


def test_duplicate_groups_stay_in_one_cell_fold(tiny_pair):
    data = _with_duplicates(tiny_pair)
    groups = duplicate_groups(data.spatial, "spatial", "source_duplicate")
    assert groups.max() + 1 == data.spatial.n_obs - 20
    fold_of = {}
    for s in cell_gene_splits(list(data.spatial.var_names), list(data.spatial.obs_names), groups, 5, 0.5, 2, 0):
        fold_of.update({(s.repeat, c): s.index for c in s.cells})
    for a, b in _pairs(data):
        for r in (0, 1):
            assert fold_of[(r, a)] == fold_of[(r, b)]


def test_cellsplit_run_scores_assembled_repeats(tiny_pair, tmp_path):
    data = _with_duplicates(tiny_pair)
    cfg = RunConfig(methods=["truth", "mean"], protocol="cellsplit", n_folds=3, holdout_fraction=0.5, repeats=2,
                    out=tmp_path / "r", cluster=False, isolate=False)
    res = run_benchmark(cfg, [data], progress=False)
    assert res.failures == [] and len(res.jobs) == 2 * 3 * 2
    assert set(res.jobs["split"]) == {f"r{r}c{k}" for r in range(2) for k in range(3)}
    scored = res.results[res.results.scope.isin(["cell", "gene"])]
    assert set(scored["fold"]) == {"r0", "r1"}
    cells = scored[(scored.scope == "cell") & (scored.stat == "value") & (scored.metric == "css")
                   & (scored.method == "truth") & (scored.fold == "r0")]
    assert sorted(cells["item"]) == sorted(data.spatial.obs_names)  # every cell scored once
    assert res.summary.loc[(data.name, "truth"), "cell_css"] == pytest.approx(1.0)
    assert res.summary.loc[(data.name, "mean"), "gene_pcc"] < 0.5


class CellLeakProbe(LeakProbe):
    """The leak probe of test_leakage, for tasks that hold a subset of the cells."""

    held: pd.DataFrame = pd.DataFrame()

    def fit_predict(self, task):
        hidden = {g: self.held.loc[task.spatial.obs_names, g].to_numpy() for g in task.target_genes}
        assert_no_leak(task, hidden)
        type(self).seen_tasks.append(",".join(task.target_genes))
        return _zeros(task)


def _zeros(task):
    from benchmark.task import Prediction

    return Prediction(pd.DataFrame(0.0, index=task.spatial.obs_names, columns=task.target_genes))


@pytest.mark.parametrize("preprocessing", sorted(PREPROCESSING))
@pytest.mark.parametrize("protocol", ["kfold", "cellsplit"])
def test_no_leak_with_every_scheme_and_protocol(tiny_pair, tmp_path, preprocessing, protocol):
    """No scheme lets a hidden gene reach a method: the task's X is normalised over training genes."""
    CellLeakProbe.held = pd.DataFrame({g: _counts(tiny_pair.spatial, g) for g in tiny_pair.spatial.var_names},
                                      index=tiny_pair.spatial.obs_names)
    CellLeakProbe.seen_tasks = []
    cfg = RunConfig(methods=["leak-probe"], protocol=protocol, n_folds=3, repeats=1, out=tmp_path / "run",
                    isolate=False, cluster=False, preprocessing=preprocessing)
    with registered(CellLeakProbe):
        res = run_benchmark(cfg, [tiny_pair], progress=False)
    assert res.failures == [] and len(CellLeakProbe.seen_tasks) == 3


def test_self_pair_disjoint_seeded_duplicates_together(tiny_pair):
    data = _with_duplicates(tiny_pair, n_pairs=25)
    pair = make_self_pair(data, seed=3)
    sp, ref = set(pair.spatial.obs_names), set(pair.reference.obs_names)
    assert not sp & ref and sp | ref == set(data.spatial.obs_names)
    assert abs(len(sp) - len(ref)) <= 30
    assert list(pair.reference.var_names) == list(data.spatial.var_names)  # reference has every gene
    assert "spatial" not in pair.reference.obsm and pair.name == "self:tiny"
    for a, b in _pairs(data):
        assert (a in sp) == (b in sp)
    again = make_self_pair(data, seed=3)
    assert list(again.spatial.obs_names) == list(pair.spatial.obs_names)
    assert list(make_self_pair(data, seed=4).spatial.obs_names) != list(pair.spatial.obs_names)
    with pytest.raises(InputError, match="at least 10"):
        make_self_pair(make_synthetic_pair(n_spatial=50, n_reference=50, n_shared=5, n_reference_only=5))


def test_self_pair_runs_through_the_harness(tiny_pair, tmp_path):
    pair = make_self_pair(tiny_pair, seed=0)
    res = run_benchmark(RunConfig(methods=["mean", "knn"], n_folds=3, out=tmp_path / "r", cluster=False,
                                  isolate=False), [pair], progress=False)
    assert res.failures == []
    s = res.summary.loc["self:tiny"]
    assert s.loc["knn", "gene_pcc"] > s.loc["mean", "gene_pcc"]


def test_tangram_scheme_is_total_scaling_without_log():
    x = np.array([[1.0, 3.0], [0.0, 0.0], [2.0, 2.0]])
    out = normalize_tangram(x)
    assert np.allclose(out, [[1.0, 3.0], [0.0, 0.0], [2.0, 2.0]])  # median total 4: rows already sum to 4
    assert np.allclose(normalize_tangram(np.array([[1.0, 1.0], [3.0, 5.0]])).sum(1), 5.0)


def test_scran_size_factors_recover_known_factors():
    rng = np.random.default_rng(0)
    true = rng.lognormal(0, 0.5, 600)
    mu = rng.lognormal(1.5, 1.0, 40)
    x = rng.poisson(true[:, None] * mu[None, :]).astype(float)
    x[5] = 0  # an empty cell keeps a zero factor
    sf = scran_size_factors(x)
    live = np.arange(600) != 5
    assert sf[5] == 0 and sf[live].mean() == pytest.approx(1.0)
    assert np.corrcoef(sf[live], true[live])[0, 1] > 0.95
    same = np.tile(mu.round(), (50, 1))  # identical cells: every factor is 1
    assert np.allclose(scran_size_factors(same), 1.0)
    assert np.allclose(scran_size_factors(np.vstack([same[:10], 2 * same[:10]]))[10:], 2 * scran_size_factors(
        np.vstack([same[:10], 2 * same[:10]]))[0])  # fewer cells than a pool: library sizes


def test_hvg_in_a_run_restricts_the_scored_genes(tiny_pair, tmp_path):
    res = run_benchmark(RunConfig(methods=["mean"], n_folds=3, hvg=8, out=tmp_path / "r", cluster=False,
                                  isolate=False), [tiny_pair], progress=False)
    assert res.jobs["n_target_genes"].sum() == 8


def test_summary_gives_mean_and_sd_over_seeds(tiny_pair, tmp_path):
    res = run_benchmark(RunConfig(methods=["knn"], n_folds=3, seeds=[0, 1, 2], out=tmp_path / "r", cluster=False,
                                  isolate=False), [tiny_pair], progress=False)
    r = res.results
    per_seed = r[(r.fold == "all") & (r.scope == "gene") & (r.metric == "pcc") & (r.stat == "mean")]
    row = res.summary.loc[("tiny", "knn")]
    assert row["gene_pcc"] == pytest.approx(per_seed["value"].mean())
    assert row["gene_pcc_sd"] == pytest.approx(per_seed["value"].std(ddof=1))
    assert row["gene_pcc_sd"] > 0 and row["n_seeds"] == 3
    on_disk = pd.read_csv(tmp_path / "r" / "summary.csv")
    assert "gene_pcc_sd" in on_disk.columns
