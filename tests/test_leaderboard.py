"""Leaderboard: the committed page is current, ranking, failures, provenance, reference import; CI workflow."""

from __future__ import annotations

import dataclasses

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from benchmark import leaderboard as lbm
from benchmark.cli import main
from benchmark.config import repo_root
from benchmark.datasets.synthetic import make_synthetic_pair
from benchmark.harness import RunConfig, run_benchmark
from benchmark.methods.base import Method, MethodInfo
from benchmark.task import ImputationTask, Prediction

from _helpers import registered

WORKFLOW = repo_root() / ".github" / "workflows" / "leaderboard.yml"


# -- the committed leaderboard ------------------------------------------------------------------

def test_committed_leaderboard_matches_the_reference():
    """CI (pytest via .ci/run) fails here when LEADERBOARD.md or leaderboard.json is stale."""
    ref = lbm.load_reference()
    md, js = lbm.repo_outputs()
    stale = lbm.stale_files(ref, md, js, registry=True)
    assert not stale, (f"{[str(p) for p in stale]} differ from a rendering of leaderboard/reference/; "
                       "run `python -m benchmark leaderboard` and commit the result")


def test_committed_reference_is_small_aggregated_and_covers_real_and_builtin_data():
    ref = lbm.load_reference()
    assert {"osmfish", "synthetic"} <= set(ref.tables)
    for name, table in ref.tables.items():
        assert table["method"].is_unique and len(table) < 100, name
        assert {"mean", "knn", "stimpute"} <= set(table["method"]), name
        assert set(table["run"]) <= set(ref.runs)
    size = sum(p.stat().st_size for p in lbm.reference_dir().iterdir())
    assert size < 200_000, f"the reference should hold aggregates only, it has {size} bytes"
    readme = (repo_root() / "README.md").read_text()
    assert "LEADERBOARD.md" in readme, "the README links the leaderboard"


# -- a tiny run with a control, a neighbour method, a failing method and a variant ---------------

@dataclass
class _NoParams:
    pass


class _Broken(Method):
    info = MethodInfo(name="lb-broken", summary="always fails")
    Params = _NoParams

    def fit_predict(self, task: ImputationTask) -> Prediction:
        raise RuntimeError("out of ideas | pipe")


class _KnnVariant(Method):
    info = MethodInfo(name="lb-knn-variant", summary="knn variant", variant_of="knn")
    Params = _NoParams

    def fit_predict(self, task: ImputationTask) -> Prediction:
        from benchmark.methods import get_method

        return get_method("knn", k=5).fit_predict(task)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("lb") / "run"
    pair = make_synthetic_pair(n_spatial=200, n_reference=250, n_shared=12, n_reference_only=10, n_types=3,
                               n_modules=3, seed=3, name="tiny")
    with registered(_Broken, _KnnVariant):
        run_benchmark(RunConfig(methods=["mean", "knn", "lb-broken", "lb-knn-variant"], n_folds=3, out=out,
                                isolate=False), [pair], progress=False)
        lb = lbm.collect([out])  # kinds come from the registry, read while the test methods are registered
    return out, lb


def test_ranking_failures_variants_and_provenance(tiny_run):
    out, lb = tiny_run
    table = lb.tables["tiny"]
    summary = pd.read_csv(out / "summary.csv", index_col=[0, 1])
    by = table.set_index("method")
    # values are the run's own summary, rounded to 6 significant digits
    assert by.loc["knn", "gene_pcc"] == pytest.approx(summary.loc[("tiny", "knn"), "gene_pcc"], rel=1e-5)
    assert by.loc["lb-broken", "status"] == "failed" and by.loc["lb-broken", "failed_jobs"] == 3
    assert "RuntimeError: out of ideas" in by.loc["lb-broken", "error"]
    assert by.loc["lb-knn-variant", "kind"] == "variant" and by.loc["mean", "kind"] == "control"

    md = lbm.render_markdown(lb)
    section = md.split("## tiny", 1)[1]
    main_table = section.split("Ablations and variants", 1)[0]
    rows = [line for line in main_table.splitlines() if line.startswith("| ") and "`" in line]
    # knn predicts cell-to-cell variation, mean does not (gene PCC exactly 0): knn ranks first
    assert rows[0].startswith("| 1 | `knn` (control)") and rows[1].startswith("| 2 | `mean` (control)")
    assert rows[2].startswith("| – | `lb-broken`")
    assert "failed (3/3 jobs): RuntimeError: out of ideas \\| pipe" in rows[2]  # the pipe is escaped
    assert "lb-knn-variant" not in main_table and "`lb-knn-variant`" in section.split("Ablations and variants")[1]
    # provenance: the run's commit, its dates, and (a Python-API run) a command rebuilt from its config
    run = json.loads((out / "run.json").read_text())
    assert run["git_commit"].removesuffix("+dirty") in md and run["started"][:10] in md
    assert "python -m benchmark run --methods mean knn lb-broken lb-knn-variant --folds 3" in md
    assert "['tiny'] were passed to `run_benchmark` as objects" in md

    doc = json.loads(lbm.render_json(lb))
    rows = {r["method"]: r for r in doc["datasets"]["tiny"]["rows"]}
    assert rows["knn"]["rank"] == 1 and rows["lb-broken"]["rank"] is None and rows["lb-knn-variant"]["rank"] is None
    assert rows["lb-broken"]["metrics"]["gene_pcc"] is None and rows["lb-broken"]["failed_jobs"] == 3
    prov = rows["knn"]["provenance"]
    assert prov["git_commit"] == run["git_commit"] and prov["started"] == run["started"]
    assert prov["packages"]["numpy"] == run["packages"]["numpy"] and prov["command"].startswith("python -m benchmark")
    assert doc["primary_metric"]["key"] == "gene_pcc"


def test_spatial_pattern_table_shows_the_moran_metrics_of_rows_that_have_them(tiny_run):
    out, lb = tiny_run
    summary = pd.read_csv(out / "summary.csv", index_col=[0, 1])
    section = lbm.render_markdown(lb).split("## tiny", 1)[1]
    assert "Spatial pattern (Moran's I" in section
    spatial = section.split("Spatial pattern (Moran's I", 1)[1].split("\n\n", 2)[1]
    rows = {line.split("|")[1].strip(): line for line in spatial.splitlines() if line.startswith("| `")}
    assert set(rows) == {"`knn` (control)", "`mean` (control)"}  # ranked rows with values, not the failed one
    cells = [c.strip() for c in rows["`knn` (control)"].split("|")[2:-1]]
    assert float(cells[1]) == pytest.approx(summary.loc[("tiny", "knn"), "spatial_morans_i_spearman"], abs=1e-3)
    assert float(cells[2]) == pytest.approx(summary.loc[("tiny", "knn"), "gene_morans_i_abs_diff"], abs=1e-3)
    # rows from runs before these metrics have none: no table rather than a column of dashes
    old = dataclasses.replace(lb, tables={k: t.assign(spatial_morans_i_spearman=float("nan"),
                                                      gene_morans_i_abs_diff=float("nan"),
                                                      spatial_svg_auprc=float("nan")) for k, t in lb.tables.items()})
    assert "Spatial pattern (Moran's I" not in lbm.render_markdown(old)


def test_uncertainty_and_cell_typing_tables_show_the_rows_that_have_them(tiny_run):
    """Each metric family with leaderboard columns gets its table under the dataset, headed by the
    registry's labels; rows without values (a method without intervals) are not listed."""
    _, lb = tiny_run
    assert "Uncertainty (" not in lbm.render_markdown(lb)  # no method of the tiny run returns intervals
    table = lb.tables["tiny"].copy()
    knn = table["method"] == "knn"
    table.loc[knn, "uncertainty_coverage_67"] = 0.61
    table.loc[knn, "uncertainty_confidence_spearman"] = 0.25
    table.loc[table["method"] == "mean", "celltype_accuracy"] = 0.4
    md = lbm.render_markdown(dataclasses.replace(lb, tables={"tiny": table}))
    unc = md.split("Uncertainty (", 1)[1].split("\n\n", 2)[1].splitlines()
    assert "67% interval coverage (→ 0.67)" in unc[0] and "confidence vs PCC (Spearman) ↑" in unc[0]
    assert len(unc) == 3 and unc[2].startswith("| `knn` (control) |") and "| 0.610 |" in unc[2]
    cells = md.split("Cell typing (", 1)[1].split("\n\n", 2)[1].splitlines()
    assert "cell-type agreement ↑" in cells[0]
    assert [line for line in cells if line.startswith("| `mean`")][0].split("|")[3].strip() == "0.400"
    from benchmark.leaderboard.render import detail_columns

    assert detail_columns("celltype") == ["celltype_accuracy", "celltype_ari"]  # from the registry

def test_rendering_is_deterministic_and_survives_the_reference_round_trip(tiny_run, tmp_path):
    _, lb = tiny_run
    lbm.save_reference(lb, tmp_path / "ref")
    back = lbm.load_reference(tmp_path / "ref")
    assert lbm.render_markdown(back) == lbm.render_markdown(lb)
    # the page does not depend on the order in which rows were collected
    shuffled = dataclasses.replace(lb, tables={k: t.iloc[::-1].reset_index(drop=True) for k, t in lb.tables.items()})
    assert lbm.render_markdown(shuffled) == lbm.render_markdown(lb)
    assert lbm.render_json(back) == lbm.render_json(lb)
    # per-gene values for the overall table (benchmark/overall.py) live in ref/genes/
    assert sorted(p.name for p in (tmp_path / "ref").iterdir()) == ["genes", "reference.json", "tiny.csv"]


def test_registered_methods_without_a_row_are_listed_with_the_reason(tiny_run):
    """A method of the suite that the reference does not score is named on the page, with the
    reason from its code (known-unavailable, cost), not silently absent; a run's own page is not."""
    _, lb = tiny_run
    from benchmark.methods import all_methods

    with registered(_Broken, _KnnVariant):
        missing = {m["method"]: m for m in lbm.methods_without_rows(lb)}
        md = lbm.render_markdown(lb, registry=True)
        doc = json.loads(lbm.render_json(lb, registry=True))
    builtin = {n for n, c in all_methods(include_oracles=False).items() if not c.info.variant_of}
    # every built-in method but the two the tiny run scored; no variant, no method from outside the suite
    assert set(missing) == builtin - {"mean", "knn"}
    assert "lb-broken" not in missing and "stimpute-no-gnn" not in missing
    assert missing["envi"]["datasets"] == ["tiny"]
    assert missing["envi"]["why"] == all_methods()["envi"].info.cost_note  # runs in its own environment
    assert missing["stimpute"]["why"] == "no reference result yet"
    section = md.split("## Registered methods without a row", 1)[1]
    assert f"| `envi` | tiny | {all_methods()['envi'].info.cost_note}" in section and "`knn`" not in section
    assert doc["methods_without_rows"] == lbm.methods_without_rows(lb)
    assert "Registered methods without a row" not in lbm.render_markdown(lb)  # a run's own page


def test_cli_update_reference_replace_merge_and_check(tiny_run, tmp_path, capsys):
    out, lb = tiny_run
    ref, page = tmp_path / "ref", tmp_path / "page"
    # a reference holding another dataset and a method the run does not have
    other = lb.tables["tiny"].copy()
    other.loc[other["method"] == "mean", "method"] = "only-in-reference"
    lbm.save_reference(lbm.Leaderboard({"tiny": other, "elsewhere": other.copy()}, lb.runs, {}), ref)

    with registered(_Broken, _KnnVariant):
        assert main(["leaderboard", str(out), "--update-reference", "--merge", "--reference-dir", str(ref),
                     "--out", str(page)]) == 0
        merged = lbm.load_reference(ref)
        assert "only-in-reference" in set(merged.tables["tiny"]["method"]) and "elsewhere" in merged.tables
        assert main(["leaderboard", str(out), "--update-reference", "--reference-dir", str(ref),
                     "--out", str(page)]) == 0
    replaced = lbm.load_reference(ref)
    assert "only-in-reference" not in set(replaced.tables["tiny"]["method"])  # the run's dataset was replaced
    assert "elsewhere" in replaced.tables  # datasets the run did not cover stay
    assert (page / "LEADERBOARD.md").read_text() == lbm.render_markdown(replaced, registry=True)

    assert main(["leaderboard", "--check", "--reference-dir", str(ref), "--out", str(page)]) == 0
    (page / "LEADERBOARD.md").write_text((page / "LEADERBOARD.md").read_text().replace("knn", "knn2"))
    assert main(["leaderboard", "--check", "--reference-dir", str(ref), "--out", str(page)]) == 1
    assert "out of date" in capsys.readouterr().out


def test_leaderboard_of_a_run_is_written_beside_it(tiny_run, tmp_path):
    out, _ = tiny_run
    copy = tmp_path / "run"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("cache"))
    assert main(["leaderboard", str(copy)]) == 0
    assert "## tiny" in (copy / "LEADERBOARD.md").read_text()
    assert json.loads((copy / "leaderboard.json").read_text())["datasets"]["tiny"]["rows"]


def test_bad_input_is_named(tmp_path, capsys):
    assert main(["leaderboard", str(tmp_path)]) == 2
    assert "has no run.json" in capsys.readouterr().err
    assert main(["leaderboard", "--reference-dir", str(tmp_path / "nothing"), "--out", str(tmp_path)]) == 2
    assert "--update-reference" in capsys.readouterr().err


def test_one_reader_of_results_folders(tiny_run, tmp_path):
    """The leaderboard and the reports read a folder with benchmark.results.read_run: results.csv
    stands in for a missing results.parquet, and a broken folder's error names it and the file."""
    from benchmark.errors import InputError
    from benchmark.results import read_run

    out, _ = tiny_run
    results, run = read_run(out)
    assert run == json.loads((out / "run.json").read_text()) and "all" in set(results["fold"])
    csv_only = tmp_path / "csv_only"
    csv_only.mkdir()
    for name in ("run.json", "jobs.csv", "results.csv"):
        shutil.copy(out / name, csv_only / name)
    with registered(_Broken, _KnnVariant):  # kinds come from the registry
        assert lbm.render_json(lbm.collect([csv_only])) == lbm.render_json(lbm.collect([out]))
    (csv_only / "results.csv").write_text("not,a,results\ntable,,\n")
    with pytest.raises(InputError, match=r"results\.csv lacks the column"):
        read_run(csv_only)
    (csv_only / "results.csv").unlink()
    with pytest.raises(InputError, match=r"csv_only is not a results folder: it has no results\.parquet or "
                                         r"results\.csv"):
        read_run(csv_only)
    (csv_only / "run.json").unlink()
    shutil.copy(out / "results.parquet", csv_only / "results.parquet")
    with pytest.raises(InputError, match=r"csv_only is not a results folder: it has no run\.json"):
        read_run(csv_only)
    assert read_run(csv_only, require_run_json=False)[1] == {}  # a report can do without run.json
    (csv_only / "results.parquet").write_bytes(b"truncated")
    with pytest.raises(InputError, match=r"cannot read .*results\.parquet"):
        read_run(csv_only, require_run_json=False)
    with pytest.raises(InputError, match=r"results folder .*nope does not exist"):
        read_run(tmp_path / "nope")



def test_one_reader_of_jobs_tables(tiny_run, tmp_path):
    """jobs.csv is read by benchmark.results.read_jobs for the leaderboard and the reports: text
    cells stay text ("" when empty), an empty time or memory is NaN, a missing file is no jobs."""
    from benchmark.errors import InputError
    from benchmark.results import read_jobs

    out, _ = tiny_run
    jobs = read_jobs(out)
    failed = jobs[jobs["status"] != "ok"]
    assert len(failed) and (failed["error"] != "").all() and (jobs.loc[jobs["status"] == "ok", "error"] == "").all()
    assert jobs["split"].map(type).eq(str).all() and jobs["runtime_s"].dtype.kind == "f"
    edited = tmp_path / "edited"
    edited.mkdir()
    table = (out / "jobs.csv").read_text().splitlines()
    cols = table[0].split(",")
    row = table[1].split(",")
    row[cols.index("runtime_s")] = ""  # a job that never ran has no time
    (edited / "jobs.csv").write_text("\n".join([table[0], ",".join(row)]) + "\n")
    one = read_jobs(edited)
    assert one["runtime_s"].isna().all() and one["error"].iloc[0] == ""
    assert read_jobs(tmp_path).empty
    (edited / "jobs.csv").write_bytes(b'a,"b\n')
    with pytest.raises(InputError, match=r"cannot read .*jobs\.csv"):
        read_jobs(edited)

# -- the hosted-CI workflow -----------------------------------------------------------------------

def _check_jsonschema() -> str:
    exe = Path(sys.executable).with_name("check-jsonschema")
    found = str(exe) if exe.is_file() else shutil.which("check-jsonschema")
    assert found, "check-jsonschema is in the 'test' extra: pip install -c constraints.txt -e '.[test]'"
    return found


def _schema_ok(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([_check_jsonschema(), "--builtin-schema", "vendor.github-workflows", str(path)],
                          capture_output=True, text=True, timeout=120)


def test_workflow_is_valid_against_the_github_schema(tmp_path):
    res = _schema_ok(WORKFLOW)
    assert res.returncode == 0, res.stdout + res.stderr
    # the validator does reject a broken workflow (a step with both `uses` and `run`)
    wf = yaml.safe_load(WORKFLOW.read_text())
    wf["jobs"]["reference-benchmark"]["steps"][0]["run"] = "echo both"
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump(wf))
    assert _schema_ok(bad).returncode != 0


def test_workflow_runs_the_reference_benchmark_and_updates_the_leaderboard():
    wf = yaml.safe_load(WORKFLOW.read_text())
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads the key `on` as True
    assert "methods/**" in on["push"]["paths"] and "methods/**" in on["pull_request"]["paths"]
    assert "workflow_dispatch" in on
    assert wf["permissions"]["contents"] == "write"
    steps = wf["jobs"]["reference-benchmark"]["steps"]
    uses = [s.get("uses", "") for s in steps]
    runs = "\n".join(s.get("run", "") for s in steps)
    assert uses[0].startswith("actions/checkout@") and any(u.startswith("actions/setup-python@") for u in uses)
    setup = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python@"))
    assert setup["with"]["python-version"] == "3.11"
    # installs exactly as the README's test command does
    readme = (repo_root() / "README.md").read_text()
    install = ("pip install -c constraints.txt -e '.[test,baselines,esm]' && .venv/bin/pip install -c constraints.txt "
               "--no-deps stplus transpa")
    assert install in readme and install in runs
    order = [runs.index(s) for s in ("-m benchmark run ", "-m benchmark leaderboard ci-results --update-reference",
                                     "pytest -q tests/test_leaderboard.py", "git push")]
    assert order == sorted(order)
    assert "--out ci-results" in runs
    assert any(u.startswith("actions/upload-artifact@") for u in uses)
    commit = next(s for s in steps if "git push" in s.get("run", ""))
    assert commit["if"] == "github.event_name != 'pull_request'"
    assert "git add LEADERBOARD.md leaderboard/" in commit["run"]
