"""Metrics beyond the core: reliability curve, SpatialBenchmarking metrics (SSIM, RMSE, JS, accuracy
score), grid SSIM, paired Wilcoxon tests with Holm correction, bootstrap intervals. Small cases with
answers worked out by hand, plus one end-to-end run."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from benchmark.metrics import (
    CURVE_FRACTIONS,
    SPATIAL_METRICS,
    accuracy_score,
    all_metrics,
    js_divergence,
    reliability_auc,
    reliability_curve,
    rmse_zscored,
    ssim_global,
    ssim_grid,
)
from benchmark.metrics.spatial import raster_index, rasterize, windowed_ssim
from benchmark.scoring import score_grid, score_reliability
from benchmark.stats import bootstrap_ci, bootstrap_ci_rows, holm, paired_tests, wilcoxon_pair

from _helpers import require_module  # noqa: E402

# --- SpatialBenchmarking metrics ------------------------------------------------------------------


def _li_ssim_one(t: np.ndarray, p: np.ndarray) -> float:
    """Li et al.'s SSIM of one gene written out as luminance x contrast x structure (C3 = C2 / 2)."""
    t, p = t / t.max(), p / p.max()
    mu1, mu2 = t.mean(), p.mean()
    s1, s2 = t.std(), p.std()
    s12 = ((t - mu1) * (p - mu2)).mean()
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    c3 = c2 / 2
    return ((2 * mu1 * mu2 + c1) / (mu1 ** 2 + mu2 ** 2 + c1) * (2 * s1 * s2 + c2) / (s1 ** 2 + s2 ** 2 + c2)
            * (s12 + c3) / (s1 * s2 + c3))


def test_ssim_identical_is_one_and_matches_the_three_factor_form():
    rng = np.random.default_rng(0)
    t = rng.gamma(2.0, size=(80, 5))
    p = t + rng.gamma(1.0, size=t.shape)
    assert np.allclose(ssim_global(t, t), 1.0)
    assert np.allclose(ssim_global(t, 3.0 * t), 1.0)  # each gene is divided by its max first
    ours = ssim_global(t, p)
    assert np.allclose(ours, [_li_ssim_one(t[:, j], p[:, j]) for j in range(5)])
    assert (ours < 1).all()


def test_ssim_degenerate_conventions():
    t = np.array([[0.0, 1.0], [0.0, 2.0], [0.0, 3.0]])
    p = np.array([[1.0, -1.0], [2.0, -2.0], [1.0, -3.0]])
    s = ssim_global(t, p)
    assert np.isnan(s[0])  # measured gene all zero
    # negative predictions are set to 0: an all-zero image; by hand with mu_p = s_p = 0
    tt = np.array([1, 2, 3]) / 3
    c1, c2 = 1e-4, 9e-4
    assert s[1] == pytest.approx(c1 / (tt.mean() ** 2 + c1) * c2 / (tt.var() + c2))


def test_rmse_by_hand_and_its_identity_with_pcc():
    t = np.array([[1.0], [2.0], [3.0]])
    p = np.array([[1.0], [3.0], [2.0]])
    # z(t) = (-a, 0, a), z(p) = (-a, a, 0), a^2 = 3/2: mean squared difference (0 + 3/2 + 3/2) / 3 = 1
    assert rmse_zscored(t, p)[0] == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    t, p = rng.normal(size=(50, 4)), rng.normal(size=(50, 4))
    r = np.array([np.corrcoef(t[:, j], p[:, j])[0, 1] for j in range(4)])
    assert np.allclose(rmse_zscored(t, p), np.sqrt(2 * (1 - r)))
    assert np.allclose(rmse_zscored(t, t * 5 + 2), 0.0)
    const = rmse_zscored(np.array([[1.0, 2.0], [1.0, 3.0], [1.0, 5.0]]), np.array([[1.0, 4.0], [2.0, 4.0], [3.0, 4.0]]))
    assert np.isnan(const[0])  # measured constant: undefined
    assert const[1] == pytest.approx(np.sqrt(2))  # only the prediction constant: as PCC = 0


def test_js_known_values():
    t = np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 3.0], [0.0, 0.0, 0.0]])
    p = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 2.0]])
    js = js_divergence(t, p)
    assert js[0] == pytest.approx(0.0)  # identical distributions
    # gene 1: t = (1, 0, 0), p = (1/2, 1/2, 0), m = (3/4, 1/4, 0):
    # KL(t||m) = ln(4/3); KL(p||m) = (ln(2/3) + ln 2) / 2 = ln(4/3) / 2
    assert js[1] == pytest.approx(0.5 * np.log(4 / 3) + 0.25 * np.log(4 / 3))
    # gene 2: disjoint supports -> ln 2, the maximum
    assert js[2] == pytest.approx(np.log(2))
    from scipy.spatial.distance import jensenshannon

    rng = np.random.default_rng(2)
    a, b = rng.random((30, 3)), rng.random((30, 3))
    assert np.allclose(js_divergence(a, b), [jensenshannon(a[:, j], b[:, j]) ** 2 for j in range(3)])


def test_js_degenerate_conventions():
    t = np.array([[0.0, 1.0], [0.0, 3.0]])
    p = np.array([[1.0, 0.0], [1.0, 0.0]])
    js = js_divergence(t, p)
    assert np.isnan(js[0])
    # all-zero prediction = uniform (1/2, 1/2) vs (1/4, 3/4)
    u, q = np.array([0.5, 0.5]), np.array([0.25, 0.75])
    m = (u + q) / 2
    expected = 0.5 * np.sum(q * np.log(q / m)) + 0.5 * np.sum(u * np.log(u / m))
    assert js[1] == pytest.approx(expected)


def test_spatial_metrics_truth_is_best_and_bounds_hold():
    rng = np.random.default_rng(3)
    t = np.log1p(rng.poisson(3.0, (60, 6)).astype(float))
    good = t + 0.1 * rng.normal(size=t.shape)
    bad = np.log1p(rng.poisson(3.0, t.shape).astype(float))
    for m in SPATIAL_METRICS:
        assert np.allclose(m.fn(t, t.copy()), m.best), m.key
        lo, hi = m.bounds
        for pred in (good, bad, -t, np.zeros_like(t)):
            v = m.fn(t, pred)
            assert np.isfinite(v).all(), m.key
            assert (v >= lo - 1e-12).all() and (v <= hi + 1e-12).all(), m.key
        better, worse = m.fn(t, good).mean(), m.fn(t, bad).mean()
        assert (better > worse) if m.higher_is_better else (better < worse), m.key


# --- SSIM on a grid --------------------------------------------------------------------------------


def test_raster_index_bins_cells_into_square_pixels():
    coords = np.array([[0.0, 0.0], [10.0, 4.9], [9.9, 0.1], [5.0, 5.0]])
    pix, shape = raster_index(coords, bins=2)  # pixel side 5: a 2 x 1 grid
    assert shape == (2, 1)
    assert list(pix) == [0, 1, 1, 1]
    img, occ = rasterize(np.array([[1.0], [2.0], [4.0], [6.0]]), pix, shape)
    assert img[0, :, 0].tolist() == [1.0, 4.0]  # means of the cells in each pixel
    assert occ.all()


def test_windowed_ssim_matches_scikit_image_map():
    skm = require_module("skimage.metrics", "scikit-image (a squidpy dependency) checks the SSIM map")
    rng = np.random.default_rng(4)
    a = rng.random((20, 16))
    b = np.clip(a + 0.2 * rng.normal(size=a.shape), 0, 1)
    _, smap = skm.structural_similarity(a, b, data_range=1.0, full=True)
    assert windowed_ssim(a, b)[0] == pytest.approx(smap.mean())
    mask = rng.random(a.shape) > 0.5
    assert windowed_ssim(a, b, mask)[0] == pytest.approx(smap[mask].mean())
    assert windowed_ssim(a, a)[0] == pytest.approx(1.0)


def test_windowed_ssim_of_volumes_matches_scikit_image():
    skm = require_module("skimage.metrics", "scikit-image (a squidpy dependency) checks the SSIM map")
    rng = np.random.default_rng(6)
    a = rng.random((9, 10, 8))
    b = np.clip(a + 0.2 * rng.normal(size=a.shape), 0, 1)
    _, smap = skm.structural_similarity(a, b, data_range=1.0, full=True)
    mask = rng.random(a.shape) > 0.5
    assert windowed_ssim(a, b, mask)[0] == pytest.approx(smap[mask].mean())
    assert windowed_ssim(a[None], b[None])[0] == pytest.approx(smap.mean())
    pix, shape = raster_index(np.array([[0.0, 0.0, 0.0], [10.0, 4.9, 2.0], [9.9, 0.1, 9.0]]), bins=2)
    assert shape == (2, 1, 2) and list(pix) == [0, 2, 3]  # voxels of side 5

def test_ssim_grid_identical_is_one_and_sees_where_cells_are():
    rng = np.random.default_rng(5)
    coords = rng.random((400, 2)) * [100, 60]
    # a gene that rises from left to right, plus noise
    t = np.c_[coords[:, 0] / 100 + 0.1 * rng.random(400), rng.random(400)]
    assert np.allclose(ssim_grid(t, t, coords, bins=10), 1.0)
    assert np.allclose(ssim_grid(t, 2 * t, coords, bins=10), 1.0)  # images are divided by their max
    flipped = np.c_[1.1 - coords[:, 0] / 100, t[:, 1]]  # right pattern, mirrored
    s = ssim_grid(t, flipped, coords, bins=10)
    assert s[0] < 0.5
    # values shuffled among the cells of each pixel: every cell is wrong, every pixel right
    pix, _ = raster_index(coords, bins=10)
    local = t.copy()
    for k in np.unique(pix):
        cells = np.flatnonzero(pix == k)
        local[cells] = t[rng.permutation(cells)]
    assert not np.allclose(local, t)
    assert np.allclose(ssim_grid(t, local, coords, bins=10), 1.0)
    assert (ssim_global(t, local) < 0.99).all()  # Li et al.'s SSIM compares cell by cell
    assert np.isnan(ssim_grid(np.zeros((400, 1)), t[:, :1], coords, bins=10)[0])


def test_score_grid_without_coordinates_records_why():
    t = pd.DataFrame(np.ones((3, 2)), columns=["A", "B"])
    rows = score_grid(t, t, None, reason="the dataset has no spatial coordinates")
    assert rows == [{"metric": "ssim_grid", "scope": "gene", "item": "the dataset has no spatial coordinates",
                     "stat": "skipped", "value": rows[0]["value"]}]
    assert np.isnan(rows[0]["value"])


# --- accuracy score --------------------------------------------------------------------------------


def test_accuracy_score_on_a_hand_made_table():
    means = pd.DataFrame(
        {"gene_pcc": [0.9, 0.5, 0.1], "gene_ssim": [0.8, 0.9, 0.1], "gene_rmse": [0.2, 0.3, 0.1],
         "gene_js": [0.1, 0.2, 0.3]},
        index=["A", "B", "C"],
    )
    # ranks (best = 3): A 3, 2, 2, 3; B 2, 3, 1, 2; C 1, 1, 3, 1; AS = sum / (4 * 3)
    assert accuracy_score(means).to_dict() == pytest.approx({"A": 10 / 12, "B": 8 / 12, "C": 6 / 12})


def test_accuracy_score_ties_and_missing_values():
    means = pd.DataFrame({"gene_pcc": [0.5, 0.5], "gene_ssim": [0.2, np.nan], "gene_rmse": [1.0, 1.0],
                          "gene_js": [0.1, 0.1]}, index=["A", "B"])
    # pcc, rmse, js tie (rank 1.5 each); ssim: B is missing and ranks last
    assert accuracy_score(means).to_dict() == pytest.approx({"A": (1.5 * 3 + 2) / 8, "B": (1.5 * 3 + 1) / 8})


# --- reliability curve -----------------------------------------------------------------------------


def _css_and_conf(n=20, seed=6):
    rng = np.random.default_rng(seed)
    genes = [f"g{i}" for i in range(n)]
    css = pd.Series(rng.random(n), index=genes)
    return css, genes, rng


def test_reliability_curve_endpoints_oracle_and_random():
    css, genes, rng = _css_and_conf()
    conf = pd.Series(rng.random(len(genes)), index=genes)
    curve = reliability_curve(css, conf)
    assert list(curve.index) == list(CURVE_FRACTIONS)
    assert curve.loc[1.0, "method"] == pytest.approx(css.mean())  # f = 1: every gene
    assert curve.loc[1.0, "oracle"] == pytest.approx(css.mean())
    assert np.allclose(curve["random"], css.mean())
    assert (np.diff(curve["oracle"].to_numpy()) <= 1e-12).all()  # oracle never rises as genes are added
    assert (curve["oracle"] >= curve["method"] - 1e-12).all()
    # f = 0.1 of 20 genes: the 2 most confident
    top2 = conf.sort_values(ascending=False).index[:2]
    assert curve.loc[0.1, "method"] == pytest.approx(css[top2].mean())


def test_reliability_auc_perfect_reversed_and_random_rankings():
    css, genes, rng = _css_and_conf()
    assert reliability_auc(reliability_curve(css, css)) == pytest.approx(1.0)
    assert reliability_auc(reliability_curve(css, -css)) < -0.5
    aucs = [reliability_auc(reliability_curve(css, pd.Series(rng.random(len(genes)), index=genes)))
            for _ in range(400)]
    assert abs(np.mean(aucs)) < 0.05  # random confidence: 0 in expectation
    flat = pd.Series(0.5, index=genes)
    assert np.isnan(reliability_auc(reliability_curve(flat, css)))  # oracle = random: undefined


def test_score_reliability_rows():
    rng = np.random.default_rng(7)
    genes = [f"g{i}" for i in range(10)]
    t = pd.DataFrame(rng.random((30, 10)), columns=genes)
    p = t + rng.normal(0, 0.3, t.shape) * np.linspace(0, 2, 10)  # later genes are worse
    conf = pd.Series(-np.arange(10.0), index=genes)  # and the confidence knows it
    rows = pd.DataFrame(score_reliability(t, p, conf))
    curve = rows[rows.metric == "css_reliability_curve"]
    assert list(curve["item"]) == ["0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9", "1"]
    top50 = rows[(rows.metric == "css_top50_reliable") & (rows.stat == "mean")]["value"].item()
    assert curve[curve.item == "0.5"]["value"].item() == pytest.approx(top50)
    auc = rows[rows.metric == "css_reliability_auc"]["value"].item()
    assert 0.5 < auc <= 1.0


# --- paired tests and bootstrap --------------------------------------------------------------------


def test_holm_by_hand():
    # sorted 0.01, 0.03, 0.04 -> x3, x2, x1 = 0.03, 0.06, 0.04 -> running max 0.03, 0.06, 0.06
    assert np.allclose(holm(np.array([0.01, 0.04, 0.03])), [0.03, 0.06, 0.06])
    assert np.allclose(holm(np.array([0.5, 0.9])), [1.0, 1.0])  # capped at 1
    out = holm(np.array([0.02, np.nan]))
    assert out[0] == pytest.approx(0.02) and np.isnan(out[1])
    mt = pytest.importorskip("statsmodels.stats.multitest")
    p = np.random.default_rng(8).random(12) ** 3
    assert np.allclose(holm(p), mt.multipletests(p, method="holm")[1])


def test_wilcoxon_when_one_method_is_always_better():
    rng = np.random.default_rng(9)
    b = rng.random(20)
    a = b + rng.random(20) + 0.01
    stat, p = wilcoxon_pair(a, b)
    assert stat == 0.0  # no negative differences
    assert p == pytest.approx(2 / 2 ** 20)  # exact two-sided null: only the all-positive sign pattern
    assert wilcoxon_pair(b, b) == (0.0, 1.0)


def test_batched_tests_equal_one_by_one():
    from benchmark.stats import _wilcoxon_pairs

    rng = np.random.default_rng(13)
    a = rng.random((25, 5))
    b = rng.random((25, 5))
    b[:, 1] = a[:, 1]  # all differences zero
    b[:3, 2] = a[:3, 2]  # some zero differences: normal approximation
    a[4, 3] = np.nan  # a missing value: tested on the other 24 genes
    b[:, 4] = a[:, 4] + np.r_[np.full(5, 0.1), rng.random(20)]  # tied differences
    stat, p = _wilcoxon_pairs(a, b)
    for j in range(5):
        assert (stat[j], p[j]) == pytest.approx(wilcoxon_pair(a[:, j], b[:, j]))
    assert p[1] == 1.0


def _gene_rows(values: dict[str, np.ndarray], metric: str = "css", dataset: str = "d"):
    rows = []
    for method, v in values.items():
        for i, x in enumerate(v):
            rows.append({"dataset": dataset, "method": method, "seed": 0, "fold": "all", "metric": metric,
                         "scope": "gene", "item": f"g{i}", "stat": "value", "value": float(x)})
    return rows


def test_paired_tests_name_the_better_method_by_direction():
    rng = np.random.default_rng(10)
    base = rng.random(15)
    vals = {"good": base + 0.5, "bad": base, "same": base + rng.normal(0, 1e-3, 15)}
    res = paired_tests(pd.DataFrame(_gene_rows(vals, "css") + _gene_rows(vals, "mse")))
    assert len(res) == 2 * 3  # two metrics x three pairs
    row = res[(res.metric == "css") & (res.method_a == "bad") & (res.method_b == "good")].iloc[0]
    assert row.better == "good" and row.n_genes == 15 and row.median_diff == pytest.approx(-0.5)
    assert row.p_holm >= row.p_value
    row = res[(res.metric == "mse") & (res.method_a == "bad") & (res.method_b == "good")].iloc[0]
    assert row.better == "bad"  # lower mse is better
    row = res[(res.metric == "css") & (res.method_a == "bad") & (res.method_b == "same")].iloc[0]
    assert row.better == ""  # not significant after correction


def test_bootstrap_ci_covers_the_mean_and_is_seeded():
    rng = np.random.default_rng(11)
    v = rng.normal(2.0, 1.0, 200)
    lo, hi = bootstrap_ci(v, seed=0)
    assert lo < v.mean() < hi
    assert (lo, hi) == bootstrap_ci(v, seed=0)
    se = v.std() / np.sqrt(v.size)  # normal approximation: the 95% interval is about +-1.96 se
    assert hi - lo == pytest.approx(2 * 1.96 * se, rel=0.15)
    assert np.isnan(bootstrap_ci(np.array([np.nan]))[0])


def test_bootstrap_rows_bracket_each_per_item_mean():
    rng = np.random.default_rng(12)
    rows = _gene_rows({"m": rng.random(30), "n": rng.random(30)})
    out = pd.DataFrame(bootstrap_ci_rows(rows))
    assert set(out.stat) == {"ci95_low", "ci95_high"} and set(out.method) == {"m", "n"}
    df = pd.DataFrame(rows)
    for m in ("m", "n"):
        mean = df[df.method == m]["value"].mean()
        lo = out[(out.method == m) & (out.stat == "ci95_low")]["value"].item()
        hi = out[(out.method == m) & (out.stat == "ci95_high")]["value"].item()
        assert lo < mean < hi
    assert pd.DataFrame(bootstrap_ci_rows(rows)).equals(out)  # same rows, same intervals


# --- registry and the harness ----------------------------------------------------------------------


def test_new_metrics_are_registered_and_listed(capsys):
    from benchmark.cli import main

    reg = all_metrics()
    for key in ["gene/ssim", "gene/rmse", "gene/js", "gene/ssim_grid", "gene/css_reliability_curve",
                "gene/css_reliability_oracle", "gene/css_reliability_random", "gene/css_reliability_auc",
                "summary/accuracy_score"]:
        assert key in reg, key
    assert reg["gene/js"].bounds == (0.0, pytest.approx(np.log(2)))
    assert reg["gene/rmse"].higher_is_better is False
    assert main(["ls", "metrics"]) == 0
    text = capsys.readouterr().out
    for name in ["ssim_grid", "accuracy_score", "css_reliability_auc", "Jensen-Shannon"]:
        assert name in text


def test_harness_writes_tests_intervals_and_accuracy_score(tiny_pair, tmp_path):
    from benchmark.harness import RunConfig, run_benchmark

    no_xy = dataclasses.replace(tiny_pair, name="tiny_noxy", spatial_key=None)
    no_xy.spatial = tiny_pair.spatial.copy()
    del no_xy.spatial.obsm["spatial"]
    cfg = RunConfig(out=tmp_path / "run", methods=["mean", "knn", "truth"], n_folds=3, cluster=False)
    res = run_benchmark(cfg, [tiny_pair, no_xy], progress=False)
    tests = pd.read_csv(res.out / "paired_tests.csv", keep_default_na=False)
    assert set(tests.dataset) == {"tiny", "tiny_noxy"}
    assert {"css", "pcc", "ssim", "rmse", "js"} <= set(tests.metric)
    assert "ssim_grid" in set(tests[tests.dataset == "tiny"].metric)
    assert "ssim_grid" not in set(tests[tests.dataset == "tiny_noxy"].metric)
    knn_truth = tests[(tests.dataset == "tiny") & (tests.metric == "pcc") & (tests.method_a == "knn")
                      & (tests.method_b == "truth")].iloc[0]
    assert knn_truth.better == "truth"
    r = res.results
    skipped = r[(r.dataset == "tiny_noxy") & (r.stat == "skipped")]
    # without coordinates every spatial metric is skipped with that reason; no method here returns intervals
    # or confidence, so the uncertainty metrics are skipped too (n/a, never 0), on both datasets
    spatial = {"ssim_grid", "morans_i_abs_diff", "morans_i_spearman", "morans_i_bias", "svg_overlap", "svg_auprc"}
    assert spatial <= set(skipped.metric)
    assert skipped[skipped.metric.isin(spatial)]["item"].str.contains("coordinates").all()
    assert set(skipped.metric) - spatial == {m for m in set(skipped.metric) - spatial if
                                             m.startswith(("coverage", "interval_width", "confidence"))}
    assert not r[(r.dataset == "tiny") & (r.stat == "skipped") & r.metric.isin(spatial)].shape[0]
    allk = r[(r.dataset == "tiny") & (r.method == "knn") & (r.fold == "all") & (r.metric == "css")
             & (r.scope == "gene")].set_index("stat")["value"]
    assert allk["ci95_low"] < allk["mean"] < allk["ci95_high"]
    s = res.summary
    assert s.loc[("tiny", "truth"), "accuracy_score"] == pytest.approx(1.0)
    assert s.loc[("tiny", "truth"), "gene_ssim_grid"] == pytest.approx(1.0)
    assert s.loc[("tiny", "knn"), "accuracy_score"] > s.loc[("tiny", "mean"), "accuracy_score"]
    assert np.isnan(s.loc[("tiny_noxy", "knn"), "gene_ssim_grid"])


def test_scale_only_control_ranks_genes_by_the_size_of_their_prediction():
    rng = np.random.default_rng(3)
    genes = [f"g{i}" for i in range(6)]
    t = pd.DataFrame(rng.random((40, 6)), columns=genes)
    # genes g0-g2 predicted well and large; g3-g5 predicted as small noise (low CSS)
    p = pd.concat([t[genes[:3]] * 2, pd.DataFrame(rng.random((40, 3)) * 0.01, columns=genes[3:])], axis=1)
    conf = pd.Series(np.arange(6.0), index=genes)  # a confidence that prefers the bad genes
    rows = pd.DataFrame(score_reliability(t, p, conf))

    def value(metric, stat="mean"):
        return rows[(rows.metric == metric) & (rows.stat == stat)]["value"].item()

    css = pd.Series([np.dot(t[g], p[g]) / np.linalg.norm(t[g]) / np.linalg.norm(p[g]) for g in genes], index=genes)
    assert value("css_top50_scale_only") == pytest.approx(css[genes[:3]].mean())  # the large, good genes
    assert value("css_top50_reliable") == pytest.approx(css[genes[3:]].mean())
    assert value("css_reliability_auc_scale_only", "value") > 0.5 > value("css_reliability_auc", "value")
