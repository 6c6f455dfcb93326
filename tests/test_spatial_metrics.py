"""Spatial pattern metrics (metrics/spatial.py: Moran's I preservation, spatially variable gene
recovery) and downstream cell typing (metrics/celltype.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmark.metrics import DatasetContext, ScoringInput
from benchmark.metrics.spatial import SVG_FRACTION, morans_i, svg_calls
from benchmark.scoring import score_prediction

from _helpers import require_module  # noqa: E402

require_module("squidpy", "the spatial metrics use squidpy")


def _grid(n_side: int = 30) -> np.ndarray:
    xx, yy = np.meshgrid(np.arange(n_side, dtype=float), np.arange(n_side, dtype=float))
    return np.c_[xx.ravel(), yy.ravel()]


def _spatial_values(xy: np.ndarray, n_genes: int, seed: int = 0) -> np.ndarray:
    """Genes from a smooth gradient (strong pattern) to pure noise (none)."""
    rng = np.random.default_rng(seed)
    grad = (xy[:, 0] + xy[:, 1]) / np.ptp(xy[:, 0] + xy[:, 1])
    mix = np.linspace(1.0, 0.0, n_genes)
    return np.stack([m * grad * 4 + (1 - m) * rng.normal(size=len(xy)) + 5 for m in mix], axis=1)


def _rows(truth: np.ndarray, pred: np.ndarray, ctx: DatasetContext) -> pd.DataFrame:
    cells = [f"c{i}" for i in range(truth.shape[0])]
    genes = [f"g{j}" for j in range(truth.shape[1])]
    t = pd.DataFrame(truth, index=cells, columns=genes)
    p = pd.DataFrame(pred, index=cells, columns=genes)
    ctx.measured = t
    inp = ScoringInput(t, p, "assembled", returned=p, context=ctx)
    return pd.DataFrame(score_prediction(inp))


def test_morans_i_orders_patterned_above_noise_and_constant_is_undefined():
    xy = _grid()
    x = _spatial_values(xy, 5)
    x = np.c_[x, np.full(len(xy), 3.0)]
    i = morans_i(x, DatasetContext("g", coords=xy))
    assert i[0] > 0.8 and abs(i[4]) < 0.1
    assert (np.diff(i[:5]) < 0).all()
    assert np.isnan(i[5])


def _shell(n: int = 1200, seed: int = 0) -> np.ndarray:
    """Cells on the surface of an ellipsoid (an embryo): front (z > 0) and back overlap in (x, y)."""
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, 3))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v * [250.0, 100.0, 100.0]


def test_morans_i_uses_3d_coordinates_where_the_tissue_is_3d():
    """A gene on the front of an embryo but not the back: patterned in 3-D; projected onto (x, y),
    each cell's neighbours mix front and back and the pattern mostly disappears."""
    xyz = _shell()
    rng = np.random.default_rng(1)
    x = ((xyz[:, 2] > 0) * 3.0 + 0.3 * rng.normal(size=len(xyz)))[:, None]
    in_3d = morans_i(x, DatasetContext("e", coords=xyz))[0]
    projected = morans_i(x, DatasetContext("p", coords=xyz[:, :2]))[0]
    assert in_3d > 0.8 and projected < 0.5


def test_grid_ssim_is_3d_and_per_field():
    from benchmark.metrics.spatial import ssim_grid, ssim_grid_by_field

    half = _shell(600, seed=2)
    half[:, 2] = np.abs(half[:, 2])
    xyz = np.r_[half, half * [1.0, 1.0, -1.0]]  # every front cell has a back cell behind it
    rng = np.random.default_rng(2)
    front = (xyz[:, 2] > 0).astype(float)
    t = np.c_[front + 0.1 * rng.random(len(xyz)), 1 - front + 0.1 * rng.random(len(xyz))]
    mirror = np.r_[np.arange(600, 1200), np.arange(600)]
    swapped = t[mirror]  # each cell given the value of the one behind it: same (x, y) pixel means
    assert np.allclose(ssim_grid(t, t, xyz, bins=12), 1.0)
    assert (ssim_grid(t, swapped, xyz, bins=12) < 0.5).all()
    assert np.allclose(ssim_grid(t, swapped, xyz[:, :2], bins=12), 1.0)  # what the projection saw
    # two fields sharing one coordinate frame: each on its own grid, cell-weighted mean
    xy = rng.random((300, 2)) * 100
    fields = np.repeat(["a", "b"], [200, 100])
    g = np.c_[xy[:, 0] / 100 + 0.1 * rng.random(300)]
    pred = np.r_[g[:200], 1.1 - g[200:]]  # right in field a, mirrored in field b
    by_field = ssim_grid_by_field(g, pred, xy, fields, bins=8)[0]
    a = ssim_grid(g[:200], pred[:200], xy[:200], bins=8)[0]
    b = ssim_grid(g[200:], pred[200:], xy[200:], bins=8)[0]
    assert a == pytest.approx(1.0) and by_field == pytest.approx((200 * a + 100 * b) / 300)
    assert by_field != pytest.approx(ssim_grid(g, pred, xy, bins=8)[0])  # one grid would mix the fields
    # the scored metric takes each field's own coordinates
    ctx = DatasetContext("f", coords=np.r_[xy[:200], xy[200:] + [300.0, 0.0]], fields=fields, field_coords=xy)
    rows = _rows(np.c_[g, g], np.c_[pred, pred], ctx)
    grid = rows[(rows["metric"] == "ssim_grid") & (rows["stat"] == "mean")]["value"].iloc[0]
    assert grid == pytest.approx(ssim_grid_by_field(g, pred, xy, fields)[0])


def test_morans_i_is_computed_within_each_field_never_across():
    """Two fields whose gene level differs (a batch offset) but without any pattern inside a field: within
    fields Moran's I is about 0; one graph over the tiled fields would find the offset as a pattern."""
    rng = np.random.default_rng(3)
    xy_field = _grid(20)
    n = len(xy_field)
    fields = np.repeat(["a", "b"], n)
    within = np.r_[xy_field, xy_field]
    tiled = np.r_[xy_field, xy_field + [25.0, 0.0]]
    x = (np.r_[np.zeros(n), np.full(n, 5.0)] + rng.normal(size=2 * n))[:, None]
    per_field = morans_i(x, DatasetContext("f", coords=tiled, fields=fields, field_coords=within))
    one_frame = morans_i(x, DatasetContext("f", coords=tiled))
    assert abs(per_field[0]) < 0.1 and one_frame[0] > 0.5


def test_perfect_and_constant_predictions():
    xy = _grid()
    truth = _spatial_values(xy, 10)
    perfect = _rows(truth, truth, DatasetContext("g", coords=xy)).set_index("metric")
    assert perfect.loc["morans_i_spearman", "value"] == pytest.approx(1.0)
    assert perfect.loc["svg_overlap", "value"] == 1.0 and perfect.loc["svg_auprc", "value"] == 1.0
    diffs = perfect[(perfect.index == "morans_i_abs_diff") & (perfect.stat == "value")]["value"]
    assert len(diffs) == 10 and np.allclose(diffs, 0.0)

    const = np.tile(truth.mean(axis=0), (len(xy), 1))  # the mean control: no spatial pattern at all
    c = _rows(truth, const, DatasetContext("g", coords=xy)).set_index("metric")
    assert c.loc["morans_i_spearman", "value"] == 0.0
    assert c.loc["svg_overlap", "value"] == 0.0  # a constant gene is never called spatially variable
    assert c.loc["svg_auprc", "value"] == pytest.approx(svg_calls(np.arange(10.0)).mean())  # chance level
    it = morans_i(truth, DatasetContext("g", coords=xy))
    mean_abs = c[(c.index == "morans_i_abs_diff") & (c.stat == "mean")]["value"].iloc[0]
    assert mean_abs == pytest.approx(np.abs(it).mean())  # constant = Moran's I 0
    assert c.loc["morans_i_bias", "value"] == pytest.approx(-it.mean())


def test_swapped_patterns_lose_rank_correlation_and_svg_calls():
    xy = _grid()
    truth = _spatial_values(xy, 10)
    swapped = truth[:, ::-1]  # the strongest pattern predicted for the noisiest gene
    r = _rows(truth, swapped, DatasetContext("g", coords=xy)).set_index("metric")
    assert r.loc["morans_i_spearman", "value"] < -0.9  # the noise genes among themselves rank at random
    assert r.loc["svg_overlap", "value"] == 0.0


def test_svg_calls_top_fraction_and_never_undefined():
    v = np.array([0.1, np.nan, 0.9, 0.5, 0.3, 0.2, 0.8, 0.0, 0.4, 0.6])
    called = svg_calls(v)
    assert called.sum() == round(SVG_FRACTION * len(v)) and set(np.flatnonzero(called)) == {2, 6}
    assert not svg_calls(np.array([np.nan, np.nan])).any()


def test_without_coordinates_spatial_metrics_are_skipped_with_the_reason():
    rng = np.random.default_rng(0)
    x = rng.random((50, 4))
    rows = _rows(x, x, DatasetContext("n", coords_reason="the dataset has no spatial coordinates"))
    sp = rows[rows.metric.isin(["morans_i_abs_diff", "morans_i_spearman", "svg_overlap", "svg_auprc"])]
    assert len(sp) == 4 and (sp.stat == "skipped").all() and sp.value.isna().all()
    assert sp["item"].str.contains("no spatial coordinates").all()


def test_cell_typing_agreement_with_reference_labels_and_without():
    rng = np.random.default_rng(2)
    genes = [f"g{j}" for j in range(6)]
    centres = rng.normal(scale=4, size=(3, 6))
    ref_types = np.repeat([0, 1, 2], 60)
    reference = pd.DataFrame(centres[ref_types] + rng.normal(size=(180, 6)), columns=genes)
    sp_types = np.repeat([0, 1, 2], 40)
    measured = centres[sp_types] + rng.normal(size=(120, 6))
    labels = pd.Series(np.array(["a", "b", "c"])[ref_types])
    ct = _rows(measured, measured, DatasetContext("ct", reference=reference, reference_labels=labels))
    ct = ct[ct.scope == "celltype"].set_index("metric")["value"]
    assert ct["accuracy"] == 1.0 and ct["ari"] == pytest.approx(1.0)
    shuffled = measured[rng.permutation(120)]
    ct2 = _rows(measured, shuffled, DatasetContext("ct", reference=reference, reference_labels=labels))
    ct2 = ct2[ct2.scope == "celltype"].set_index("metric")["value"]
    assert ct2["accuracy"] < 0.6 and ct2["ari"] < 0.2
    none = _rows(measured, measured, DatasetContext("ct", reference=reference, reference_labels=None))
    none = none[none.scope == "celltype"]
    assert (none.stat == "skipped").all() and none["item"].str.contains("no cell-type labels").all()
