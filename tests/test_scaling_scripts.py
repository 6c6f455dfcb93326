"""The measurement scripts: gene_scaling.py (a size where every job failed still gives a row per
method), stimpute_graph_bench.py (prints a row per panel size) and inner_cv_scores.py (the inner
scores of a tuned job, reproduced outside it)."""

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


def test_inner_cv_scores_reproduce_a_tuned_jobs_trials(tmp_path, capsys):
    import json

    from benchmark.harness import RunConfig, run_benchmark

    kw = dict(datasets=["synthetic-small"], methods=["knn"], n_folds=3, seeds=[0], cluster=False, tune=True,
              tune_budget=2, tune_folds=2, tune_cells=60)
    res = run_benchmark(RunConfig(**kw, out=tmp_path / "run"), progress=False)
    key = res.jobs.loc[(res.jobs["method"] == "knn+tuned") & (res.jobs["split"].astype(str) == "1"), "cache_key"].iloc[0]
    record = json.loads(next((tmp_path / "run" / "cache").rglob(f"{key}/job.json")).read_text())
    trials = record["info"]["tuning"]["trials"]
    configs = [",".join(f"{k}={v}" for k, v in t["config"].items()) for t in trials]
    _load("inner_cv_scores").main(["knn", "--dataset", "synthetic-small", "--folds", "3", "--fold", "1",
                                   "--inner-folds", "2", "--max-cells", "60"]
                                  + [a for c in configs for a in ("--config", c)])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [line["config"] for line in lines] == [t["config"] for t in trials]
    for line, trial in zip(lines, trials):
        assert line["inner_cells"] == 60 and line["flags"] == trial["flags"]
        assert line["inner_gene_pcc"] == pytest.approx(trial["inner_gene_pcc"], abs=1e-9)
