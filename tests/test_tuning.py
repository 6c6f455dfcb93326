"""Tuning parity (``run --tune``): the same budget per method, chosen by inner CV on training genes."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from benchmark import contract
from benchmark.datasets.preprocessing import get_preprocessing
from benchmark.harness import RunConfig, run_benchmark
from benchmark.methods import all_methods
from benchmark.methods.base import Method, MethodInfo
from benchmark.task import ImputationTask, Prediction
from benchmark.tuning import base_name, candidate_configs, inner_tasks, tune_and_predict, tuned_name

from _helpers import registered


class Noisy(Method):
    """The kNN control's output plus seeded noise of scale ``noise``: the best setting is no noise."""

    info = MethodInfo(name="test-noisy", summary="tuning test method")
    search_space = {"noise": (1.0, 0.0, 0.5, 3.0)}

    @dataclass
    class Params:
        noise: float = 1.0

    def fit_predict(self, task: ImputationTask) -> Prediction:
        from benchmark.methods import get_method

        pred = get_method("knn", k=10).fit_predict(task).expression
        rng = np.random.default_rng(task.seed)
        return Prediction(pred + self.params.noise * rng.standard_normal(pred.shape))


def test_candidate_configs_default_first_budget_and_fixed_parameters():
    cls = all_methods()["knn"]
    configs = candidate_configs(cls, {}, 3, seed=0)
    assert configs[0] == {"k": 20} and len(configs) == 3 and len({c["k"] for c in configs}) == 3
    assert candidate_configs(cls, {}, 3, seed=0) == configs  # seeded
    assert len(candidate_configs(cls, {}, 100, seed=0)) == len(cls.search_space["k"])  # the whole grid
    assert candidate_configs(cls, {"k": 7}, 3, seed=0) == []  # a value the user fixed is not searched
    two = all_methods()["harmony-knn"]
    first = candidate_configs(two, {"k": 5}, 4, seed=1)
    assert first[0] == {"n_pcs": 50} and all(set(c) == {"n_pcs"} for c in first)


@pytest.mark.parametrize("name", [n for n, c in all_methods(include_oracles=False).items() if c.search_space])
def test_every_declared_search_space_gives_valid_parameters(name):
    cls = all_methods()[name]
    configs = candidate_configs(cls, {}, 10_000, seed=0)
    assert len(configs) >= 2, "a search space needs a value besides the default"
    for config in configs:
        cls(**config)  # unknown names or invalid values fail here


def test_inner_tasks_hide_training_genes_and_renormalise(tiny_pair, tmp_path):
    prep = contract.prepare_pair(tiny_pair)
    task = contract.make_task(prep, tmp_path)
    inner = inner_tasks(task, 3)
    held = [g for sub in inner for g in sub.target_genes]
    assert sorted(held) == sorted(task.training_genes)  # each training gene held out once
    for sub in inner:
        assert not set(sub.target_genes) & set(sub.training_genes)
        assert not set(task.target_genes) & set(sub.training_genes + sub.target_genes)
        counts = np.asarray(task.spatial[:, sub.training_genes].layers["counts"])
        expected = get_preprocessing(task.preprocessing)(counts.copy())
        np.testing.assert_allclose(np.asarray(sub.spatial.X), np.asarray(expected))
        assert list(sub.spatial.obs_names) == list(task.spatial.obs_names)


def test_inner_tasks_on_a_cell_subsample(tiny_pair, tmp_path):
    """max_cells: every inner task holds the same seeded subsample of spatial and reference cells,
    its spatial values renormalised over those cells and the inner training genes."""
    prep = contract.prepare_pair(tiny_pair)
    task = contract.make_task(prep, tmp_path)
    inner = inner_tasks(task, 3, max_cells=120)
    again = inner_tasks(task, 3, max_cells=120)
    cells = list(inner[0].spatial.obs_names)
    ref_cells = list(inner[0].reference.obs_names)
    assert len(cells) == 120 and len(ref_cells) == 120 and len(set(cells)) == 120
    assert set(cells) <= set(task.spatial.obs_names) and set(ref_cells) <= set(task.reference.obs_names)
    for sub, sub2 in zip(inner, again):
        assert list(sub.spatial.obs_names) == cells and list(sub.reference.obs_names) == ref_cells
        assert list(sub2.spatial.obs_names) == cells  # seeded
        counts = np.asarray(task.spatial[cells, sub.training_genes].layers["counts"])
        expected = get_preprocessing(task.preprocessing)(counts.copy())
        np.testing.assert_allclose(np.asarray(sub.spatial.X), np.asarray(expected))
        np.testing.assert_array_equal(np.asarray(sub.reference.X), np.asarray(task.reference[ref_cells].X))
    # another seed, another subsample; a cap above the cell counts keeps every cell
    other = contract.make_task(prep, tmp_path / "other", seed=5)
    assert list(inner_tasks(other, 3, max_cells=120)[0].spatial.obs_names) != cells
    assert inner_tasks(task, 3, max_cells=10_000)[0].spatial.n_obs == task.spatial.n_obs
    with pytest.raises(ValueError, match="at least 2"):
        inner_tasks(task, 3, max_cells=1)


def test_tune_and_predict_picks_the_best_inner_score(tiny_pair, tmp_path):
    prep = contract.prepare_pair(tiny_pair)
    task = contract.make_task(prep, tmp_path)
    pred = tune_and_predict(Noisy, {}, task, budget=4, inner_folds=2)
    trials = pred.info["tuning"]["trials"]
    assert trials[0]["config"] == {"noise": 1.0}  # the default first
    scores = {t["config"]["noise"]: t["inner_gene_pcc"] for t in trials}
    assert scores[0.0] > scores[0.5] > scores[1.0] > scores[3.0]  # more noise, lower inner PCC
    assert pred.info["tuning"]["chosen"] == {"noise": 0.0}
    # the final prediction is the chosen configuration's, on the outer task
    direct = Noisy(noise=0.0).fit_predict(task).expression
    np.testing.assert_allclose(pred.expression.to_numpy(), direct.to_numpy())



class Unconverged(Noisy):
    """Noisy, but the configurations at or below ``flag_below`` noise report a solver that did not
    converge (as moSCOT does at a small epsilon): the best inner score is a flagged one."""

    info = MethodInfo(name="test-unconverged", summary="tuning test method")

    @dataclass
    class Params:
        noise: float = 1.0
        flag_below: float = 0.0

    def fit_predict(self, task: ImputationTask) -> Prediction:
        pred = super().fit_predict(task)
        converged = self.params.noise > self.params.flag_below
        return Prediction(pred.expression, info={"converged": converged, "convergence_detail": "" if converged
                                                 else "test: stopped at the iteration limit"})


def test_a_flagged_configuration_loses_to_an_unflagged_one(tiny_pair, tmp_path):
    prep = contract.prepare_pair(tiny_pair)
    task = contract.make_task(prep, tmp_path)
    pred = tune_and_predict(Unconverged, {"flag_below": 0.0}, task, budget=4, inner_folds=2)
    tuning = pred.info["tuning"]
    by_noise = {t["config"]["noise"]: t for t in tuning["trials"]}
    assert by_noise[0.0]["flags"] == ["not_converged"] and by_noise[0.5]["flags"] == []
    assert by_noise[0.0]["inner_gene_pcc"] > by_noise[0.5]["inner_gene_pcc"]  # the flagged one scores best
    assert tuning["chosen"] == {"noise": 0.5} and tuning["chose_flagged"] is False
    np.testing.assert_allclose(pred.expression.to_numpy(),
                               Unconverged(noise=0.5).fit_predict(task).expression.to_numpy())
    # every configuration flagged: the best of them, and the record says so
    every = tune_and_predict(Unconverged, {"flag_below": 5.0}, task, budget=4, inner_folds=2).info["tuning"]
    assert all(t["flags"] == ["not_converged"] for t in every["trials"])
    assert every["chosen"] == {"noise": 0.0} and every["chose_flagged"] is True


def test_the_selection_rule_is_part_of_a_tuned_jobs_key(monkeypatch):
    from benchmark import tuning
    from benchmark.runner import Job
    from benchmark.splits import GeneSplit

    split = GeneSplit(protocol="kfold", index=0, train_genes=("a", "b"), target_genes=("c",))
    job = Job("d", "knn+tuned", {}, split, 0, tune={"budget": 4, "inner_folds": 3})
    default = Job("d", "knn", {}, split, 0)
    before = job.key("fp", "code"), default.key("fp", "code")
    monkeypatch.setattr(tuning, "SELECTION_VERSION", tuning.SELECTION_VERSION + 1)
    assert job.key("fp", "code") != before[0]  # a rule change recomputes tuned jobs
    assert default.key("fp", "code") == before[1]  # and only them


def test_tune_on_a_cell_subsample_predicts_every_cell(tiny_pair, tmp_path):
    prep = contract.prepare_pair(tiny_pair)
    task = contract.make_task(prep, tmp_path)
    pred = tune_and_predict(Noisy, {}, task, budget=4, inner_folds=2, max_cells=150)
    assert pred.info["tuning"]["inner_cells"] == {"spatial": 150, "reference": 150}
    assert pred.info["tuning"]["chosen"] == {"noise": 0.0}  # the same choice on half the cells
    assert list(pred.expression.index) == list(task.spatial.obs_names)
    np.testing.assert_allclose(pred.expression.to_numpy(), Noisy(noise=0.0).fit_predict(task).expression.to_numpy())
    full = tune_and_predict(Noisy, {}, task, budget=4, inner_folds=2)
    assert full.info["tuning"]["inner_cells"] == {"spatial": task.spatial.n_obs, "reference": task.reference.n_obs}


def test_tuned_rows_beside_default_rows_with_chosen_parameters(tiny_pair, tmp_path):
    base = run_benchmark(RunConfig(methods=["knn"], n_folds=3, cluster=False, out=tmp_path / "plain"),
                         [tiny_pair], progress=False)
    res = run_benchmark(RunConfig(methods=["knn", "mean"], n_folds=3, cluster=False, out=tmp_path / "tuned",
                                  tune=True, tune_budget=3, tune_folds=2), [tiny_pair], progress=False)
    assert set(res.jobs["method"]) == {"knn", "mean", tuned_name("knn")}  # mean has nothing to tune
    assert res.failures == []
    # the default rows are those of a run without --tune
    pd.testing.assert_series_equal(res.summary.loc[("tiny", "knn"), ["gene_pcc", "cell_css"]],
                                   base.summary.loc[("tiny", "knn"), ["gene_pcc", "cell_css"]])
    rows = res.results[(res.results["method"] == "knn+tuned") & (res.results["fold"] == "all")]
    params = json.loads(rows["params"].iloc[0])
    assert params["tune"] == {"budget": 3, "inner_folds": 2} and set(params["chosen"]) == {"0", "1", "2"}
    for fold, chosen in params["chosen"].items():
        assert set(chosen) == {"k"} and chosen["k"] in all_methods()["knn"].search_space["k"]
    # each job's choice is the best of its trials
    for key in res.jobs.loc[res.jobs["method"] == "knn+tuned", "cache_key"]:
        rec = json.loads(next((tmp_path / "tuned" / "cache").rglob(f"{key}/job.json")).read_text())
        trials = rec["info"]["tuning"]["trials"]
        assert len(trials) == 3
        best = max(trials, key=lambda t: t["inner_gene_pcc"])
        assert rec["info"]["tuning"]["chosen"] == best["config"]
    assert np.isfinite(res.summary.loc[("tiny", "knn+tuned"), "gene_pcc"])


def test_tune_options_round_trip_through_cli_yaml_and_the_reproducing_command(tmp_path):
    from benchmark.cli import build_parser
    from benchmark.leaderboard import _cli_command
    from benchmark.run_config import build_run_config, parse_config, to_run_config

    cfg = build_run_config(build_parser().parse_args(["run", "--tune", "--tune-budget", "2", "--tune-folds", "4"]))
    assert (cfg.tune, cfg.tune_budget, cfg.tune_folds) == (True, 2, 4)
    yaml_cfg = to_run_config(parse_config({"tune": True, "tune_budget": 2, "tune_folds": 4}))
    assert (yaml_cfg.tune, yaml_cfg.tune_budget, yaml_cfg.tune_folds) == (True, 2, 4)
    command = _cli_command({"config": cfg.to_json()})
    assert "--tune --tune-budget 2 --tune-folds 4" in command
    with pytest.raises(Exception, match="at least 2"):
        parse_config({"tune_folds": 1})
    cfg = build_run_config(build_parser().parse_args(["run", "--tune", "--tune-cells", "500"]))
    assert cfg.tune_cells == 500 and to_run_config(parse_config({"tune_cells": 500})).tune_cells == 500
    assert "--tune-cells 500" in _cli_command({"config": cfg.to_json()})
    assert build_run_config(build_parser().parse_args(["run"])).tune_cells is None
    with pytest.raises(Exception, match="at least 2"):
        parse_config({"tune_cells": 1})


def test_tune_cells_enters_the_tuned_jobs_key_and_params_only_when_set(tiny_pair, tmp_path):
    kw = dict(methods=["knn"], n_folds=3, cluster=False, tune=True, tune_budget=2, tune_folds=2)
    full = run_benchmark(RunConfig(**kw, out=tmp_path / "full"), [tiny_pair], progress=False)
    sub = run_benchmark(RunConfig(**kw, tune_cells=100, out=tmp_path / "sub"), [tiny_pair], progress=False)
    keys = {r: set(res.jobs.loc[res.jobs["method"] == "knn+tuned", "cache_key"]) for r, res in (("f", full), ("s", sub))}
    assert not keys["f"] & keys["s"]  # a subsampled tuning is another job
    default_keys = [set(res.jobs.loc[res.jobs["method"] == "knn", "cache_key"]) for res in (full, sub)]
    assert default_keys[0] == default_keys[1]  # the default rows do not depend on the tuning
    tuned = lambda res: json.loads(res.results.loc[(res.results["method"] == "knn+tuned")
                                                   & (res.results["fold"] == "all"), "params"].iloc[0])
    assert tuned(full)["tune"] == {"budget": 2, "inner_folds": 2}  # keys of earlier runs unchanged
    assert tuned(sub)["tune"] == {"budget": 2, "inner_folds": 2, "max_cells": 100}


def test_base_name_of_a_tuned_label():
    assert base_name("knn+tuned") == "knn" and base_name("knn") == "knn"


def test_tuned_only_runs_the_tuned_rows_and_the_methods_without_a_search_space(tiny_pair, tmp_path):
    from benchmark.errors import InputError

    kw = dict(methods=["knn", "mean"], n_folds=3, cluster=False, tune=True, tune_budget=2, tune_folds=2)
    both = run_benchmark(RunConfig(**kw, out=tmp_path / "both"), [tiny_pair], progress=False)
    only = run_benchmark(RunConfig(**kw, tuned_only=True, out=tmp_path / "only"), [tiny_pair], progress=False)
    assert set(both.jobs["method"]) == {"knn", "knn+tuned", "mean"}
    assert set(only.jobs["method"]) == {"knn+tuned", "mean"}  # mean has no search space: it runs as usual
    assert only.summary.loc[("tiny", "knn+tuned"), "gene_pcc"] == pytest.approx(
        both.summary.loc[("tiny", "knn+tuned"), "gene_pcc"])
    with pytest.raises(InputError, match="needs --tune"):
        run_benchmark(RunConfig(methods=["knn"], tuned_only=True, out=tmp_path / "bad"), [tiny_pair], progress=False)
