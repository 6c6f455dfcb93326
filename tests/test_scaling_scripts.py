"""The scaling scripts: gene_scaling.py (a size where every job failed still gives a row per
method) and stimpute_graph_bench.py (prints a row per panel size)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def _load(name: str = "gene_scaling"):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_measure_scores_and_survives_a_size_without_any_score(tmp_path):
    gs = _load()
    ok = gs.measure(20, ["mean", "knn"], tmp_path / "ok", n_spatial=60, n_reference=75, hold_out=0.2,
                    time_budget=120.0, method_params={})
    assert list(ok["method"]) == ["mean", "knn"]
    assert (ok["status"] == "ok").all()
    assert math.isfinite(ok.set_index("method").loc["knn", "gene_pcc"])
    # a budget no job can meet: the only method times out, so the run has no score columns at all
    late = gs.measure(20, ["knn"], tmp_path / "late", n_spatial=60, n_reference=75, hold_out=0.2,
                      time_budget=1e-3, method_params={})
    assert late.loc[0, "status"] != "ok"
    assert math.isnan(late.loc[0, "gene_pcc"])


def test_graph_bench_prints_a_row_per_panel_size(capsys):
    pytest.importorskip("torch", reason="stImpute needs torch")
    bench = _load("stimpute_graph_bench")
    assert bench.main(["--genes", "12", "30", "--cells", "3", "--width", "4", "--top-m", "5", "--repeats", "1"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    assert [r[0] for r in rows] == ["12", "30"]
    assert all(float(r[1]) > 0 and float(r[2]) > 0 for r in rows)
