"""The harness never hands a method the measured values of the genes it must predict."""

from __future__ import annotations

from dataclasses import dataclass

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.stats import rankdata

from benchmark.harness import RunConfig, run_benchmark
from benchmark.methods.base import Method, MethodInfo
from benchmark.task import ImputationTask, Prediction

from _helpers import registered


def _columns_of(obj, path="task"):
    """Every numeric cells-long vector reachable from a task: columns of matrices, obs, obsm."""
    if isinstance(obj, ad.AnnData):
        for name, m in [("X", obj.X), *((f"layers[{k}]", v) for k, v in obj.layers.items()),
                        *((f"obsm[{k}]", v) for k, v in obj.obsm.items())]:
            yield from _columns_of(m, f"{path}.{name}")
        for c in obj.obs.columns:
            if pd.api.types.is_numeric_dtype(obj.obs[c]):
                yield f"{path}.obs[{c}]", obj.obs[c].to_numpy(dtype=float)
        for k, v in obj.uns.items():
            yield from _columns_of(v, f"{path}.uns[{k}]")
    elif sp.issparse(obj):
        yield from _columns_of(obj.toarray(), path)
    elif isinstance(obj, (np.ndarray, pd.DataFrame)):
        arr = np.asarray(obj, dtype=float)
        if arr.ndim == 1:
            yield path, arr
        elif arr.ndim == 2:
            for j in range(arr.shape[1]):
                yield f"{path}[:, {j}]", arr[:, j]
            for i in range(arr.shape[0]):  # a transposed copy would show up as rows
                yield f"{path}[{i}, :]", arr[i, :]


class LeakProbe(Method):
    """Fails if anything it receives matches, up to any monotone transform, a held-out gene."""

    info = MethodInfo(name="leak-probe", summary="test probe", control=True)
    held_out: dict[str, pd.Series] = {}  # gene -> measured counts of every spatial cell, by cell name
    seen_tasks: list[str] = []
    search_space = {"level": (0.0, 1.0)}  # so that --tune runs the probe through the tuned path too

    @dataclass
    class Params:
        level: float = 0.0

    def fit_predict(self, task: ImputationTask) -> Prediction:
        # the task's cells come in a seeded order: compare each cell with its own measured value
        cells = task.spatial.obs_names
        assert_no_leak(task, {g: self.held_out[g].loc[cells].to_numpy() for g in task.target_genes})
        type(self).seen_tasks.append(",".join(task.target_genes))
        return Prediction(pd.DataFrame(self.params.level, index=task.spatial.obs_names, columns=task.target_genes))


def assert_no_leak(task: ImputationTask, hidden: dict[str, np.ndarray]) -> None:
    n = task.n_cells
    assert not set(hidden) & set(task.spatial.var_names), "a target gene is among the spatial genes"
    ranks = {g: rankdata(v) for g, v in hidden.items() if np.ptp(v) > 0}
    for where, vec in _columns_of(task.spatial, "task.spatial"):
        if len(vec) != n or np.ptp(vec) == 0:
            continue
        r = rankdata(vec)
        for g, rg in ranks.items():
            rho = np.corrcoef(r, rg)[0, 1]
            if rho > 0.999:
                raise AssertionError(f"held-out gene {g} reached the method through {where} (rank corr {rho:.4f})")


def _counts(adata, gene):
    x = adata[:, gene].X
    return np.asarray(x.toarray() if sp.issparse(x) else x, dtype=float).ravel()


def test_probe_detects_a_leak(tiny_pair):
    """The probe is a real check: handed a held-out gene (here log-transformed), it fails."""
    sp_data = tiny_pair.spatial
    gene = sp_data.var_names[0]
    task = ImputationTask(
        spatial=ad.AnnData(X=np.log1p(sp_data.X), obs=pd.DataFrame(index=sp_data.obs_names),
                           var=pd.DataFrame(index=[f"renamed{i}" for i in range(sp_data.n_vars)])),
        reference=tiny_pair.reference,
        target_genes=[gene],
    )
    with pytest.raises(AssertionError, match="reached the method"):
        assert_no_leak(task, {gene: _counts(sp_data, gene)})


@pytest.mark.parametrize("protocol", ["kfold", "holdout"])
@pytest.mark.parametrize("isolate", [True, False])
def test_harness_never_hands_over_held_out_genes(tiny_pair, tmp_path, protocol, isolate):
    LeakProbe.held_out = _held_out(tiny_pair)
    LeakProbe.seen_tasks = []
    cfg = RunConfig(methods=["leak-probe"], protocol=protocol, n_folds=3, repeats=2, out=tmp_path / "run",
                    isolate=isolate, cluster=False)
    with registered(LeakProbe):
        result = run_benchmark(cfg, [tiny_pair], progress=False)
    assert result.failures == [], result.failures  # every job passed the probe
    assert len(result.jobs) == (3 if protocol == "kfold" else 2)
    if not isolate:  # in-process runs let us see that the probe really ran on every split
        assert len(LeakProbe.seen_tasks) == len(result.jobs)


def _held_out(pair) -> dict[str, pd.Series]:
    return {g: pd.Series(_counts(pair.spatial, g), index=pair.spatial.obs_names) for g in pair.spatial.var_names}


def test_probe_catches_a_leak_through_the_harness(tiny_pair, tmp_path, monkeypatch):
    """With a leak put into the harness (a held-out gene's counts in obs), the probe's job fails:
    the probe compares each cell with its own value, whatever order the cells arrive in."""
    from benchmark.prepare import PreparedData

    original = PreparedData.make_task

    def leaky(self, split, **kw):
        task = original(self, split, **kw)
        gene = split.target_genes[0]
        task.spatial.obs["leak"] = _counts(self.data.spatial[task.spatial.obs_names], gene)
        return task

    monkeypatch.setattr(PreparedData, "make_task", leaky)
    LeakProbe.held_out = _held_out(tiny_pair)
    cfg = RunConfig(methods=["leak-probe"], n_folds=3, out=tmp_path / "run", isolate=False, cluster=False)
    with registered(LeakProbe):
        result = run_benchmark(cfg, [tiny_pair], progress=False)
    assert len(result.failures) == 3 and all("reached the method" in f["error"] for f in result.failures)


def test_tuned_path_never_hands_over_held_out_genes(tiny_pair, tmp_path):
    """--tune: the inner splits see neither the outer held-out genes nor their own held-out genes."""
    LeakProbe.held_out = _held_out(tiny_pair)
    LeakProbe.seen_tasks = []
    cfg = RunConfig(methods=["leak-probe"], n_folds=3, out=tmp_path / "run", isolate=False, cluster=False,
                    tune=True, tune_budget=2, tune_folds=2)
    with registered(LeakProbe):
        result = run_benchmark(cfg, [tiny_pair], progress=False)
    assert result.failures == [], result.failures
    assert set(result.jobs["method"]) == {"leak-probe", "leak-probe+tuned"}
    # 3 default jobs; each tuned job: 2 configurations x 2 inner folds + the final fit
    assert len(LeakProbe.seen_tasks) == 3 + 3 * (2 * 2 + 1)


def test_tuned_path_on_a_cell_subsample_never_hands_over_held_out_genes(tiny_pair, tmp_path):
    """--tune-cells: the inner fits on a subsample of cells are probed like the full ones."""
    LeakProbe.held_out = _held_out(tiny_pair)
    LeakProbe.seen_tasks = []
    cfg = RunConfig(methods=["leak-probe"], n_folds=3, out=tmp_path / "run", isolate=False, cluster=False,
                    tune=True, tune_budget=2, tune_folds=2, tune_cells=100)
    with registered(LeakProbe):
        result = run_benchmark(cfg, [tiny_pair], progress=False)
    assert result.failures == [], result.failures
    assert len(LeakProbe.seen_tasks) == 3 + 3 * (2 * 2 + 1)
