"""Quality flags: finished jobs whose output is a failure (constant, not converged, NaN loss) are
flagged in job.json, jobs.csv and the leaderboard; novoSpaRc and moSCOT report the epsilon they used."""

from __future__ import annotations

import json
import shutil
import types
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from benchmark import contract
from benchmark import leaderboard as lbm
from benchmark import quality
from benchmark.datasets.synthetic import make_synthetic_pair
from benchmark.harness import RunConfig, run_benchmark
from benchmark.methods import all_methods, get_method_class
from benchmark.methods._util import dense
from benchmark.methods.base import Method, MethodInfo
from benchmark.task import ImputationTask, Prediction

from _helpers import installed_method_class, registered


# -- the rules ----------------------------------------------------------------------------------

def test_constant_genes_are_counted_and_named():
    rng = np.random.default_rng(0)
    expr = pd.DataFrame({"a": rng.normal(size=50), "b": np.full(50, 2.5), "c": np.zeros(50)})
    out = quality.flags(expr, {}, None)
    assert quality.names(out) == ["constant_prediction"]
    assert out[0]["detail"] == "2 of 3 target genes constant across cells (b, c)"
    # real cell-to-cell variation is not flagged, float32 rounding noise around a constant is
    assert not quality.flags(expr[["a"]], {}, None)
    noisy = np.float32(1.7) + np.float32(1e-7) * rng.integers(-1, 2, size=(50, 1)).astype(np.float32)
    assert quality.constant_genes(noisy.astype(np.float64)).all()
    assert not quality.constant_genes(1.7 + 1e-3 * rng.normal(size=(50, 1))).any()


def test_a_control_that_declares_constant_output_is_not_flagged():
    mean_info = get_method_class("mean").info
    assert "constant_prediction" in mean_info.expected_flags
    expr = pd.DataFrame(np.ones((10, 3)), columns=list("xyz"))
    assert quality.flags(expr, {}, mean_info) == []
    # the same output from a method that does not declare it is flagged
    assert quality.names(quality.flags(expr, {}, get_method_class("knn").info)) == ["constant_prediction"]


def test_every_declared_expected_flag_is_a_known_flag():
    for name, cls in all_methods().items():
        assert set(cls.info.expected_flags) <= set(quality.FLAGS), name


def test_convergence_and_loss_facts_from_info():
    expr = pd.DataFrame(np.arange(20.0).reshape(10, 2), columns=["g1", "g2"])
    assert quality.flags(expr, {"converged": True, "final_loss": 0.3}, None) == []
    assert quality.flags(expr, {"converged": None, "final_loss": None}, None) == []  # not reported: no flag
    out = quality.flags(expr, {"converged": False, "convergence_detail": "ran to 50 iterations"}, None)
    assert out == [{"flag": "not_converged", "detail": "ran to 50 iterations"}]
    out = quality.flags(expr, {"converged": [True, False, np.bool_(False)]}, None)
    assert out[0]["detail"] == "2 of 3 solves reported converged=False"
    for loss in (float("nan"), float("inf"), "nan"):  # "nan": a value written by json with default=str
        assert quality.names(quality.flags(expr, {"final_loss": loss}, None)) == ["nan_loss"]


def test_summary_line_counts_jobs_per_flag():
    per_job = [["not_converged"], [], ["not_converged", "constant_prediction"], ["someone_elses_flag"], []]
    assert quality.summarise(per_job, 5) == ("constant_prediction in 1/5 jobs; not_converged in 2/5 jobs; "
                                             "someone_elses_flag in 1/5 jobs")
    assert quality.summarise([[], []], 2) == ""
    assert quality.parse_csv_flags("not_converged;nan_loss") == ["not_converged", "nan_loss"]
    assert quality.parse_csv_flags("") == quality.parse_csv_flags(float("nan")) == []


# -- through a real run: job.json, jobs.csv, leaderboard -------------------------------------------

@dataclass
class _NoParams:
    pass


class _Unconverged(Method):
    """Predicts the reference mean plus the first training gene, and says its solver did not
    converge on the jobs whose target genes include the first shared gene."""

    info = MethodInfo(name="qf-unconverged", summary="reports non-convergence on some jobs")
    Params = _NoParams

    def fit_predict(self, task: ImputationTask) -> Prediction:
        signal = np.asarray(dense(task.spatial.X), dtype=np.float64)[:, :1]
        values = signal + np.arange(len(task.target_genes))[None, :]
        converged = "Gene0000" not in task.target_genes
        return Prediction(pd.DataFrame(values, index=task.spatial.obs_names, columns=task.target_genes),
                          info={"converged": converged, "convergence_detail": "" if converged else "ran out"})


class _Constant(Method):
    """A constant prediction from a method that does not declare it."""

    info = MethodInfo(name="qf-constant", summary="predicts zeros")
    Params = _NoParams

    def fit_predict(self, task: ImputationTask) -> Prediction:
        return Prediction(pd.DataFrame(0.0, index=task.spatial.obs_names, columns=task.target_genes),
                          info={"final_loss": float("nan")})


@pytest.fixture(scope="module")
def flagged_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("qf") / "run"
    pair = make_synthetic_pair(n_spatial=120, n_reference=150, n_shared=9, n_reference_only=4, n_types=3,
                               n_modules=3, seed=3, name="tiny")
    assert "Gene0000" in list(pair.spatial.var_names)
    cfg = RunConfig(methods=["mean", "qf-unconverged", "qf-constant"], n_folds=3, out=out, isolate=False,
                    cluster=False)
    with registered(_Unconverged, _Constant):
        res = run_benchmark(cfg, [pair], progress=False)
        lb = lbm.collect([out])
    return out, res, lb, cfg, pair


def test_flags_reach_job_json_and_jobs_csv(flagged_run):
    out, res, _, _, _ = flagged_run
    jobs = pd.read_csv(out / "jobs.csv", keep_default_na=False)
    assert {"flags", "flag_details"} <= set(jobs.columns)
    by = {m: jobs[jobs.method == m] for m in jobs.method.unique()}
    assert (by["mean"]["flags"] == "").all()  # constant by design, declared: not flagged
    assert by["qf-unconverged"]["flags"].tolist().count("not_converged") == 1  # g000 is in one of 3 folds
    assert set(by["qf-unconverged"]["flags"]) == {"", "not_converged"}
    assert "not_converged: ran out" in set(by["qf-unconverged"]["flag_details"])
    assert (by["qf-constant"]["flags"] == "constant_prediction;nan_loss").all()
    assert by["qf-constant"]["flag_details"].str.contains("target genes constant across cells").all()
    # the job record carries them too
    records = [json.loads(p.read_text()) for p in out.glob("cache/tiny/qf-unconverged/*/job.json")]
    assert len(records) == 3 and sorted(len(r["flags"]) for r in records) == [0, 0, 1]
    assert list(res.jobs["flags"]) == list(jobs["flags"])  # the run's own frame is what jobs.csv holds


def test_leaderboard_shows_flagged_jobs_as_a_status(flagged_run):
    _, _, lb, _, _ = flagged_run
    by = lb.tables["tiny"].set_index("method")
    assert by.loc["qf-unconverged", "status"] == "ok"  # still scored and ranked: the scores are real
    assert by.loc["qf-unconverged", "flags"] == "not_converged in 1/3 jobs"
    assert by.loc["qf-constant", "flags"] == "constant_prediction in 3/3 jobs; nan_loss in 3/3 jobs"
    assert by.loc["mean", "flags"] == ""
    md = lbm.render_markdown(lb)
    # a method's rows: overall table, per-dataset table (the one with a status column, last), then
    # the dataset's spatial-pattern table (no status)
    rows = [line for line in md.splitlines() if "`qf-unconverged`" in line]
    assert sum(line.endswith("| ok (flagged: not_converged in 1/3 jobs) |") for line in rows) == 1
    mean_rows = [line for line in md.splitlines() if line.startswith("| ") and "`mean`" in line]
    assert sum(line.endswith("| ok |") for line in mean_rows) == 1
    doc = json.loads(lbm.render_json(lb))
    rows = {r["method"]: r for r in doc["datasets"]["tiny"]["rows"]}
    assert rows["qf-unconverged"]["status"] == "ok (flagged: not_converged in 1/3 jobs)"
    assert rows["qf-unconverged"]["flags"] == "not_converged in 1/3 jobs"
    assert rows["mean"]["status"] == "ok" and "flags" not in rows["mean"]


def test_flags_survive_the_reference_round_trip(flagged_run, tmp_path):
    _, _, lb, _, _ = flagged_run
    lbm.save_reference(lb, tmp_path / "ref")
    back = lbm.load_reference(tmp_path / "ref")
    assert lbm.render_markdown(back) == lbm.render_markdown(lb)
    assert back.tables["tiny"].set_index("method").loc["qf-unconverged", "flags"] == "not_converged in 1/3 jobs"


def test_old_cached_job_json_without_flags_is_read_and_flagged(flagged_run):
    out, _, _, cfg, pair = flagged_run
    for path in out.glob("cache/tiny/*/*/job.json"):  # as written before flags existed
        rec = json.loads(path.read_text())
        rec.pop("flags")
        rec.pop("checksums")  # written after flags; an edited record that kept them would be found damaged
        path.write_text(json.dumps(rec))
    with registered(_Unconverged, _Constant):
        again = run_benchmark(cfg, [pair], progress=False)
    jobs = again.jobs
    assert jobs["from_cache"].all()
    flags = jobs.groupby("method")["flags"].apply(list)
    assert flags["mean"] == ["", "", ""]  # the registry still says mean's constant output is expected
    assert sorted(flags["qf-unconverged"]) == ["", "", "not_converged"]
    assert flags["qf-constant"] == ["constant_prediction;nan_loss"] * 3


def test_old_jobs_csv_without_flag_columns_renders_as_before(flagged_run, tmp_path):
    out, _, _, _, _ = flagged_run
    old = tmp_path / "old"
    shutil.copytree(out, old, ignore=shutil.ignore_patterns("cache", "predictions"))
    jobs = pd.read_csv(old / "jobs.csv", keep_default_na=False)
    jobs.drop(columns=["flags", "flag_details"]).to_csv(old / "jobs.csv", index=False)
    with registered(_Unconverged, _Constant):
        back = lbm.collect([old])
    assert (back.tables["tiny"]["flags"] == "").all()
    rows = [line for line in lbm.render_markdown(back).splitlines() if line.startswith("| ")]
    assert rows and not [line for line in rows if "flagged" in line]  # no table row carries a flag


# -- novoSpaRc: the epsilon it used ----------------------------------------------------------------

@pytest.fixture(scope="module")
def small_task(tmp_path_factory):
    data = make_synthetic_pair(n_spatial=150, n_reference=200, n_shared=12, n_reference_only=5, n_types=3,
                               n_modules=3, seed=1, name="t")
    return contract.make_task(contract.prepare_pair(data), tmp_path_factory.mktemp("nvs"))


def test_novosparc_reports_the_raised_epsilon_it_used(small_task, monkeypatch):
    """novoSpaRc raises epsilon tenfold when its solver prints POT's numerical-error warning, keeps
    the plan of the raised epsilon, and stores one ten times smaller in ``tissue.epsilon``. The
    solver is stubbed to print that warning below 0.04: the plan kept is solved at 0.05."""
    installed_method_class("novosparc")
    import novosparc

    gwmod = novosparc.rc._GWadjusted
    seen = []

    def stub(cost_mat, C1, C2, alpha_linear, p, q, loss_fun, epsilon, max_iter=1000, tol=1e-9, verbose=False,
             log=False, random_ini=False):
        seen.append(epsilon)
        T = gwmod.sinkhorn(p, q, cost_mat / cost_mat.max(), epsilon)  # a real plan, via the module's Sinkhorn
        if epsilon < 0.04:
            print("Warning: numerical errors at iteration 3")  # what POT printed when novoSpaRc was written
        if log:
            log["err"].append(1e-12)
            return T, log
        return T

    monkeypatch.setattr(gwmod, "gromov_wasserstein_adjusted_norm", stub)
    cls = get_method_class("novosparc")
    pred = cls(epsilon=5e-3).fit_predict(small_task).check(small_task)
    info = pred.info
    assert seen == pytest.approx([5e-3, 5e-2])
    assert info["epsilon_used"] == pytest.approx(5e-2)
    assert info["epsilons_tried"] == pytest.approx([5e-3, 5e-2]) and info["epsilon_raised"] is True
    assert info["epsilon_reported_by_novosparc"] == pytest.approx(5e-3)  # novoSpaRc's own (wrong) record
    assert info["converged"] is True
    assert gwmod.gromov_wasserstein_adjusted_norm is stub  # the recorder put the solver back


def test_novosparc_outer_loop_at_its_limit_is_flagged(small_task, monkeypatch):
    installed_method_class("novosparc")
    import novosparc

    gwmod = novosparc.rc._GWadjusted

    def stub(cost_mat, C1, C2, alpha_linear, p, q, loss_fun, epsilon, max_iter=1000, tol=1e-9, verbose=False,
             log=False, random_ini=False):
        T = gwmod.sinkhorn(p, q, cost_mat / cost_mat.max(), epsilon)
        log["err"].extend([0.5, 1e-3])  # the last check still above tol: the loop stopped at max_iter
        return T, log

    monkeypatch.setattr(gwmod, "gromov_wasserstein_adjusted_norm", stub)
    cls = get_method_class("novosparc")
    pred = cls().fit_predict(small_task).check(small_task)
    assert pred.info["converged"] is False and pred.info["gw_outer_converged"] is False
    assert "stopped at its limit of 1000 iterations" in pred.info["convergence_detail"]
    assert quality.names(quality.flags(pred.expression, pred.info, cls.info)) == ["not_converged"]


def test_novosparc_real_solver_reports_epsilon_and_convergence(small_task):
    cls = installed_method_class("novosparc")
    info = cls().fit_predict(small_task).info
    assert info["epsilon_used"] == info["epsilons_tried"][-1] == pytest.approx(5e-3)
    assert info["converged"] is True and info["gw_outer_converged"] is True
    assert info["sinkhorn_solves"] >= 1 and info["sinkhorn_numerical_errors"] == 0
    # at an epsilon far too small the Sinkhorn solves underflow: novoSpaRc's own retry raises epsilon
    # tenfold until a solve succeeds (POT 0.9 warns instead of printing; the wrapper relays it)
    raised = cls(epsilon=1e-5).fit_predict(small_task).info
    assert raised["epsilon_raised"] is True and raised["epsilons_tried"][0] == pytest.approx(1e-5)
    assert raised["epsilon_used"] == pytest.approx(raised["epsilons_tried"][-1]) and raised["epsilon_used"] > 1e-5
    assert raised["epsilon_reported_by_novosparc"] == pytest.approx(raised["epsilon_used"] / 10)
    assert raised["sinkhorn_numerical_errors"] == 0
    # without the retry the job fails and says why
    with pytest.raises(ValueError, match="numerical errors at epsilon 1e-05"):
        cls(epsilon=1e-5, search_epsilon=False).fit_predict(small_task)


# -- moSCOT -----------------------------------------------------------------------------------------

def test_moscot_solution_facts_from_ott_output():
    from benchmark.methods.moscot import solution_facts

    out = types.SimpleNamespace(geom=types.SimpleNamespace(epsilon=np.float32(0.01)),
                                costs=np.array([3.0, 2.0, 1.5, -1.0, -1.0]),
                                linear_convergence=np.array([True, False, True, False, False]))
    facts = solution_facts(types.SimpleNamespace(converged=False, cost=1.5, _output=out), 0.01)
    assert facts["converged"] is False and facts["epsilon_used"] == 0.01 and facts["epsilon"] == 0.01
    assert facts["gw_iterations"] == 3 and facts["gw_max_iterations"] == 5
    assert facts["sinkhorn_not_converged"] == 1
    assert facts["convergence_detail"] == "1 of 3 inner Sinkhorn solves did not meet their threshold"
    full = types.SimpleNamespace(geom=None, costs=np.ones(4), linear_convergence=np.ones(4, dtype=bool))
    facts = solution_facts(types.SimpleNamespace(converged=False, cost=float("-inf"), _output=full), 0.01)
    assert facts["convergence_detail"] == "the Gromov-Wasserstein loop ran to its limit of 4 iterations"
    assert facts["cost"] == "-inf" and "epsilon_used" not in facts


def test_moscot_reports_convergence_from_its_solver(small_task):
    """moscot 0.5.2 / ott 0.6 expose what the wrapper reads; an epsilon far too small does not
    converge, and the job says so instead of passing as a result."""
    cls = installed_method_class("moscot")
    pred = cls(epsilon=1e-4).fit_predict(small_task).check(small_task)
    info = pred.info
    assert info["epsilon"] == 1e-4 and info["epsilon_used"] == pytest.approx(1e-4)
    assert info["converged"] is False and info["sinkhorn_not_converged"] >= 1
    assert info["gw_max_iterations"] >= info["gw_iterations"] >= 1
    assert "not_converged" in quality.names(quality.flags(pred.expression, info, cls.info))
