"""`benchmark scale`: lean data generator, memory and time budgets, stop-at-failure, outputs, resume."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from benchmark.cli import main
from benchmark.datasets.synthetic import make_synthetic_pair
from benchmark.errors import InputError
from benchmark.scale import (ScaleConfig, growth_exponent, killed_rss_mb, make_scale_data, merge_scale_runs,
                             prepare_lean, run_scale, stop_marker_y)

TINY = dict(genes=10, reference_cells=150, reference_only_genes=5)


def test_lean_generator_is_sparse_float32_and_shares_everything_but_the_spatial_draws():
    kw = dict(n_spatial=700, n_reference=120, n_shared=12, n_reference_only=4, seed=5)
    dense = make_synthetic_pair(**kw)
    lean = make_synthetic_pair(**kw, lean=True, chunk_cells=256)  # several chunks
    x = lean.spatial.X
    assert sp.issparse(x) and x.format == "csr" and x.dtype == np.float32
    assert x.shape == dense.spatial.X.shape
    assert (np.asarray(x.sum(axis=1)).ravel() > 0).all()  # every cell has a count
    # the reference, the layout and the cell types are the same draws
    np.testing.assert_array_equal(lean.reference.X, dense.reference.X)
    np.testing.assert_array_equal(lean.spatial.obsm["spatial"], dense.spatial.obsm["spatial"])
    assert (lean.spatial.obs["cell_type"].astype(str) == dense.spatial.obs["cell_type"].astype(str)).all()
    assert (lean.spatial.obs["layer"].astype(str) == dense.spatial.obs["layer"].astype(str)).all()
    # same model: total counts agree in distribution (means within 5%)
    assert abs(x.sum() / dense.spatial.X.sum() - 1) < 0.05
    again = make_synthetic_pair(**kw, lean=True, chunk_cells=256)
    assert (again.spatial.X != x).nnz == 0  # seeded


def test_lean_prepare_truth_is_the_harness_truth_of_the_target_genes():
    from benchmark.contract import prepare_pair

    data = make_scale_data(200, ScaleConfig(**TINY))
    targets = list(data.spatial.var_names[:3])
    lean = prepare_lean(data, targets)
    full = prepare_pair(data)
    assert (lean.truth.dtypes == np.float32).all()
    np.testing.assert_allclose(lean.truth.to_numpy(), full.truth[targets].to_numpy(), rtol=1e-6, atol=1e-6)
    assert lean.fingerprint == full.fingerprint


def test_scale_run_table_outputs_and_resume(tmp_path):
    cfg = ScaleConfig(methods=["mean", "knn"], cells=[240, 120], out=tmp_path, **TINY)
    table = run_scale(cfg, progress=False)
    assert list(table["n_cells"]) == [120, 240, 120, 240]  # per method, increasing sizes
    assert (table["status"] == "ok").all()
    assert np.allclose(table["s_per_100k_cells"], table["runtime_s"] / table["n_cells"] * 1e5)
    assert (table["peak_rss_mb"] > 0).all() and table["gene_css"].between(-1, 1).all()
    for f in ("scale.csv", "scale.md", "scale.png", "scale.json"):
        assert (tmp_path / f).is_file()
    prov = json.loads((tmp_path / "scale.json").read_text())
    assert prov["git_commit"] and "numpy" in prov["packages"] and prov["machine"]["cpus"]
    assert {r["method"] for r in prov["summary"]} == {"mean", "knn"}
    md = (tmp_path / "scale.md").read_text()
    assert "| knn | 240 | ok |" in md and "s / 100k cells" in md
    again = run_scale(cfg, progress=False)
    assert again["from_cache"].all()
    pd.testing.assert_series_equal(again["gene_css"], table["gene_css"])


def test_memory_budget_stops_a_method_and_larger_sizes_are_skipped(tmp_path):
    # 1 MB is below any Python process: the watchdog must kill the job and record it
    cfg = ScaleConfig(methods=["mean"], cells=[100, 200], memory_budget_mb=1, out=tmp_path, **TINY)
    table = run_scale(cfg, progress=False)
    first, second = table.iloc[0], table.iloc[1]
    assert first["status"] == "memory" and "memory budget of 1 MB" in first["error"]
    # the resident memory it was killed at is recorded as its peak (the plot marks it there)
    assert first["peak_rss_mb"] > 1
    assert first["peak_rss_mb"] == pytest.approx(killed_rss_mb(first["error"]), abs=0.5)
    assert second["status"] == "skipped" and "memory at 100 cells" in second["error"]
    # a cached memory failure is re-run when the budget grows, and then succeeds
    cfg.memory_budget_mb = 50_000
    table = run_scale(cfg, progress=False)
    assert (table["status"] == "ok").all()


def test_killed_rss_is_read_from_older_runs_messages():
    assert killed_rss_mb("exceeded the memory budget of 12000 MB (resident memory 12086 MB)") == 12086
    assert np.isnan(killed_rss_mb("exceeded the time budget of 600 s"))
    assert np.isnan(killed_rss_mb(float("nan")))  # a blank error read back from CSV


def test_plots_mark_a_stop_where_it_stopped():
    ok = pd.DataFrame({"n_cells": [1e4, 1e5], "runtime_s": [10.0, 90.0], "peak_rss_mb": [500.0, 2000.0]})
    failed = pd.DataFrame({"n_cells": [1e6] * 3, "runtime_s": [38.0, 600.0, np.nan],
                           "peak_rss_mb": [12086.0, np.nan, np.nan],
                           "error": ["exceeded the memory budget of 12000 MB (resident memory 12086 MB)",
                                     "exceeded the time budget of 600 s",
                                     "exceeded the memory budget of 12000 MB (resident memory 12110 MB)"]})
    # time: as stopped; the row without one falls back to the last size that ran
    assert stop_marker_y(failed, ok, "runtime_s").tolist() == [38.0, 600.0, 90.0]
    # memory: recorded, else named by an older run's kill message, else the last size that ran
    assert stop_marker_y(failed, ok, "peak_rss_mb").tolist() == [12086.0, 2000.0, 12110.0]
    assert np.isnan(stop_marker_y(failed.iloc[1:2], ok.iloc[:0], "peak_rss_mb")).all()


def test_time_budget_is_recorded_as_timeout(tmp_path):
    cfg = ScaleConfig(methods=["knn"], cells=[100], time_budget=0.01, out=tmp_path, **TINY)
    row = run_scale(cfg, progress=False).iloc[0]
    assert row["status"] == "timeout" and np.isnan(row["s_per_100k_cells"])


def test_growth_exponent_of_linear_and_quadratic_times():
    t = pd.DataFrame({"method": ["a"] * 3 + ["b"] * 3, "n_cells": [1e3, 1e4, 1e5] * 2, "status": "ok",
                      "runtime_s": [1, 10, 100, 1, 100, 10_000]})
    assert growth_exponent(t, "a") == pytest.approx(1.0)
    assert growth_exponent(t, "b") == pytest.approx(2.0)


@pytest.mark.parametrize("kw,msg", [(dict(cells=[5]), "at least 10 cells"), (dict(genes=3), "--genes"),
                                    (dict(memory_budget_mb=-1), "--memory-budget")])
def test_bad_configuration(kw, msg, tmp_path):
    with pytest.raises(InputError, match=msg):
        run_scale(ScaleConfig(methods=["mean"], out=tmp_path, **{**TINY, **kw}), progress=False)


def test_oracle_is_refused(tmp_path):
    with pytest.raises(InputError, match="oracle"):
        run_scale(ScaleConfig(methods=["truth"], cells=[100], out=tmp_path, **TINY), progress=False)


def test_cli(tmp_path, capsys):
    code = main(["scale", "--methods", "mean", "--cells", "100", "--genes", "10", "--reference-cells", "100",
                 "--out", str(tmp_path), "--quiet"])
    assert code == 0
    assert "s_per_100k_cells" in capsys.readouterr().out
    assert main(["scale", "--methods", "nope", "--cells", "100", "--out", str(tmp_path / "x"), "--quiet"]) == 2


def test_merge_keeps_runs_with_other_settings_apart_and_refuses_other_data(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    run_scale(ScaleConfig(methods=["mean", "knn"], cells=[120], out=a, **TINY), progress=False)
    run_scale(ScaleConfig(methods=["mean", "knn"], cells=[240], out=b, method_params={"knn": {"k": 3}}, **TINY),
              progress=False)
    assert main(["scale-merge", str(a), str(b), "--out", str(tmp_path / "m")]) == 0
    merged = pd.read_csv(tmp_path / "m" / "scale.csv")
    rows = {(r.label, r.n_cells): r.run for r in merged.itertuples()}
    # mean is the same method in both runs (one line over two sizes); knn with k=3 is another line
    assert rows == {("mean", 120): str(a), ("mean", 240): str(b), ("knn", 120): str(a), ("knn (k=3)", 240): str(b)}
    md = (tmp_path / "m" / "scale.md").read_text()
    assert "Merged from 2 runs" in md and "| knn (k=3) | 240 | ok |" in md and "nan" not in md
    assert (tmp_path / "m" / "scale.png").is_file()
    prov = json.loads((tmp_path / "m" / "scale.json").read_text())
    assert [s["run"] for s in prov["sources"]] == [str(a), str(b)] and all(s["git_commit"] for s in prov["sources"])
    assert {r["method"] for r in prov["summary"]} == {"mean", "knn", "knn (k=3)"}

    run_scale(ScaleConfig(methods=["mean"], cells=[120], out=c, **{**TINY, "genes": TINY["genes"] + 5}), progress=False)
    with pytest.raises(InputError, match="different data.*genes"):
        merge_scale_runs([a, c])
    with pytest.raises(InputError, match="not the output of `benchmark scale`"):
        merge_scale_runs([a, tmp_path / "nothing"])


# -- stImpute's large-data path ---------------------------------------------------------------

torch = pytest.importorskip("torch")


def _graph(g: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    a = torch.rand(g, g, generator=gen)
    a.fill_diagonal_(0)
    a[0] = 0  # a gene without neighbours: DenseSAGEConv's degree clamp matters
    return a / a.sum(1, keepdim=True).clamp(min=1e-12)


def test_gnn_forward_is_densesageconv_and_first_layer_aggregation_can_come_from_the_reference():
    import torch.nn.functional as F

    from benchmark.methods.stimpute.module import GeneGNN
    from benchmark.methods.stimpute.training import aggregate_reference, neighbour_features

    torch.manual_seed(0)
    n_ref, g, k, b = 60, 14, 5, 9
    adj = _graph(g)
    ref = torch.rand(n_ref, g)
    nbr = torch.randint(0, n_ref, (b, k))
    gnn = GeneGNN(k, hidden=12, layers=2, mlp_hidden=(8,))
    feats = neighbour_features(ref, nbr)
    h = feats
    for conv in gnn.convs:  # PyG's DenseSAGEConv itself, as the networks were defined before
        h = F.normalize(F.relu(conv(h, adj)), p=2.0, dim=-1)
    expected = gnn.head(h).reshape(b, g)
    torch.testing.assert_close(gnn(feats, adj), expected, rtol=1e-5, atol=1e-6)
    pre = neighbour_features(aggregate_reference(ref, adj), nbr)
    torch.testing.assert_close(gnn(feats, adj, pre), expected, rtol=1e-5, atol=1e-6)


def test_streamed_prediction_equals_the_whole_matrix():
    from benchmark.methods.stimpute.module import GeneGNN
    from benchmark.methods.stimpute.training import gene_css, neighbour_mean, predict_final, predict_gnn

    torch.manual_seed(1)
    n, n_ref, g, n_train, k = 50, 40, 10, 7, 4
    adj = _graph(g, 1)
    ref = torch.rand(n_ref, g)
    nbr = torch.randint(0, n_ref, (n, k))
    obs = torch.rand(n, n_train)
    gnn = GeneGNN(k, hidden=6, layers=2, mlp_hidden=(5,))
    targets = torch.tensor([7, 9])
    rel = torch.tensor([0, 3, 17, 18, 49])
    full = 0.6 * predict_gnn(gnn, ref, nbr, adj, 16) + 0.4 * neighbour_mean(ref, nbr, 16)
    got_t, got_css, got_rel = predict_final(gnn, ref, nbr, adj, 0.6, 16, obs, targets, rel)  # batches of 16
    torch.testing.assert_close(got_t, full[:, targets])
    torch.testing.assert_close(got_css, gene_css(full[:, :n_train], obs), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got_rel, full[rel])
    no_gnn = predict_final(None, ref, nbr, adj, 0.6, 16, obs, targets, rel)[0]
    torch.testing.assert_close(no_gnn, neighbour_mean(ref, nbr, 16)[:, targets])


def test_train_cells_trains_on_a_subset_and_predicts_every_cell(tmp_path):
    from benchmark import contract
    from benchmark.methods import get_method
    from benchmark.methods.stimpute.params import StImputeParams

    assert StImputeParams().resolved(100).train_cells == 0  # small preset: all cells (the paper)
    assert StImputeParams().resolved(200_000).train_cells == 100_000
    assert StImputeParams(train_cells=0).resolved(200_000).train_cells == 0
    with pytest.raises(InputError, match="train_cells"):
        StImputeParams(train_cells=1).resolved(100)
    data = make_synthetic_pair(n_spatial=300, n_reference=200, n_shared=12, n_reference_only=4, n_types=3,
                               n_modules=3, seed=2)
    task = contract.make_task(contract.prepare_pair(data), tmp_path)
    sub = get_method("stimpute", train_cells=120).fit_predict(task).check(task)
    full = get_method("stimpute").fit_predict(task).check(task)
    assert sub.info["train_cells"] == 120 and full.info["train_cells"] == 300
    assert sub.expression.shape == full.expression.shape and np.isfinite(sub.expression.to_numpy()).all()
    assert not np.allclose(sub.expression.to_numpy(), full.expression.to_numpy())  # it really trained differently


@pytest.mark.parametrize("sparse", [False, True])
def test_chunked_gnn_training_equals_one_pass(monkeypatch, sparse):
    """Training in cache-sized chunks (two passes per step) gives the weights of whole-batch steps."""
    from benchmark.methods.stimpute import training
    from benchmark.methods.stimpute.module import GeneGNN, SparseGeneGraph

    torch.manual_seed(2)
    n, n_ref, g, k = 60, 30, 8, 5
    adj = _graph(g, 2)
    graph = SparseGeneGraph(adj) if sparse else adj
    ref, y = torch.rand(n_ref, g), torch.rand(n, g)
    nbr = torch.randint(0, n_ref, (n, k))

    monkeypatch.setattr(training, "CHUNK_FROM_ELEMENTS", 0)

    def train(chunk_elements):
        monkeypatch.setattr(training, "CHUNK_ELEMENTS", chunk_elements)
        torch.manual_seed(0)
        gnn = GeneGNN(k, hidden=6, layers=2, mlp_hidden=(5,))
        opt = torch.optim.Adam(gnn.parameters(), lr=0.01)
        losses = training.train_gnn(gnn, opt, ref, nbr, y, graph, epochs=3, batch_size=25, sim_weight=1.0,
                                    rec_weight=1.0, centering="global", gen=torch.Generator().manual_seed(0))
        return gnn, losses

    whole, whole_losses = train(2**30)
    assert training.chunk_cells(g, 6) >= 25  # one chunk per batch
    chunked, chunked_losses = train(g * 6 * 4)  # 4 cells per chunk: 7 chunks per batch of 25
    assert training.chunk_cells(g, 6) == 4
    np.testing.assert_allclose(chunked_losses, whole_losses, rtol=1e-5)
    for a, b in zip(whole.parameters(), chunked.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    # chunked prediction is the same function
    small = training.predict_gnn(chunked, ref, nbr, graph, 60)
    monkeypatch.setattr(training, "CHUNK_ELEMENTS", 2**30)
    torch.testing.assert_close(small, training.predict_gnn(chunked, ref, nbr, graph, 60))
    # chunks are for the CPU cache: a GPU evaluates the batch whole
    monkeypatch.setattr(training, "CHUNK_ELEMENTS", g * 6 * 4)
    assert len(training._gnn_chunks(chunked, 25, g, k, torch.device("cpu"))) == 7
    assert len(training._gnn_chunks(chunked, 25, g, k, torch.device("cuda"))) == 1


def test_knn_control_in_batches_of_cells_equals_one_batch(tmp_path):
    from benchmark import contract
    from benchmark.datasets.synthetic import make_synthetic_pair
    from benchmark.methods import get_method

    prep = contract.prepare_pair(make_synthetic_pair(n_spatial=120, n_reference=90, n_shared=10,
                                                     n_reference_only=3, seed=4, name="kb"))
    task = contract.make_task(prep, tmp_path)
    whole = get_method("knn").fit_predict(task).expression
    method = get_method("knn")
    method.batch_cells = 13
    batched = method.fit_predict(task).expression
    pd.testing.assert_frame_equal(whole, batched)


@pytest.mark.parametrize("device, preloaded", [("cpu", True), ("cuda", False), ("auto", False)])
def test_gpu_runs_do_not_preload_modules_that_initialise_cuda_before_the_fork(device, preloaded):
    # torch_geometric calls torch.cuda.is_available() on import; after that a forked job cannot use
    # CUDA ("initialization error"), which is what the first GPU run of `benchmark scale` hit.
    import subprocess
    import sys

    code = ("import sys; from benchmark.runner import warm_imports; "
            f"warm_imports(['stimpute'], device={device!r}); print('torch_geometric' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == str(preloaded)
