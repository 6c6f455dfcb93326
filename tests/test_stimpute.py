"""stImpute: gene graph, parameters, bad inputs, reliability scores, ablations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmark.errors import InputError

torch = pytest.importorskip("torch", reason="stImpute needs torch")
pytest.importorskip("torch_geometric", reason="stImpute needs torch-geometric")

from benchmark import contract  # noqa: E402
from benchmark.datasets.synthetic import make_synthetic_pair  # noqa: E402
from benchmark.methods import all_methods, get_method  # noqa: E402
from benchmark.methods.stimpute.graph import (  # noqa: E402
    adjacency,
    cosine_similarity_matrix,
    gene_similarity,
    validate_embeddings,
)
from benchmark.methods.stimpute.params import LARGE_DATA_CELLS, StImputeParams  # noqa: E402


@pytest.fixture(scope="module")
def prep():
    data = make_synthetic_pair(n_spatial=200, n_reference=250, n_shared=12, n_reference_only=6, n_types=3,
                               n_modules=3, seed=3, name="st")
    return contract.prepare_pair(data)


def test_protein_similarity_overrides_expression_and_missing_genes_fall_back():
    rng = np.random.default_rng(0)
    expr = rng.random((100, 4))
    genes = ["a", "b", "c", "d"]
    emb = pd.DataFrame(rng.normal(size=(3, 8)), index=["a", "b", "c"])
    sim, has = gene_similarity(genes, expr, emb)
    assert has.tolist() == [True, True, True, False]
    protein = cosine_similarity_matrix(emb.to_numpy().T)
    expression = cosine_similarity_matrix(expr)
    np.testing.assert_allclose(sim[:3, :3], protein)  # both have embeddings: protein (Eq. 6)
    np.testing.assert_allclose(sim[3, :], expression[3, :])  # "d" has none: expression (Eq. 5)
    np.testing.assert_allclose(sim[:, 3], expression[:, 3])
    sim_none, has_none = gene_similarity(genes, expr, None)
    np.testing.assert_allclose(sim_none, expression)
    assert not has_none.any()


def test_adjacency_weights():
    sim = np.array([[1.0, 0.8, -0.2], [0.8, 1.0, 0.4], [-0.2, 0.4, 1.0]])
    a = adjacency(sim, "similarity")
    assert np.allclose(np.diag(a), 0) and np.allclose(a.sum(1), 1)
    assert a[0, 2] == 0  # negative similarity clipped
    assert a[1, 0] == pytest.approx(0.8 / 1.2)
    d = adjacency(sim, "distance")
    assert d[1, 0] == pytest.approx(0.2 / (0.2 + 0.6))
    top = adjacency(sim, "similarity", top_m=1)
    assert (np.count_nonzero(top, axis=1) == 1).all()


@pytest.mark.parametrize("bad,msg", [
    (pd.DataFrame(np.ones((2, 3)), index=["a", "a"]), "duplicated genes"),
    (pd.DataFrame([[1.0, np.nan]], index=["a"]), "NaN"),
])
def test_bad_embeddings(bad, msg):
    with pytest.raises(InputError, match=msg):
        validate_embeddings(bad)


def test_embedding_dimension_is_checked():
    with pytest.raises(InputError, match="2 dimensions, expected 2560"):
        validate_embeddings(pd.DataFrame(np.ones((3, 2)), index=list("abc")), expected_dim=2560)


def test_bad_embeddings_reach_the_user_through_the_method(prep, tmp_path):
    task = contract.make_task(prep, tmp_path)
    emb = task.gene_embeddings
    task.gene_embeddings = pd.concat([emb, emb.iloc[:1]])
    with pytest.raises(InputError, match="duplicated genes"):
        get_method("stimpute").fit_predict(task)


def test_genes_absent_from_reference(prep, tmp_path):
    task = contract.make_task(prep, tmp_path)
    task.target_genes = task.target_genes + ["NotInReference"]
    with pytest.raises(InputError, match="absent from the reference.*NotInReference"):
        get_method("stimpute").fit_predict(task)


def test_presets_follow_the_number_of_cells():
    small = StImputeParams().resolved(LARGE_DATA_CELLS - 1)
    large = StImputeParams().resolved(LARGE_DATA_CELLS)
    assert (small.preset, small.k, small.alpha, small.gnn_epochs) == ("small", 50, 0.7, 10)
    assert (large.preset, large.k, large.alpha, large.gnn_epochs) == ("large", 20, 0.5, 32)
    assert StImputeParams(k=7).resolved(100).k == 7  # explicit values win over the preset
    quick = StImputeParams().resolved(100, quick=True)
    assert quick.ae_epochs == 6 and quick.gnn_epochs == 2
    with pytest.raises(InputError):
        StImputeParams(alpha=2.0).resolved(100)


def test_prediction_confidence_and_info(prep, tmp_path):
    task = contract.make_task(prep, tmp_path)
    pred = get_method("stimpute").fit_predict(task).check(task)
    assert list(pred.expression.columns) == task.target_genes
    assert pred.expression.shape == (task.n_cells, len(task.target_genes))
    conf = pred.confidence
    assert list(conf.index) == task.target_genes
    assert np.isfinite(conf).all() and (conf >= -1).all() and (conf <= 1).all()
    info = pred.info
    assert info["genes_with_embedding"] > 0 and info["genes_in_graph"] == len(task.training_genes) + len(
        task.target_genes)
    assert len(info["training_gene_reliability_oof"]) == len(task.training_genes)
    assert info["params"]["preset"] == "small"


def test_gnn_learns(prep, tmp_path):
    """Training lowers the GNN loss in every round (the networks really train)."""
    task = contract.make_task(prep, tmp_path)
    task.quick = False
    info = get_method("stimpute").fit_predict(task).info
    for first, last in info["gnn_loss_per_round_first_last"]:
        assert last < first


VARIANTS = [n for n, c in all_methods().items() if c.info.variant_of == "stimpute"]


def test_all_ablations_are_registered():
    assert {"stimpute-no-gnn", "stimpute-no-esm", "stimpute-no-sim-loss", "stimpute-no-rec-loss",
            "stimpute-single-round"} <= set(VARIANTS)


@pytest.mark.parametrize("name", VARIANTS)
def test_each_ablation_runs(name, prep, tmp_path):
    task = contract.make_task(prep, tmp_path)
    method = get_method(name)
    pred = method.fit_predict(task).check(task)
    assert np.isfinite(pred.expression.to_numpy()).all()
    overrides = type(method).overrides
    for key, value in overrides.items():
        assert getattr(method.params, key) == value
    if name == "stimpute-no-esm":
        assert pred.info["genes_with_embedding"] == 0
    if name == "stimpute-no-gnn":
        assert pred.info["gnn_loss_per_round_first_last"] == []


def test_ablation_params_can_still_be_overridden():
    m = get_method("stimpute-no-gnn", k=5)
    assert m.params.k == 5 and m.params.use_gnn is False


def test_sparse_graph_variant_matches_interface(prep, tmp_path):
    task = contract.make_task(prep, tmp_path)
    pred = get_method("stimpute", graph_top_m=3).fit_predict(task).check(task)
    assert np.isfinite(pred.expression.to_numpy()).all()


def test_graph_top_m_auto_follows_the_panel_size():
    """``"auto"`` keeps the paper's dense graph for panels up to DENSE_GRAPH_MAX_GENES genes and
    sparsifies above; explicit values win; nonsense is a clear error."""
    from benchmark.methods.stimpute.params import AUTO_GRAPH_TOP_M, DENSE_GRAPH_MAX_GENES

    assert StImputeParams().graph_top_m == "auto"
    assert StImputeParams().resolved(100, n_genes=DENSE_GRAPH_MAX_GENES).graph_top_m is None
    assert StImputeParams().resolved(100, n_genes=DENSE_GRAPH_MAX_GENES + 1).graph_top_m == AUTO_GRAPH_TOP_M
    assert StImputeParams().resolved(100).graph_top_m is None  # panel size unknown: the paper's graph
    assert StImputeParams(graph_top_m=None).resolved(100, n_genes=5000).graph_top_m is None
    assert StImputeParams(graph_top_m=7).resolved(100, n_genes=10).graph_top_m == 7
    for bad in ("sparse", 0, True):
        with pytest.raises(InputError, match="graph_top_m must be 'auto', None"):
            StImputeParams(graph_top_m=bad).resolved(100, n_genes=10)


def test_auto_graph_reaches_the_network_for_a_large_panel(prep, tmp_path, monkeypatch):
    """fit_predict resolves ``"auto"`` from the task's genes (training + targets): with the
    threshold lowered below this panel, the job builds the sparse graph and records it."""
    from benchmark.methods.stimpute import params as params_module

    task = contract.make_task(prep, tmp_path)
    n_genes = len(task.spatial.var_names) + len(task.target_genes)
    dense = get_method("stimpute", ae_epochs=1, gnn_epochs=1, rounds=1, reliability=False).fit_predict(task)
    assert dense.info["params"]["graph_top_m"] is None
    monkeypatch.setattr(params_module, "DENSE_GRAPH_MAX_GENES", n_genes - 1)
    sparse = get_method("stimpute", ae_epochs=1, gnn_epochs=1, rounds=1, reliability=False).fit_predict(task)
    assert sparse.info["params"]["graph_top_m"] == params_module.AUTO_GRAPH_TOP_M
    assert np.isfinite(sparse.check(task).expression.to_numpy()).all()


def test_sparse_and_dense_gnn_aggregate_alike():
    """The same network gives the same output over a dense graph and its sparse form, and matches
    PyG's DenseSAGEConv layers applied one after the other."""
    from torch.nn import functional as F

    from benchmark.methods.stimpute.module import GeneGNN, SparseGeneGraph
    from benchmark.methods.stimpute.training import aggregate_reference

    torch.manual_seed(0)
    w = torch.rand(5, 5)
    w.fill_diagonal_(0)
    w[w < 0.4] = 0  # some edges pruned, as graph_top_m does
    w = w / w.sum(1, keepdim=True).clamp(min=1e-12)
    gnn = GeneGNN(4, 6, 2, (8,))
    x = torch.rand(3, 5, 4)
    dense = gnn(x, w)
    torch.testing.assert_close(dense, gnn(x, SparseGeneGraph(w)))
    h = x
    for conv in gnn.convs:  # PyG's own layer, graph repeated per cell
        h = F.normalize(F.relu(conv(h, w.expand(3, 5, 5))), p=2.0, dim=-1)
    torch.testing.assert_close(dense, gnn.head(h).reshape(3, 5))
    ref = torch.rand(7, 5)
    torch.testing.assert_close(aggregate_reference(ref, w), aggregate_reference(ref, SparseGeneGraph(w)))


@pytest.mark.parametrize("name", VARIANTS)
def test_each_ablation_changes_the_output(name, prep, tmp_path):
    """An ablation that leaves stImpute's prediction unchanged measures nothing. The task gets a
    (random) embedding table for most genes so that the protein-graph ablation has something to remove."""
    def predict(method_name, workdir):
        task = contract.make_task(prep, workdir)
        genes = list(task.spatial.var_names) + list(task.target_genes)
        rng = np.random.default_rng(0)
        task.gene_embeddings = pd.DataFrame(rng.normal(size=(len(genes) - 2, 16)), index=genes[:-2])
        return get_method(method_name).fit_predict(task).check(task).expression.to_numpy()

    full = predict("stimpute", tmp_path / "full")
    ablated = predict(name, tmp_path / name)
    assert full.shape == ablated.shape
    diff = float(np.max(np.abs(full - ablated)))
    assert diff > 1e-4, f"{name} gave stImpute's prediction (max difference {diff:.2g})"
