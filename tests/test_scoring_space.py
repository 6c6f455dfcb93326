"""Scoring spaces (``--scoring-space``): the inverse of each preprocessing scheme, counts-space
scoring through the harness, the ``cellsize`` control, the option's CLI/YAML/leaderboard round
trip, and the ``skipped`` row of a space a run cannot score in."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from benchmark.datasets import preprocessing as pp
from benchmark.errors import BenchmarkError, InputError
from benchmark.harness import RunConfig, run_benchmark
from benchmark.methods.base import Method, MethodInfo
from benchmark.results import read_results
from benchmark.task import COUNTS_LAYER, ImputationTask, Prediction

from _helpers import registered

SCHEMES = list(pp.COUNTS_INVERSES)


def _counts(seed: int = 0, n: int = 160, g: int = 12) -> np.ndarray:
    rng = np.random.default_rng(seed)
    size = rng.gamma(2.0, 3.0, size=(n, 1))  # cells of different sizes, so the divisors matter
    c = rng.poisson(size * rng.gamma(1.0, 1.0, size=(1, g))).astype(np.float64)
    c[5] = 0.0  # an empty cell: every scheme leaves it at zero
    return c


def test_every_scheme_is_either_invertible_or_says_why_not():
    assert set(pp.PREPROCESSING) == set(pp.COUNTS_INVERSES) | set(pp.NO_COUNTS_INVERSE)
    for name in pp.PREPROCESSING:
        assert (pp.get_counts_inverse(name) is None) == bool(pp.no_counts_inverse_reason(name))


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("sparse", [False, True])
def test_inverse_round_trips_the_forward_normalisation(scheme, sparse):
    counts = _counts()
    given = sp.csr_matrix(counts) if sparse else counts
    x = pp.get_preprocessing(scheme)(given)
    inv = pp.get_counts_inverse(scheme)
    back = inv.to_counts(x, given)
    # the forward scheme works in float32: equal up to its precision
    np.testing.assert_allclose(back, counts, rtol=1e-5, atol=1e-4)
    # and from_counts is the forward scheme with the same divisors
    x_dense = x.toarray() if sp.issparse(x) else x
    np.testing.assert_allclose(inv.from_counts(counts, given), x_dense, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_inverse_of_other_genes_uses_the_basis_cells_size(scheme):
    """Held-out genes are taken back with the divisors of the training genes: put on the scale
    with the training counts as the basis, they come back exactly, and a wrong basis does not."""
    counts = _counts(seed=3)
    train, held = counts[:, :8], counts[:, 8:]
    inv = pp.get_counts_inverse(scheme)
    x = inv.from_counts(held, train)
    live = inv.divisors(train) > 0
    np.testing.assert_allclose(inv.to_counts(x, train)[live], held[live], rtol=1e-10)
    other = counts[:, 4:]  # another gene set's sizes give other counts
    if scheme == "raw":  # except for raw counts, whose divisor is 1 whatever the basis
        np.testing.assert_array_equal(inv.to_counts(x, other), held)
    else:
        assert not np.allclose(inv.to_counts(x, other)[live], held[live], rtol=1e-3)
    with pytest.raises(ValueError, match="same cells"):
        inv.to_counts(x[:10], train)


# -- through the harness -------------------------------------------------------------------------

class _TrueCountsOnTaskScale(Method):
    """Test-only cheat: the held-out genes' true counts, put on the task's scale with the task's
    own training-gene counts. Taken back to counts it must be exactly the truth."""

    info = MethodInfo(name="ss-true-counts", summary="test only", control=True)
    source = None  # the spatial AnnData with raw counts, set by the test

    @dataclass
    class Params:
        pass

    def fit_predict(self, task: ImputationTask) -> Prediction:
        src = type(self).source
        true = np.asarray(src[list(task.spatial.obs_names), task.target_genes].X, dtype=np.float64)
        basis = task.spatial.layers[COUNTS_LAYER]
        values = pp.get_counts_inverse(task.preprocessing).from_counts(true, basis)
        return Prediction(pd.DataFrame(values, index=task.spatial.obs_names, columns=task.target_genes))


def _agg(df, method, metric, scope="gene", fold="all", stat="mean"):
    sel = df[(df.method == method) & (df.metric == metric) & (df.scope == scope) & (df.fold == fold)
             & (df.stat == stat) & (df.item == "")]
    assert len(sel) == 1, (method, metric, scope, fold, stat, len(sel))
    return float(sel["value"].iloc[0])


@pytest.mark.parametrize("scheme,protocol", [("spage", "kfold"), ("scran", "kfold"), ("tangram", "cellsplit")])
def test_a_prediction_equal_to_the_truth_scores_pcc_1_in_counts_space(tiny_pair, tmp_path, scheme, protocol):
    # a cell with no training counts has no size (divisor 0), so its predicted counts are 0 whatever
    # the method says; one count more of every gene keeps every cell sized in every fold
    x = tiny_pair.spatial.X
    tiny_pair.spatial.X = (x.toarray() if sp.issparse(x) else np.asarray(x)) + 1.0
    _TrueCountsOnTaskScale.source = tiny_pair.spatial
    kw = dict(n_folds=3) if protocol == "kfold" else dict(n_folds=3, holdout_fraction=0.4, repeats=1)
    cfg = RunConfig(methods=["ss-true-counts", "mean"], out=tmp_path / "run", preprocessing=scheme, protocol=protocol,
                    scoring_space="counts", cluster=False, isolate=False, **kw)
    with registered(_TrueCountsOnTaskScale):
        res = run_benchmark(cfg, [tiny_pair], progress=False)
    df = res.results
    assert set(df["scoring_space"]) == {"counts"}
    assert json.loads((res.out / "run.json").read_text())["config"]["scoring_space"] == "counts"
    fold = "all" if protocol == "kfold" else "r0"
    genes = df[(df.method == "ss-true-counts") & (df.metric == "pcc") & (df.scope == "gene") & (df.fold == fold)
               & (df.stat == "value")]
    assert len(genes) == (15 if protocol == "kfold" else 6)
    np.testing.assert_allclose(genes["value"].to_numpy(), 1.0, atol=1e-6)
    assert _agg(df, "ss-true-counts", "mse", fold=fold) < 1e-6
    # the truth here is raw counts: the mean control's MSE is on the counts' scale, not the log scale
    assert _agg(df, "mean", "mse", fold=fold) > 1.0


def test_default_space_is_normalized_and_cellsize_is_a_default_control(tiny_pair, tmp_path):
    from benchmark.methods import default_methods

    assert {"mean", "knn", "cellsize"} <= set(default_methods())
    assert RunConfig().scoring_space == "normalized"
    res = run_benchmark(RunConfig(methods=["mean"], n_folds=3, out=tmp_path / "r", cluster=False, isolate=False),
                        [tiny_pair], progress=False)
    assert set(res.results["scoring_space"]) == {"normalized"}


# -- the cellsize control ------------------------------------------------------------------------

@pytest.mark.parametrize("scheme", SCHEMES)
def test_cellsize_in_counts_space_is_proportional_to_the_training_total(tiny_pair, tmp_path, scheme):
    from benchmark import contract
    from benchmark.methods import get_method

    prep = contract.prepare_pair(tiny_pair, scheme)
    task = contract.make_task(prep, tmp_path / "w")
    pred = get_method("cellsize").fit_predict(task).check(task)
    basis = task.spatial.layers[COUNTS_LAYER]
    basis_dense = basis.toarray() if sp.issparse(basis) else np.asarray(basis)
    totals = basis_dense.sum(axis=1, dtype=np.float64)
    counts = pp.get_counts_inverse(scheme).to_counts(pred.expression.to_numpy(), basis)
    live = totals > 0
    ratio = counts[live] / totals[live, None]  # cells x genes: must be one value per gene
    np.testing.assert_allclose(ratio, np.broadcast_to(ratio[0], ratio.shape), rtol=1e-9)
    # that value is the reference's count of the gene per count of the training genes
    ref = task.reference.layers[COUNTS_LAYER]
    ref = (ref.toarray() if sp.issparse(ref) else np.asarray(ref)).astype(np.float64)
    names = list(task.reference.var_names)
    share = ref[:, [names.index(g) for g in task.target_genes]].sum(axis=0) / \
        ref[:, [names.index(g) for g in task.training_genes]].sum()
    np.testing.assert_allclose(ratio[0], share, rtol=1e-9)
    assert np.all(counts[~live] == 0)


def test_cellsize_gene_pcc_in_counts_space_is_that_of_the_cell_total(tiny_pair, tmp_path):
    """Through the harness, cellsize's per-gene PCC in counts space equals the PCC of each held-out
    gene's counts with the cell's training-gene total of that gene's fold, computed here directly."""
    cfg = RunConfig(methods=["cellsize"], n_folds=3, out=tmp_path / "run", scoring_space="counts", cluster=False,
                    isolate=False)
    res = run_benchmark(cfg, [tiny_pair], progress=False)
    df = res.results
    from benchmark.harness import make_splits
    from benchmark.prepare import prepare

    genes = list(tiny_pair.spatial.var_names.intersection(tiny_pair.reference.var_names))
    prep = prepare(tiny_pair, [g for g in tiny_pair.spatial.var_names if g in set(genes)])
    x = np.asarray(tiny_pair.spatial[:, prep.shared].X, dtype=np.float64)
    x = pd.DataFrame(x, columns=prep.shared)
    expected = {}
    for split in make_splits(cfg, prep.shared, 0, prep):
        total = x[list(split.train_genes)].sum(axis=1)
        for g in split.target_genes:
            expected[g] = np.corrcoef(total, x[g])[0, 1]
    got = df[(df.metric == "pcc") & (df.scope == "gene") & (df.fold == "all") & (df.stat == "value")]
    got = dict(zip(got["item"], got["value"]))
    assert set(got) == set(expected)
    np.testing.assert_allclose([got[g] for g in expected], list(expected.values()), atol=1e-9)


def test_cellsize_refuses_a_scheme_without_inverse(tiny_pair, tmp_path, monkeypatch):
    from benchmark import contract
    from benchmark.methods import get_method

    task = contract.make_task(contract.prepare_pair(tiny_pair, "spage"), tmp_path / "w")
    monkeypatch.setitem(pp.NO_COUNTS_INVERSE, "spage", "pretend")
    monkeypatch.delitem(pp.COUNTS_INVERSES, "spage")
    with pytest.raises(BenchmarkError, match="no inverse|has none"):
        get_method("cellsize").fit_predict(task)


# -- a space a run cannot score in -----------------------------------------------------------------

def _rank_scheme(counts):
    """A test scheme with no inverse to counts: each cell's within-cell ranks of its genes."""
    from scipy.stats import rankdata

    x = counts.toarray() if sp.issparse(counts) else np.asarray(counts, dtype=np.float64)
    return rankdata(x, axis=1).astype(np.float32)


def test_a_scheme_without_inverse_gives_a_skipped_row_not_a_number(tiny_pair, tmp_path, monkeypatch):
    monkeypatch.setitem(pp.PREPROCESSING, "ranks", _rank_scheme)
    monkeypatch.setitem(pp.NO_COUNTS_INVERSE, "ranks", "within-cell ranks lose the counts")
    cfg = RunConfig(methods=["mean", "knn"], n_folds=3, out=tmp_path / "run", preprocessing="ranks",
                    scoring_space="counts", cluster=False, isolate=False)
    df = run_benchmark(cfg, [tiny_pair], progress=False).results
    skipped = df[(df.stat == "skipped") & (df.metric == "scoring_space")]
    assert sorted(skipped["method"]) == ["knn", "mean"]
    assert skipped["item"].str.contains("within-cell ranks lose the counts").all()
    assert skipped["value"].isna().all()
    # no expression score at all, in any fold; the job's runtime is still recorded
    assert df[df.scope.isin(["cell", "gene"])].empty
    assert not df[df.metric == "runtime_s"].empty
    # the same run in the normalised space scores as usual
    cfg.scoring_space, cfg.out = "normalized", tmp_path / "run2"
    df2 = run_benchmark(cfg, [tiny_pair], progress=False).results
    assert not (df2.metric == "scoring_space").any() and not df2[df2.scope == "gene"].empty


def test_the_truth_oracle_is_skipped_in_counts_space(tiny_pair, tmp_path):
    cfg = RunConfig(methods=["truth", "mean"], n_folds=3, out=tmp_path / "run", scoring_space="counts",
                    cluster=False, isolate=False)
    df = run_benchmark(cfg, [tiny_pair], progress=False).results
    skipped = df[(df.stat == "skipped") & (df.metric == "scoring_space")]
    assert list(skipped["method"]) == ["truth"] and "training genes" in skipped["item"].iloc[0]
    assert df[(df.method == "truth") & (df.scope == "gene")].empty
    assert not df[(df.method == "mean") & (df.scope == "gene")].empty


# -- the option: CLI, YAML, run.json, leaderboard --------------------------------------------------

def test_scoring_space_cli_yaml_and_leaderboard_round_trip(tmp_path):
    import shlex

    from benchmark.cli import build_parser
    from benchmark.leaderboard import _cli_command, _provenance
    from benchmark.run_config import build_run_config

    parser = build_parser()
    cfg = build_run_config(parser.parse_args(["run", "--scoring-space", "counts"]))
    assert cfg.scoring_space == "counts"
    assert build_run_config(parser.parse_args(["run"])).scoring_space == "normalized"
    with pytest.raises(SystemExit):  # argparse refuses a space it does not know
        parser.parse_args(["run", "--scoring-space", "raw"])

    yaml_file = tmp_path / "run.yaml"
    yaml_file.write_text("scoring_space: counts\nmethods: [mean]\n")
    from_yaml = build_run_config(parser.parse_args(["run", "--config", str(yaml_file)]))
    assert from_yaml.scoring_space == "counts"
    overridden = build_run_config(parser.parse_args(["run", "--config", str(yaml_file),
                                                     "--scoring-space", "normalized"]))
    assert overridden.scoring_space == "normalized"  # a flag overrides the file
    yaml_file.write_text("scoring_space: raw\n")
    with pytest.raises(InputError, match="scoring_space"):
        build_run_config(parser.parse_args(["run", "--config", str(yaml_file)]))

    # run.json's config -> the leaderboard's command -> the same option again
    run = {"command": ["benchmark", "run"], "config": from_yaml.to_json()}
    cmd = _cli_command(run)
    assert "--scoring-space counts" in cmd
    again = build_run_config(parser.parse_args(shlex.split(cmd)[3:]))
    assert again.scoring_space == "counts"
    assert _provenance(run)["protocol"]["scoring_space"] == "counts"
    default_run = {"command": ["benchmark", "run"], "config": RunConfig().to_json()}
    assert "--scoring-space" not in _cli_command(default_run)


def test_an_unknown_space_stops_the_run_before_any_file(tiny_pair, tmp_path):
    from benchmark.errors import UnknownNameError

    out = tmp_path / "run"
    with pytest.raises(UnknownNameError, match="scoring space"):
        run_benchmark(RunConfig(methods=["mean"], n_folds=3, out=out, scoring_space="raw"), [tiny_pair],
                      progress=False)
    assert not out.exists()
