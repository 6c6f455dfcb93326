"""`benchmark report`: tables, figures and the HTML page, checked for content on tiny runs.

The fixture runs two tiny datasets with the controls, a test method that returns per-gene
confidence, a variant of it (for the ablation figure), a method that always fails (for the
failure table), and a second results folder with another ``knn.k`` (for the sensitivity figure).
"""

from __future__ import annotations

import base64
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from benchmark.datasets.synthetic import make_synthetic_pair
from benchmark.errors import InputError
from benchmark.harness import RunConfig, run_benchmark
from benchmark.methods.base import Method, MethodInfo
from benchmark.methods.knn import KnnControl
from benchmark.task import Prediction

from _helpers import registered

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class ConfidentKnn(KnnControl):
    """knn that also returns a per-gene confidence (the spread of its prediction)."""

    info = MethodInfo(name="rep-conf", summary="test: knn with confidence", returns_confidence=True)

    def fit_predict(self, task):
        pred = super().fit_predict(task)
        return Prediction(pred.expression, confidence=pred.expression.std(axis=0))


class ConfidentKnnVariant(ConfidentKnn):
    info = MethodInfo(name="rep-conf-k3", summary="test: a variant", returns_confidence=True, variant_of="rep-conf")

    @dataclass
    class Params:
        k: int = 3
        n_pcs: int = 30


class Broken(Method):
    info = MethodInfo(name="rep-broken", summary="test: always fails")

    def fit_predict(self, task):
        raise RuntimeError("deliberate failure for the report test")


METHODS = ["mean", "knn", "rep-conf", "rep-conf-k3", "rep-broken"]


def _run(out: Path, datasets, methods, **kw) -> Path:
    cfg = RunConfig(methods=methods, out=out, isolate=False, **kw)
    run_benchmark(cfg, datasets, progress=False)
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two results folders: (tiny + tiny2) x METHODS, and tiny with knn k=5."""
    root = tmp_path_factory.mktemp("report_runs")
    tiny = make_synthetic_pair(n_spatial=240, n_reference=300, n_shared=12, n_reference_only=10, n_types=3,
                               n_modules=3, seed=1, name="tiny")
    tiny2 = make_synthetic_pair(n_spatial=120, n_reference=200, n_shared=10, n_reference_only=10, n_types=3,
                                n_modules=3, seed=2, name="tiny2")
    with registered(ConfidentKnn, ConfidentKnnVariant, Broken):
        main = _run(root / "main", [tiny, tiny2], METHODS)
        k5 = _run(root / "k5", [tiny], ["knn"], method_params={"knn": {"k": 5}})
        yield main, k5, root


@pytest.fixture(scope="module")
def report(runs):
    from benchmark.reports import make_report

    main, k5, root = runs
    with registered(ConfidentKnn, ConfidentKnnVariant, Broken):
        rep = make_report([main, k5], root / "report", umap=False)
    return rep


def _svg_text(path: Path) -> str:
    tree = ET.parse(path)  # fails on a malformed file
    return " ".join(t for el in tree.iter() for t in [el.text or ""] if t.strip())


def _labels():
    return ["mean", "knn k=20", "knn k=5", "rep-conf", "rep-conf-k3", "rep-broken"]


# -- the predictions the harness writes --------------------------------------------------


def test_harness_writes_assembled_predictions(runs):
    main, _, _ = runs
    index = json.loads((main / "predictions" / "index.json").read_text())
    assert set(index) == {"tiny", "tiny2"}
    a = ad.read_h5ad(main / "predictions" / "tiny.h5ad")
    assert a.shape == (240, 12) and a.X.dtype == np.float32
    assert set(a.layers) == {"mean__seed0", "knn__seed0", "rep-conf__seed0", "rep-conf-k3__seed0"}
    assert "rep-broken__seed0" in index["tiny"]["skipped"]  # every job failed
    assert a.obsm["spatial"].shape == (240, 2) and "label" in a.obs
    # confidence only for the methods that return it, one value per gene
    assert {c for c in a.var.columns} == {"confidence__rep-conf__seed0", "confidence__rep-conf-k3__seed0"}
    assert a.var["confidence__rep-conf__seed0"].notna().all()
    # the mean control predicts one value per gene for every cell, and X is the measured (non-constant) truth
    m = a.layers["mean__seed0"]
    assert np.allclose(m, m[0]) and not np.allclose(a.X, a.X[0])
    # the layer's gene-level PCC matches the scores of the run
    res = pd.read_parquet(main / "results.parquet")
    gene = a.var_names[0]
    pcc = res[(res.dataset == "tiny") & (res.method == "knn") & (res.metric == "pcc") & (res.scope == "gene")
              & (res.fold == "all") & (res.item == gene)]
    g = 0
    assert np.corrcoef(a.X[:, g], a.layers["knn__seed0"][:, g])[0, 1] == pytest.approx(pcc["value"].iloc[0], abs=1e-4)


def test_holdout_runs_write_no_assembled_prediction(tmp_path):
    pair = make_synthetic_pair(n_spatial=80, n_reference=100, n_shared=8, n_reference_only=4, n_types=2,
                               n_modules=2, seed=3, name="ho")
    _run(tmp_path, [pair], ["mean"], protocol="holdout", repeats=2, cluster=False)
    index = json.loads((tmp_path / "predictions" / "index.json").read_text())
    assert index["ho"]["file"] is None and "exactly once" in index["ho"]["skipped"]["mean__seed0"]
    assert not (tmp_path / "predictions" / "ho.h5ad").exists()


# -- tables ----------------------------------------------------------------------------------


def test_summary_markdown_names_every_method_and_dataset(report):
    md = (report.out / "tables" / "summary.md").read_text()
    assert "## tiny\n" in md and "## tiny2\n" in md
    for lab in _labels():
        assert f"| {lab} |" in md, lab
    # the broken method is listed with all its jobs failed and no scores
    row = next(line for line in md.splitlines() if line.startswith("| rep-broken |"))
    assert "5/5" in row and "n/a" in row


def test_aggregates_agree_with_the_run_summary(runs, report):
    main, _, _ = runs
    agg = pd.read_csv(report.out / "tables" / "aggregates.csv")
    summary = pd.read_csv(main / "summary.csv")
    for _, row in summary.iterrows():
        label = "knn k=20" if row["method"] == "knn" else row["method"]
        for col in ["cell_css", "gene_pcc", "cell_mse", "cluster_ari"]:
            if pd.isna(row.get(col)):
                continue
            got = agg[(agg.dataset == row["dataset"]) & (agg.entry == label) & (agg.metric == col)]["mean"]
            assert got.iloc[0] == pytest.approx(row[col], rel=1e-9), (row["dataset"], label, col)
    # spread columns are filled: gene-level SD over genes and SD over the five folds
    g = agg[(agg.dataset == "tiny") & (agg.entry == "knn k=20") & (agg.metric == "gene_pcc")].iloc[0]
    assert g["n_items"] == 12 and g["item_sd"] > 0 and g["split_sd"] > 0 and g["item_q25"] <= g["item_q75"]


def test_ranks_follow_each_metrics_direction(report):
    rk = pd.read_csv(report.out / "tables" / "ranks.csv")
    agg = pd.read_csv(report.out / "tables" / "aggregates.csv")
    for (d, m), grp in rk[rk.metric != "mean_rank"].groupby(["dataset", "metric"]):
        a = agg[(agg.dataset == d) & (agg.metric == m)].dropna(subset=["mean"]).set_index("entry")["mean"]
        best = a.idxmax() if not m.endswith("mse") else a.idxmin()
        assert grp.set_index("entry").loc[best, "rank"] == 1, (d, m)
    assert "| rep-conf |" in (report.out / "tables" / "ranks.md").read_text()


def test_failures_table_lists_the_failed_jobs(report):
    fail = pd.read_csv(report.out / "tables" / "failures.csv")
    assert len(fail) == 10 and set(fail["entry"]) == {"rep-broken"} and set(fail["dataset"]) == {"tiny", "tiny2"}
    assert fail["error"].str.contains("deliberate failure").all()
    assert "deliberate failure" in (report.out / "tables" / "failures.md").read_text()


# -- figures ---------------------------------------------------------------------------------

FIGURES = ["box_tiny", "box_tiny2", "cluster_metrics", "rank_heatmap", "ablation_rep-conf_tiny",
           "ablation_rep-conf_tiny2", "sensitivity_knn", "reliability_tiny", "reliability_tiny2", "resources", "scaling", "spatial_tiny",
           "spatial_tiny2", "spatial_metrics", "uncertainty_metrics", "celltype_metrics"]


@pytest.mark.parametrize("name", FIGURES)
def test_figure_files_are_valid(report, name):
    import matplotlib.image

    png = report.out / "figures" / f"{name}.png"
    assert png.read_bytes()[:8] == PNG_MAGIC
    img = matplotlib.image.imread(png)
    assert img.shape[0] > 100 and img.shape[1] > 100 and img.std() > 0  # not blank
    assert _svg_text(report.out / "figures" / f"{name}.svg")


def test_figures_show_the_right_methods(report):
    fig = report.out / "figures"
    box = _svg_text(fig / "box_tiny.svg")
    for lab in ["mean", "knn k=20", "knn k=5", "rep-conf", "rep-conf-k3"]:
        assert lab in box
    assert "rep-broken" not in box  # it has no scores
    assert "tiny2" not in box
    heat = _svg_text(fig / "rank_heatmap.svg")
    assert all(x in heat for x in ["tiny", "tiny2", "all datasets", "rep-conf", "mean rank"])
    abl = _svg_text(fig / "ablation_rep-conf_tiny.svg")
    assert "rep-conf-k3" in abl and "knn" not in abl
    sens = _svg_text(fig / "sensitivity_knn.svg")
    assert "k" in sens and "tiny" in sens
    rel = _svg_text(fig / "reliability_tiny.svg")
    assert "rep-conf" in rel and "rep-conf-k3" in rel and "knn k=20" not in rel  # only methods with confidence
    res = _svg_text(fig / "resources.svg")
    assert all(lab in res for lab in _labels())  # failed jobs took time too
    spatial = _svg_text(fig / "spatial_tiny.svg")
    assert "measured" in spatial and all(lab in spatial for lab in ["mean", "knn k=20", "rep-conf"])
    genes = re.findall(r"Gene\d+", spatial)
    assert len(set(genes)) == 3


def test_method_colours_are_the_same_in_every_figure(runs, report):
    from benchmark.reports.data import load

    main, k5, _ = runs
    with registered(ConfidentKnn, ConfidentKnnVariant, Broken):
        colours = load([main, k5]).palette
    assert len(set(colours.values())) == len(colours)  # distinct
    box = (report.out / "figures" / "box_tiny.svg").read_text().lower()
    res = (report.out / "figures" / "resources.svg").read_text().lower()
    for lab in ["rep-conf", "rep-conf-k3", "knn k=5"]:
        assert colours[lab].lower() in box and colours[lab].lower() in res, lab


# -- the page --------------------------------------------------------------------------------


def test_html_page_is_self_contained(runs, report):
    main, _, _ = runs
    page = report.html.read_text()
    images = re.findall(r'<img[^>]*src="([^"]+)"', page)
    assert len(images) == len(FIGURES)
    assert all(src.startswith("data:image/png;base64,") for src in images)
    for src in images:
        assert base64.b64decode(src.split(",", 1)[1])[:8] == PNG_MAGIC
    for lab in _labels():
        assert lab in page
    run = json.loads((main / "run.json").read_text())
    assert run["git_commit"] in page and run["started"] in page
    assert "deliberate failure" in page
    assert "umap" in page.lower() and "turned off" in page  # the UMAP was turned off, and the page says so
    for rel in report.files:  # every file the report lists exists and is linked from the page
        assert (report.out / rel).is_file() and (report.out / rel).stat().st_size > 0
        if rel != "report.html":
            assert f"href='{rel}'" in page


def test_report_md_links_every_figure(report):
    md = (report.out / "report.md").read_text()
    for name in FIGURES:
        assert f"(figures/{name}.png)" in md


# -- input errors and the command line ----------------------------------------------------


def test_bad_input_is_a_clear_error(tmp_path, runs):
    from benchmark.reports import make_report

    main, k5, _ = runs
    with pytest.raises(InputError, match="does not exist"):
        make_report([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no results.parquet"):
        make_report([tmp_path / "empty"])
    with pytest.raises(InputError, match="--out"):
        make_report([main, k5])
    with pytest.raises(InputError, match="not among"):
        make_report([k5], tmp_path / "r", genes=["NotAGene"], umap=False)


def test_cli_report(runs, tmp_path, capsys):
    from benchmark.cli import main as cli

    _, k5, _ = runs
    gene = ad.read_h5ad(k5 / "predictions" / "tiny.h5ad").var_names[-1]
    assert cli(["report", str(k5), "--out", str(tmp_path / "r"), "--no-umap", "--formats", "pdf",
                "--genes", gene, "NotAGene"]) == 0
    out = capsys.readouterr().out
    assert "report.html" in out and "NotAGene" in out  # a note names the unknown gene
    fig = tmp_path / "r" / "figures"
    assert (fig / "spatial_tiny.pdf").read_bytes()[:5] == b"%PDF-" and not (fig / "spatial_tiny.svg").exists()
    assert (fig / "box_tiny.pdf").read_bytes()[:5] == b"%PDF-"
    assert f"Genes: {gene} (chosen with --genes)" in (tmp_path / "r" / "report.html").read_text()
    assert cli(["report", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_scale_folder_adds_the_scaling_figure(runs, tmp_path):
    """A `benchmark scale` folder (scale.csv) given beside a results folder adds time and memory
    against cells, with a cross where a method stopped."""
    from benchmark.reports import make_report
    from benchmark.scale import COLUMNS

    _, k5, _ = runs
    scale = tmp_path / "scale"
    scale.mkdir()
    rows = [{"method": m, "n_cells": n, "n_genes": 20, "status": st, "runtime_s": t, "peak_rss_mb": mem}
            for m, n, st, t, mem in [("knn", 1000, "ok", 1.0, 200), ("knn", 10000, "ok", 9.0, 400),
                                     ("slowpoke", 1000, "ok", 5.0, 300), ("slowpoke", 10000, "timeout", None, None)]]
    pd.DataFrame(rows).reindex(columns=COLUMNS).to_csv(scale / "scale.csv", index=False)
    merged = tmp_path / "merged"  # a `scale-merge` folder: knn under other parameters is its own line
    merged.mkdir()
    pd.DataFrame([{**rows[0], "label": "knn (k=3)"}]).reindex(columns=COLUMNS + ["label"]).to_csv(
        merged / "scale.csv", index=False)
    rep = make_report([k5, scale, merged], tmp_path / "r", umap=False)
    svg = _svg_text(tmp_path / "r" / "figures" / "scaling_run.svg")
    assert "knn" in svg and "slowpoke" in svg and "spatial cells" in svg and "knn (k=3)" in svg
    assert "scaling_run" in rep.html.read_text()
    with pytest.raises(InputError, match="at least one results folder"):
        make_report([scale], tmp_path / "r2")


@pytest.mark.slow  # umap-learn's numba compilation takes tens of seconds
def test_umap_figure(runs, tmp_path):
    pytest.importorskip("umap")
    from benchmark.reports import make_report

    _, k5, _ = runs
    rep = make_report([k5], tmp_path / "r")
    svg = _svg_text(tmp_path / "r" / "figures" / "umap_tiny.svg")
    assert "measured" in svg and "knn" in svg and "cell type" in svg
    assert "Type0" in svg  # the known labels are the legend


def test_missing_umap_is_said_on_the_page(runs, monkeypatch, tmp_path):
    from benchmark.reports import figures
    from benchmark.reports.data import load
    from benchmark.reports.html import write_html

    _, k5, _ = runs
    monkeypatch.setattr(figures, "umap_available", lambda: False)
    data = load([k5])
    assert figures.umap_plots(data, tmp_path, ["svg"]) == []
    assert any("umap-learn is not installed" in n for n in data.notes)
    page = write_html(data, {"summaries": {}, "aggregates": None, "resources": None, "ranks": pd.DataFrame(),
                             "failures": pd.DataFrame()}, [], tmp_path, [])
    assert "umap-learn is not installed" in page.read_text()


def _shell(n: int, rng, half_axis: int | None = None) -> np.ndarray:
    """Cells on an ellipsoid's surface (an embryo-like shell, long axis x); with half_axis, only
    the half where that coordinate is positive (the BDTNP atlas holds one half of the embryo)."""
    v = rng.normal(size=(n, 3))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    if half_axis is not None:
        v[:, half_axis] = np.abs(v[:, half_axis])
    return v * np.array([200.0, 70.0, 70.0])


def test_3d_map_views_never_overlay_the_two_sides_of_a_tissue():
    from benchmark.reports.figures import _map_views

    rng = np.random.default_rng(0)
    # half a shell (y >= 0): seen along y, each (x, z) point has one cell: one view on x and z
    axes, views = _map_views(_shell(3000, rng, half_axis=1))
    assert axes == (0, 2) and len(views) == 1 and views[0][1].all()
    # a whole shell overlays its two sides in every projection: two views, split at the depth's median
    c = _shell(3000, rng)
    axes, views = _map_views(c)
    depth = ({0, 1, 2} - set(axes)).pop()
    assert len(views) == 2 and depth != 0  # never the long axis
    up, down = views[0][1], views[1][1]
    assert not (up & down).any() and (up | down).all() and c[up, depth].min() >= c[down, depth].max()
    # planar coordinates: x and y, one view of every cell
    axes, views = _map_views(c[:, :2])
    assert axes == (0, 1) and len(views) == 1 and views[0][1].all()


def test_a_3d_tissue_keeps_z_and_its_map_says_which_projection(tmp_path):
    from benchmark.reports import make_report

    pair = make_synthetic_pair(n_spatial=160, n_reference=200, n_shared=8, n_reference_only=4, n_types=2,
                               n_modules=2, seed=4, name="shell")
    c = _shell(160, np.random.default_rng(1))
    pair.spatial.obsm["spatial"] = c
    out = _run(tmp_path / "run", [pair], ["mean", "knn"], cluster=False)
    a = ad.read_h5ad(out / "predictions" / "shell.h5ad")
    assert a.obsm["spatial"].shape == (160, 3)
    want = pd.DataFrame(c, index=pair.spatial.obs_names).loc[a.obs_names].to_numpy()
    np.testing.assert_allclose(a.obsm["spatial"], want, rtol=1e-5)
    rep = make_report([out], tmp_path / "report", umap=False)
    svg = _svg_text(rep.out / "figures" / "spatial_shell.svg")
    assert "one side" in svg and "other side" in svg
    assert "two views" in (rep.out / "report.md").read_text()
