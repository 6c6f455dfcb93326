"""Uncertainty calibration (metrics/uncertainty.py): coverage and width of prediction intervals,
confidence-accuracy rank correlation, TISSUE's intervals at two levels, and n/a (never 0) for
methods without uncertainty."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmark.metrics import DatasetContext, ScoringInput
from benchmark.metrics.uncertainty import LEVELS, coverage, read_intervals
from benchmark.scoring import score_assembled, score_prediction


def _frame(values, cells, genes):
    return pd.DataFrame(np.asarray(values, dtype=np.float64), index=cells, columns=genes)


def test_coverage_counts_bounds_inclusive_and_ignores_missing_bounds():
    measured = np.array([[0.0, 1.0], [2.0, 3.0]])
    pred = np.array([[0.5, 1.0], [2.0, 5.0]])
    below = np.array([[0.5, 0.0], [np.nan, 1.0]])  # 0.0 in [0.0, 1.0]; 1.0 == 1.0 bound; NaN left out
    above = np.array([[0.0, 0.0], [1.0, 1.0]])     # 3.0 not in [4.0, 6.0]
    assert coverage(measured, pred, below, above) == pytest.approx(2 / 3)
    assert np.isnan(coverage(measured, pred, np.full((2, 2), np.nan), above))


def test_read_intervals_reorders_cells_and_joins_jobs():
    from benchmark.methods.tissue_spage import intervals_info

    cells = pd.Index(["c0", "c1", "c2"])
    pred = np.zeros((3, 1))
    # two jobs (gene folds), each with its cells in another (the task's seeded) order
    job1 = intervals_info(["c2", "c0", "c1"], ["g1"], pred,
                          {0.67: (np.array([[-2.0], [-0.0], [-1.0]]), np.array([[2.0], [0.0], [1.0]]))})
    job2 = intervals_info(["c1", "c2", "c0"], ["g2"], pred,
                          {0.67: (np.array([[-1.0], [np.nan], [-3.0]]), np.array([[1.0], [2.0], [3.0]]))})
    iv = read_intervals([{"intervals": job1}, {"intervals": job2}], cells, ["g1", "g2"])
    below, above = iv[0.67]
    np.testing.assert_array_equal(below["g1"].to_numpy(), [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(above["g2"].to_numpy(), [3.0, 1.0, 2.0])
    assert np.isnan(below.loc["c2", "g2"])  # TISSUE's undefined bound stays undefined
    assert read_intervals([{"intervals": job1}, {}], cells, ["g1", "g2"]) is None  # a job without intervals: none


def test_methods_without_uncertainty_are_na_with_a_reason_never_zero():
    rng = np.random.default_rng(0)
    cells, genes = [f"c{i}" for i in range(30)], [f"g{j}" for j in range(6)]
    t = _frame(rng.random((30, 6)), cells, genes)
    rows = pd.DataFrame(score_assembled(DatasetContext("x", measured=t), t, t + 0.1, returned=t + 0.1))
    unc = rows[rows.scope == "uncertainty"]
    assert set(unc.stat) == {"skipped"} and unc.value.isna().all()
    assert set(unc.metric) == {"coverage_67", "coverage_90", "interval_width_67", "interval_width_90",
                               "confidence_spearman", "confidence_spearman_scale_only"}
    assert unc[unc.metric.str.startswith(("coverage", "interval"))]["item"].str.contains("intervals").all()
    assert unc[unc.metric.str.startswith("confidence")]["item"].str.contains("confidence").all()


def test_calibrated_intervals_reach_their_nominal_coverage_and_confidence_is_ranked():
    """Gaussian errors with a known sd per gene: intervals of the matching normal quantiles cover their
    level, wider for 90%; a confidence of minus the sd ranks genes by PCC."""
    from scipy.stats import norm

    rng = np.random.default_rng(1)
    n, g = 4000, 8
    cells, genes = [f"c{i}" for i in range(n)], [f"g{j}" for j in range(g)]
    signal = rng.normal(size=(n, g))
    sd = np.linspace(0.2, 2.0, g)
    pred = signal
    truth = signal + rng.normal(size=(n, g)) * sd
    t, p = _frame(truth, cells, genes), _frame(pred, cells, genes)
    intervals = {lv: (_frame(np.tile(norm.ppf(0.5 + lv / 2) * sd, (n, 1)), cells, genes),) * 2 for lv in LEVELS}
    conf = pd.Series(-sd, index=genes)
    inp = ScoringInput(t, p, "assembled", returned=p, context=DatasetContext("x", measured=t), confidence=conf,
                       intervals=intervals)
    rows = pd.DataFrame(score_prediction(inp)).set_index("metric")
    for lv in LEVELS:
        assert rows.loc[f"coverage_{round(lv * 100)}", "value"] == pytest.approx(lv, abs=0.01)
    assert rows.loc["interval_width_90", "value"] > rows.loc["interval_width_67", "value"]
    assert rows.loc["confidence_spearman", "value"] == pytest.approx(1.0)


def test_tissue_returns_intervals_at_two_levels(tmp_path):
    from _helpers import require_module

    require_module("tissue.main", "TISSUE is a baseline CI installs")
    from benchmark import contract
    from benchmark.datasets.synthetic import make_synthetic_pair
    from benchmark.methods import all_methods

    data = make_synthetic_pair(n_spatial=150, n_reference=150, n_shared=12, n_reference_only=8, n_types=3,
                               n_modules=3, seed=11, name="tissue-iv")
    prep = contract.prepare_pair(data)
    task = contract.make_task(prep, tmp_path)
    pred = all_methods()["tissue"]().fit_predict(task).check(task)
    cells = pd.Index(task.spatial.obs_names)
    iv = read_intervals([pred.info], cells, list(task.target_genes))
    assert set(iv) == set(LEVELS)
    w67 = (iv[0.67][0] + iv[0.67][1]).to_numpy()
    w90 = (iv[0.9][0] + iv[0.9][1]).to_numpy()
    assert (w90 >= w67 - 1e-12).all() and (w90 > w67).any()
    # the 67% intervals are the ones the confidence was computed from (alpha_level 0.33)
    assert np.mean(w67) == pytest.approx(pred.info["mean_interval_width"])
    truth = prep.truth.loc[cells, task.target_genes].to_numpy()
    cov = {lv: coverage(truth, pred.expression.to_numpy(), iv[lv][0].to_numpy(), iv[lv][1].to_numpy())
           for lv in LEVELS}
    assert 0 < cov[0.67] < cov[0.9] <= 1


def test_too_many_interval_bounds_are_omitted_and_the_reason_reaches_the_results(monkeypatch):
    from benchmark.methods import tissue_spage

    pred = np.zeros((4, 2))
    bounds = {0.67: (pred - 1, pred + 1), 0.9: (pred - 2, pred + 2)}
    assert "intervals" in tissue_spage._intervals_entry(list("abcd"), ["g1", "g2"], pred, bounds)
    monkeypatch.setattr(tissue_spage, "MAX_INTERVAL_VALUES", 31)  # 4 cells x 2 genes x 2 levels x 2 bounds = 32
    info = tissue_spage._intervals_entry(list("abcd"), ["g1", "g2"], pred, bounds)
    assert "intervals" not in info and "32 interval bounds" in info["intervals_omitted"]

    class _Outcome:  # what score_assembled reads of a job: its info and confidence
        confidence = None

    out = _Outcome()
    out.info = info
    t = _frame(np.ones((4, 2)), list("abcd"), ["g1", "g2"])
    rows = pd.DataFrame(score_assembled(DatasetContext("x", measured=t), t, t, outcomes=[out], returned=t))
    cov = rows[rows.metric == "coverage_67"]
    assert cov["stat"].tolist() == ["skipped"] and "32 interval bounds" in cov["item"].iloc[0]
