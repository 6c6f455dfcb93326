"""Metric properties: known values, bounds, direction, degenerate conventions, best values."""

import numpy as np
import pandas as pd
import pytest

from benchmark.metrics import (
    CLUSTER_METRICS,
    EXPRESSION_METRICS,
    ClusterParams,
    all_metrics,
    cluster_scores,
    cosine_similarity,
    mean_squared_error,
    pearson_correlation,
)
from benchmark.scoring import score_expression


def test_known_small_examples():
    t = np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 4.0]])
    p = np.array([[2.0, 0.0, 4.0], [0.0, 4.0, 3.0]])
    # cell 0: p = 2t -> cosine 1, correlation 1, mse = mean(t^2) = 5/3
    assert cosine_similarity(t, p, 1)[0] == pytest.approx(1.0)
    assert pearson_correlation(t, p, 1)[0] == pytest.approx(1.0)
    assert mean_squared_error(t, p, 1)[0] == pytest.approx(5 / 3)
    # cell 1: (0,3,4).(0,4,3) = 24, norms 5 and 5
    assert cosine_similarity(t, p, 1)[1] == pytest.approx(24 / 25)
    assert mean_squared_error(t, p, 1)[1] == pytest.approx(2 / 3)
    # gene 2 across cells: (2,4) vs (4,3)
    assert cosine_similarity(t, p, 0)[2] == pytest.approx(20 / (np.sqrt(20) * 5))
    assert pearson_correlation(t, p, 0)[2] == pytest.approx(-1.0)
    assert mean_squared_error(t, p, 0)[2] == pytest.approx((4 + 1) / 2)


def test_pcc_matches_numpy_and_css_matches_formula():
    rng = np.random.default_rng(0)
    t, p = rng.random((50, 8)), rng.random((50, 8))
    for j in range(8):
        assert pearson_correlation(t, p, 0)[j] == pytest.approx(np.corrcoef(t[:, j], p[:, j])[0, 1])
        expected = t[:, j] @ p[:, j] / (np.linalg.norm(t[:, j]) * np.linalg.norm(p[:, j]))
        assert cosine_similarity(t, p, 0)[j] == pytest.approx(expected)


def test_degenerate_conventions():
    t = np.array([[0.0, 0.0], [1.0, 2.0], [3.0, 1.0]])
    p = np.array([[1.0, 1.0], [0.0, 0.0], [2.0, 2.0]])
    css = cosine_similarity(t, p, 1)
    assert np.isnan(css[0])  # measured vector all zero: undefined
    assert css[1] == 0.0  # prediction all zero: no similarity
    pcc = pearson_correlation(t, p, 1)
    assert np.isnan(pcc[0])  # measured constant: undefined
    assert pcc[2] == 0.0  # prediction constant: no linear information


def test_truth_reaches_best_value_of_every_expression_metric():
    rng = np.random.default_rng(1)
    t = np.log1p(rng.poisson(3.0, (40, 6)).astype(float))
    for m in EXPRESSION_METRICS:
        assert np.allclose(m.fn(t, t.copy()), m.best), m.key


def test_values_respect_bounds_and_direction():
    rng = np.random.default_rng(2)
    t = rng.normal(size=(60, 10))
    good = t + 0.1 * rng.normal(size=t.shape)
    bad = rng.normal(size=t.shape)
    for m in EXPRESSION_METRICS:
        lo, hi = m.bounds
        for pred in (good, bad, -t):
            v = m.fn(t, pred)
            assert lo is None or (v >= lo - 1e-12).all()
            assert hi is None or (v <= hi + 1e-12).all()
        better, worse = np.nanmean(m.fn(t, good)), np.nanmean(m.fn(t, bad))
        assert (better > worse) if m.higher_is_better else (better < worse), m.key


def test_score_expression_rows_have_items_and_aggregates():
    idx = pd.Index(["c0", "c1", "c2"])
    t = pd.DataFrame([[1.0, 2.0], [2.0, 1.0], [0.0, 0.0]], index=idx, columns=["A", "B"])
    rows = pd.DataFrame(score_expression(t, t, per_item=True))
    cells = rows[(rows.scope == "cell") & (rows.metric == "css") & (rows.stat == "value")]
    assert list(cells["item"]) == ["c0", "c1", "c2"]
    mean = rows[(rows.scope == "cell") & (rows.metric == "css") & (rows.stat == "mean")]["value"].item()
    assert mean == pytest.approx(1.0)  # the all-zero cell is undefined and left out...
    undefined = rows[(rows.scope == "cell") & (rows.metric == "css") & (rows.stat == "n_undefined")]
    assert undefined["value"].item() == 1  # ...and counted


def test_cluster_metrics_reach_one_on_separable_data_and_are_seeded():
    rng = np.random.default_rng(3)
    labels = np.repeat(["a", "b", "c"], 60)
    centers = {"a": np.r_[10, 0, 0, 0, 0.0], "b": np.r_[0, 10, 0, 0, 0.0], "c": np.r_[0, 0, 10, 0, 0.0]}
    x = np.stack([centers[lab] for lab in labels]) + rng.normal(0, 0.5, (180, 5))
    params = ClusterParams(n_neighbors=10, n_pcs=4, resolution=0.3)
    s1 = cluster_scores(x, labels, params, seed=0)
    for m in CLUSTER_METRICS:
        assert s1[m.name] == pytest.approx(m.best), m.name
    assert cluster_scores(x, labels, params, seed=0) == s1


def test_cluster_metrics_are_low_for_uninformative_data():
    rng = np.random.default_rng(4)
    labels = np.repeat(["a", "b", "c"], 60)
    s = cluster_scores(rng.normal(size=(180, 5)), labels, ClusterParams(n_neighbors=10, n_pcs=4), seed=0)
    assert s["ari"] < 0.1


def test_cluster_metrics_ignore_unlabelled_cells():
    rng = np.random.default_rng(5)
    labels = np.array(["a"] * 50 + ["b"] * 50 + [None] * 20, dtype=object)
    x = np.r_[rng.normal(0, 0.3, (50, 3)), rng.normal(8, 0.3, (50, 3)), rng.normal(4, 5, (20, 3))]
    s = cluster_scores(x, labels, ClusterParams(n_neighbors=8, n_pcs=2, resolution=0.2), seed=0)
    assert s["ari"] == pytest.approx(1.0)


def test_registry_metadata():
    reg = all_metrics()
    for key in ["cell/css", "cell/mse", "cell/pcc", "gene/css", "gene/mse", "gene/pcc",
                "cluster/ari", "cluster/fmi", "cluster/completeness", "run/runtime_s", "run/peak_memory_mb"]:
        assert key in reg
    assert reg["cell/mse"].higher_is_better is False and reg["cell/mse"].best == 0.0
    assert reg["gene/css"].bounds == (-1.0, 1.0)


def test_leiden_clusters_do_not_depend_on_float_noise(monkeypatch):
    """Duplicated cells tie for neighbour ranks; a 1e-13 relative change (what another BLAS
    thread count gives) must not change the clusters. Without the rounding it does."""
    from sklearn.metrics import adjusted_rand_score

    from benchmark.metrics import clustering

    rng = np.random.default_rng(0)
    centers = rng.normal(size=(6, 12)) * 0.7  # overlapping types: the partition is not obvious
    x = np.vstack([centers[i % 6] + rng.normal(size=12) for i in range(300)])
    x = np.vstack([x, x[:80]])  # duplicated cells, as in the osmFISH release
    noisy = x * (1 + 1e-13 * rng.standard_normal(x.shape))
    np.testing.assert_array_equal(clustering.leiden_clusters(x), clustering.leiden_clusters(noisy))
    monkeypatch.setattr(clustering, "ROUND_DECIMALS", None)
    assert adjusted_rand_score(clustering.leiden_clusters(x), clustering.leiden_clusters(noisy)) < 1.0
