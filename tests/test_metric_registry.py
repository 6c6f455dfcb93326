"""The metric registry drives scoring, summaries, labels and leaderboard columns (issue 22): a
metric registered in-tree or by a plug-in is computed and shown without any other edit."""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pandas as pd
import pytest

from benchmark import metrics
from benchmark.metrics import Metric, NotScored, register_metric


def _max_abs_error(truth, pred):
    return np.abs(np.asarray(truth) - np.asarray(pred)).max(axis=0)


PLUGIN = Metric("max_abs_err", "gene", False, (0.0, None), 0.0, "Largest absolute error of each gene over cells.",
                _max_abs_error, label="gene max |error|", order=5.5, summary=True, report=True, leaderboard=2.5)


def test_a_registered_metric_is_scored_summarised_and_shown(tiny_pair, tmp_path):
    from benchmark.harness import RunConfig, run_benchmark
    from benchmark import results
    from benchmark.reports import data as report_data

    with metrics.REGISTRY.isolated():
        register_metric(PLUGIN)
        assert ("gene", "max_abs_err") in results.SUMMARY_METRICS  # read from the registry when asked for
        assert metrics.labels()["gene_max_abs_err"] == "gene max |error|"
        assert "gene_max_abs_err" in metrics.report_metrics()
        assert metrics.leaderboard_columns()[4] == "gene_max_abs_err"  # after gene_pcc, its sd and two more
        assert report_data.higher_is_better("gene_max_abs_err") is False
        cfg = RunConfig(out=tmp_path / "run", methods=["mean", "knn"], n_folds=3, cluster=False)
        res = run_benchmark(cfg, [tiny_pair], progress=False)
        r = res.results
        per_gene = r[(r.metric == "max_abs_err") & (r.fold == "all") & (r.stat == "value") & (r.method == "knn")]
        assert len(per_gene) == tiny_pair.spatial.n_vars
        assert "gene_max_abs_err" in res.summary.columns
        # the value is the formula's on the assembled prediction
        import anndata as ad

        a = ad.read_h5ad(res.out / "predictions" / "tiny.h5ad")
        expected = _max_abs_error(a.X, a.layers["knn__seed0"]).astype(np.float64)
        got = per_gene.set_index("item")["value"].loc[list(a.var_names)].to_numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)  # float32 storage of the h5ad
    assert "gene/max_abs_err" not in metrics.all_metrics()  # isolated() put the registry back


def test_entry_point_plugin_is_loaded_and_a_broken_one_reported(monkeypatch):
    class _EP:
        def __init__(self, name, value, obj):
            self.name, self.value, self._obj = name, value, obj

        def load(self):
            if isinstance(self._obj, Exception):
                raise self._obj
            return self._obj

    eps = [_EP("good", "pkg:METRIC", PLUGIN), _EP("bad", "pkg:thing", 42), _EP("boom", "pkg:x", ImportError("no"))]
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda group=None: eps if group == metrics.ENTRY_POINT_GROUP else [])
    with metrics.REGISTRY.isolated():
        metrics.REGISTRY._discovered = False  # as in a fresh process
        assert "gene/max_abs_err" in metrics.all_metrics()
        broken = metrics.broken_metrics()
        assert any("bad" in k for k in broken) and any("boom" in k for k in broken)
        assert "must name a module or a Metric" in broken["entry point bad = pkg:thing"]


def test_bad_declarations_fail_clearly():
    with pytest.raises(ValueError, match="scope"):
        Metric("x", "galaxy", True, (0, 1), 1, "")
    with pytest.raises(ValueError, match="stage"):
        Metric("x", "gene", True, (0, 1), 1, "", stage="sometimes")
    with pytest.raises(TypeError):
        register_metric("not a metric")


def test_a_metric_returning_the_wrong_number_of_values_is_an_error():
    from benchmark.metrics import ScoringInput
    from benchmark.scoring import score_prediction

    wrong = Metric("wrong", "gene", True, (0, 1), 1, "", fn=lambda t, p: np.zeros(2))
    t = pd.DataFrame(np.ones((4, 3)), columns=list("abc"))
    with pytest.raises(ValueError, match="2 values for 3 genes"):
        score_prediction(ScoringInput(t, t), metrics=[wrong])


def test_not_scored_writes_a_reason_row_or_nothing():
    from benchmark.metrics import ScoringInput
    from benchmark.scoring import score_prediction

    t = pd.DataFrame(np.ones((4, 3)), columns=list("abc"))
    said = Metric("said", "spatial", True, (0, 1), 1, "", compute=lambda inp: NotScored("because"))
    silent = Metric("silent", "spatial", True, (0, 1), 1, "", compute=lambda inp: NotScored("quiet", row=False))
    rows = score_prediction(ScoringInput(t, t), metrics=[said, silent])
    assert rows == [{"metric": "said", "scope": "spatial", "item": "because", "stat": "skipped", "value": rows[0]["value"]}]
    assert np.isnan(rows[0]["value"])


def test_derived_lists_keep_the_columns_they_replaced():
    """The lists that were hand-written before the registry drove them (results.SUMMARY_METRICS'
    first 17 entries, the report's rank metrics, the leaderboard's columns) come out the same, so
    earlier results, reports and the committed leaderboard read as before."""
    from benchmark.leaderboard import METRIC_COLUMNS

    before_summary = [
        ("cell", "css"), ("cell", "mse"), ("cell", "pcc"),
        ("gene", "css"), ("gene", "mse"), ("gene", "pcc"), ("gene", "css_top50_reliable"),
        ("gene", "css_top50_scale_only"), ("gene", "css_reliability_auc"), ("gene", "css_reliability_auc_scale_only"),
        ("gene", "ssim"), ("gene", "rmse"), ("gene", "js"), ("gene", "ssim_grid"),
        ("cluster", "ari"), ("cluster", "fmi"), ("cluster", "completeness"),
    ]
    assert metrics.summary_metrics()[:len(before_summary)] == before_summary
    # the hand-written columns keep their order; the spatial-pattern (Metric.leaderboard 10-12), uncertainty
    # (13-18) and cell-typing (20-21) metrics follow
    assert METRIC_COLUMNS == ["gene_pcc", "gene_pcc_sd", "gene_css", "gene_mse", "cell_css", "cell_pcc", "cell_mse",
                              "gene_css_top50_reliable", "cluster_ari", "cluster_fmi", "cluster_completeness",
                              "spatial_morans_i_spearman", "gene_morans_i_abs_diff", "spatial_svg_auprc",
                              "uncertainty_coverage_67", "uncertainty_interval_width_67", "uncertainty_coverage_90",
                              "uncertainty_interval_width_90", "uncertainty_confidence_spearman",
                              "uncertainty_confidence_spearman_scale_only", "celltype_accuracy", "celltype_ari",
                              "time_s", "peak_mem_mb"]
    assert metrics.rank_metrics() == ["cell_css", "cell_mse", "cell_pcc", "gene_css", "gene_pcc", "cluster_ari",
                                      "cluster_fmi"]
    assert metrics.primary_columns() == ["accuracy_score", "gene_pcc", "gene_ssim", "gene_rmse", "gene_js",
                                         "cell_css", "gene_css", "cluster_ari"]
