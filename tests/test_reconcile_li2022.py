"""scripts/reconcile_li2022.py on tiny synthetic tables: means, Spearman (against scipy), selection."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

ROOT = Path(__file__).resolve().parent.parent


def _load_script():
    spec = importlib.util.spec_from_file_location("reconcile_li2022", ROOT / "scripts" / "reconcile_li2022.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


rec = _load_script()

GENES = ["Gad2", "Vip", "Sox10", "Plp1", "Rorb", "Ttr"]
THEIRS = [0.10, 0.40, 0.55, 0.50, 0.30, 0.01]
OURS = [0.05, 0.20, 0.60, 0.35, 0.45, -0.02]


def _published() -> pd.DataFrame:
    rows = []
    for g, v in zip(GENES, THEIRS):
        # upper case, as the Data15 files spell them
        rows.append(dict(method="SpaGE", gene=g.upper(), metric="pcc", value=v, release="Dataset2"))
        rows.append(dict(method="SpaGE", gene=g.upper(), metric="ssim", value=v / 2, release="Dataset2"))
        rows.append(dict(method="Seurat", gene=g.upper(), metric="pcc", value=v + 0.1, release="Data15"))
        rows.append(dict(method="Seurat", gene=g.upper(), metric="pcc", value=v - 0.1, release="Dataset2"))
    return pd.DataFrame(rows)


def _results(seeds=(0,), scoring_space: str | None = None) -> pd.DataFrame:
    rows = []
    for seed in seeds:
        for g, v in zip(GENES, OURS):
            base = dict(dataset="osmfish", params="{}", fold="all", seed=seed, scope="gene", item=g, stat="value",
                        preprocessing="spage", quick=False)
            rows.append(dict(base, method="spage", metric="pcc", value=v + 0.01 * seed, method_version="1.0.1"))
            rows.append(dict(base, method="spage", metric="css", value=0.9, method_version="1.0.1"))
            rows.append(dict(base, method="knn", metric="pcc", value=0.3, method_version=""))
            # rows that must not be read: another data set, a fold aggregate, a per-fold value
            rows.append(dict(base, dataset="synthetic", method="spage", metric="pcc", value=9.0, method_version=""))
            rows.append(dict(base, stat="mean", item="", method="spage", metric="pcc", value=9.0, method_version=""))
            rows.append(dict(base, fold="0", method="spage", metric="pcc", value=9.0, method_version=""))
    df = pd.DataFrame(rows)
    if scoring_space is not None:
        df["scoring_space"] = scoring_space
    return df


def test_spearman_and_means_match_scipy():
    ours = rec.per_gene(_results(), "pcc")
    table = rec.reconcile(_published(), ours, "pcc", run="r")
    row = table[table["published_method"] == "SpaGE"].iloc[0]
    rho, p = stats.spearmanr(THEIRS, OURS)
    assert row["method"] == "spage"
    assert row["n_common"] == len(GENES)
    assert row["spearman"] == pytest.approx(rho, abs=1e-12)
    assert row["spearman_p"] == pytest.approx(p, rel=1e-9)
    assert row["their_mean"] == pytest.approx(np.mean(THEIRS))
    assert row["our_mean"] == pytest.approx(np.mean(OURS))
    assert row["delta"] == pytest.approx(np.mean(OURS) - np.mean(THEIRS))
    assert row["release"] == "Dataset2"


def test_seeds_are_averaged_per_gene():
    ours = rec.per_gene(_results(seeds=(0, 1)), "pcc")
    spage = ours[ours["method"] == "spage"].set_index("gene")["value"]
    assert spage["Vip"] == pytest.approx(0.205)
    table = rec.reconcile(_published(), ours, "pcc")
    row = table[table["published_method"] == "SpaGE"].iloc[0]
    rho, _ = stats.spearmanr(THEIRS, np.array(OURS) + 0.005)
    assert row["spearman"] == pytest.approx(rho)


def test_unrun_method_listed_without_ours_and_newest_release_default():
    table = rec.reconcile(_published(), rec.per_gene(_results(), "pcc"), "pcc")
    seurat = table[table["published_method"] == "Seurat"].iloc[0]
    assert seurat["method"] == ""
    assert np.isnan(seurat["our_mean"]) and seurat["n_common"] == 0
    assert seurat["release"] == "Data15"
    assert seurat["their_mean"] == pytest.approx(np.mean(THEIRS) + 0.1)
    forced = rec.reconcile(_published(), rec.per_gene(_results(), "pcc"), "pcc", release="Dataset2")
    assert forced[forced["published_method"] == "Seurat"]["their_mean"].iloc[0] == pytest.approx(np.mean(THEIRS) - 0.1)
    # knn has no published counterpart and is ignored
    assert "knn" not in set(table["method"])


def test_common_genes_only_and_scoring_space_column():
    res = _results(scoring_space="counts")
    res = res[~((res["item"] == "Ttr") & (res["method"] == "spage"))]  # one gene missing on our side
    table = rec.reconcile(_published(), rec.per_gene(res, "pcc"), "pcc")
    row = table[table["published_method"] == "SpaGE"].iloc[0]
    assert row["scoring_space"] == "counts"
    assert row["n_common"] == len(GENES) - 1
    rho, _ = stats.spearmanr(THEIRS[:-1], OURS[:-1])
    assert row["spearman"] == pytest.approx(rho)


def test_main_reads_a_run_folder(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    _results().to_csv(run / "results.csv", index=False)
    pub = tmp_path / "pub.csv"
    _published().to_csv(pub, index=False)
    out = tmp_path / "table.csv"
    assert rec.main([str(run), "--published", str(pub), "--out", str(out), "--markdown"]) == 0
    table = pd.read_csv(out)
    row = table[table["published_method"] == "SpaGE"].iloc[0]
    assert row["spearman"] == pytest.approx(stats.spearmanr(THEIRS, OURS)[0])
    assert "| SpaGE |" in capsys.readouterr().out.replace("  ", " ")
    assert rec.main([str(run), "--published", str(pub), "--out", str(out), "--ran-only"]) == 0
    assert list(pd.read_csv(out)["published_method"]) == ["SpaGE"]


def test_published_file_is_complete():
    pub = rec.load_published()
    assert set(pub["metric"]) == {"pcc", "ssim", "rmse", "js"}
    counts = pub.groupby(["method", "release", "metric"]).size()
    assert (counts == 33).all()
    assert {rec.pick_release(pub, m) for m in ["Seurat", "stPlus", "novoSpaRc"]} == {"Data15"}
    # RMSE of two z-scored vectors is sqrt(2 (1 - PCC)): a check that the file was transcribed intact
    wide = pub.pivot_table(index=["method", "release", "gene"], columns="metric", values="value")
    assert np.allclose(wide["rmse"], np.sqrt(2 * (1 - wide["pcc"])), atol=1e-9)
