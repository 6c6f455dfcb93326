"""The overall table across datasets (benchmark/overall.py): mean ranks, accuracy scores, tests
against the knn control with Holm's correction, the could-not-run column, quick rows, storage."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import wilcoxon

from benchmark import leaderboard as lbm
from benchmark import overall
from benchmark.stats import holm

RUN = "2026-12-05-test0001"


def _rows(dataset_rows: list[dict]) -> pd.DataFrame:
    base = {"kind": "method", "variant_of": "", "package": "", "method_version": "", "params": "{}", "quick": False,
            "protocol": "kfold", "n_seeds": 1, "n_jobs": 5, "failed_jobs": 0, "status": "ok", "error": "",
            "flags": "", "run": RUN}
    return lbm._normalise(pd.DataFrame([{**base, **r} for r in dataset_rows]))


def _genes(per_gene: dict[str, np.ndarray], means: dict[str, dict[str, float]] | None = None) -> pd.DataFrame:
    """Long per-gene table: per-gene PCC of each method, plus the four metrics' means (PCC's from
    its genes; SSIM/RMSE/JS given, else derived so that a higher PCC is better on every metric)."""
    rows = []
    for m, v in per_gene.items():
        rows += [{"method": m, "run": RUN, "metric": "pcc", "gene": f"g{i:03d}", "value": x} for i, x in enumerate(v)]
        mp = float(np.mean(v))
        mm = (means or {}).get(m, {"ssim": mp, "rmse": 1 - mp, "js": 1 - mp})
        rows += [{"method": m, "run": RUN, "metric": "pcc", "gene": overall.MEAN, "value": mp}]
        rows += [{"method": m, "run": RUN, "metric": k, "gene": overall.MEAN, "value": x} for k, x in mm.items()]
    return overall._normalise_genes(pd.DataFrame(rows))


def _board() -> lbm.Leaderboard:
    """Three real datasets (names not registered, so real) and the built-in ``synthetic``.

    ``good`` beats ``knn`` on every gene of ds_a and ds_b, ``bad`` loses on every gene of ds_a,
    ``same`` differs from ``knn`` by symmetric noise, ``slow`` timed out on ds_b and was not run on
    ds_c, ``old`` has a row but no per-gene values.
    """
    rng = np.random.default_rng(0)
    n = 30
    knn = rng.uniform(0.2, 0.5, n)
    noise = rng.uniform(0.001, 0.01, n) * np.where(np.arange(n) % 2 == 0, 1, -1)
    a = {"knn": knn, "good": knn + 0.1 + rng.uniform(0, 0.01, n), "bad": knn - 0.1 - rng.uniform(0, 0.01, n),
         "same": knn + noise, "slow": knn + 0.05 + rng.uniform(0, 0.01, n)}
    b = {"knn": knn, "good": knn + 0.2 + rng.uniform(0, 0.01, n), "bad": knn + noise[::-1], "same": knn + noise}
    c = {"knn": knn + 0.3, "good": knn, "bad": knn - 0.2, "same": knn + 0.3 + noise}

    def table(per_gene, extra=()):
        rows = [{"method": m, "kind": "control" if m == "knn" else "method", "gene_pcc": float(np.mean(v))}
                for m, v in per_gene.items()]
        return _rows([*rows, *extra])

    tables = {
        "ds_a": table(a, [{"method": "old", "gene_pcc": 0.9}, {"method": "good+tuned", "gene_pcc": 0.95}]),
        "ds_b": table(b, [{"method": "slow", "status": "failed", "failed_jobs": 5,
                           "error": "exceeded the time budget of 180 s", "gene_pcc": np.nan}]),
        "ds_c": table(c, [{"method": "never", "status": "failed", "failed_jobs": 5, "gene_pcc": np.nan,
                           "error": "not applicable: never models raw counts, and dataset 'ds_c' holds rank values"}]),
        "synthetic": table({"knn": knn, "good": knn - 0.3}),
    }
    genes = {"ds_a": _genes(a), "ds_b": _genes(b), "ds_c": _genes(c), "synthetic": _genes({"knn": knn})}
    runs = {RUN: {"command": "python -m benchmark run", "protocol": {"quick": False}}}
    return lbm.Leaderboard(tables, runs, {}, genes)


def test_mean_ranks_and_accuracy_scores_over_the_real_datasets():
    table, unused = overall.overall_table(_board())
    by = table.set_index("method")
    # synthetic is simulated: left out; 'good+tuned' (a tuned row) and 'old' (no per-gene values) are not rows
    assert set(by.index) == {"knn", "good", "bad", "same", "slow", "never"}
    # a method that ran nowhere is a row (last, no rank) with its reasons, not dropped
    assert table["method"].iloc[-1] == "never" and np.isnan(by.loc["never", "mean_rank"])
    assert by.loc["never", "n_datasets"] == 0 and len(by.loc["never", "could_not_run"]) == 3
    assert (by["n_real"] == 3).all()
    # ds_a by gene PCC: good 1, slow 2, same/knn by noise, bad 5; ds_b: good 1, then knn/same/bad; ds_c: knn and
    # same (noise) 1-2, good 3, bad 4 -- recompute from the tables the test built
    lb = _board()
    expected: dict[str, list[float]] = {}
    for d in ("ds_a", "ds_b", "ds_c"):
        t = lb.tables[d]
        t = t[(t["status"] == "ok") & t["method"].isin(by.index)]
        r = t.set_index("method")["gene_pcc"].rank(ascending=False, method="average")
        for m, v in r.items():
            expected.setdefault(m, []).append(v)
    for m, ranks in expected.items():
        assert by.loc[m, "mean_rank"] == pytest.approx(np.mean(ranks))
        assert by.loc[m, "n_datasets"] == len(ranks)
    assert by.loc["good", "per_dataset"]["ds_a"]["rank"] == 1 and by.loc["bad", "per_dataset"]["ds_a"]["rank"] == 5
    # best mean rank first among the methods that ran on at least half the datasets; 'slow' ran on 1 of 3 and,
    # though its one rank (2) beats the others' means, follows them without a place
    assert not by.loc["slow", "ranked"] and by.loc[["knn", "good", "bad", "same"], "ranked"].all()
    ranked = table.loc[table["ranked"], "mean_rank"]
    assert list(ranked) == sorted(ranked)
    assert list(table["method"]).index("slow") > max(list(table["method"]).index(m) for m in ("knn", "good", "bad", "same"))
    slow_line = next(line for line in overall.markdown_lines(lb) if "`slow`" in line)
    assert slow_line.startswith("| – | `slow`")
    # the accuracy score: the means were built so that PCC order = order on all four metrics, so on ds_c
    # (4 methods) the best gets 4/4 and the worst 1/4 on every metric
    assert by.loc["bad", "per_dataset"]["ds_c"]["accuracy_score"] == pytest.approx(0.25)
    assert by.loc["good", "per_dataset"]["ds_c"]["accuracy_score"] == pytest.approx(0.5)
    assert by.loc["good", "mean_accuracy_score"] == pytest.approx(
        np.mean([e["accuracy_score"] for e in by.loc["good", "per_dataset"].values()]))
    assert {u["method"] for u in unused} == {"old"}


def test_accuracy_score_ranks_each_metric_in_its_direction():
    per_gene = {"knn": np.linspace(0.1, 0.4, 10), "x": np.linspace(0.2, 0.5, 10)}
    # x has the better PCC and SSIM but the worse RMSE and JS: 2/2, 2/2, 1/2, 1/2 -> 0.75 for both
    means = {"knn": {"ssim": 0.1, "rmse": 1.0, "js": 0.1}, "x": {"ssim": 0.2, "rmse": 1.1, "js": 0.2}}
    lb = lbm.Leaderboard({"d": _rows([{"method": "knn", "kind": "control", "gene_pcc": 0.25},
                                      {"method": "x", "gene_pcc": 0.35}])}, {RUN: {}}, {},
                         {"d": _genes(per_gene, means)})
    by = overall.overall_table(lb)[0].set_index("method")
    assert by.loc["x", "mean_accuracy_score"] == pytest.approx(0.75)
    assert by.loc["knn", "mean_accuracy_score"] == pytest.approx(0.75)


def test_wilcoxon_against_knn_is_holm_corrected_over_each_methods_datasets():
    table, _ = overall.overall_table(_board())
    by = table.set_index("method")
    # good: better on ds_a and ds_b (every gene), worse on ds_c (every gene)
    assert (by.loc["good", "better_than_control"], by.loc["good", "worse_than_control"]) == (2, 1)
    assert by.loc["good", "tested_against_control"] == 3
    # bad: worse everywhere except ds_b, where it differs by symmetric noise
    assert (by.loc["bad", "better_than_control"], by.loc["bad", "worse_than_control"]) == (0, 2)
    assert by.loc["bad", "per_dataset"]["ds_b"]["vs_control"] == "n.s."
    assert (by.loc["same", "better_than_control"], by.loc["same", "worse_than_control"]) == (0, 0)
    assert by.loc["knn", "tested_against_control"] == 0
    # the stored p-values are scipy's Wilcoxon and Holm over that method's datasets
    lb = _board()
    raw = []
    for d in ("ds_a", "ds_b", "ds_c"):
        g = overall._wide(lb.genes[d], "pcc")
        raw.append(wilcoxon(g["bad"], g["knn"]).pvalue)
    adj = holm(np.array(raw))
    for d, p, q in zip(("ds_a", "ds_b", "ds_c"), raw, adj):
        assert by.loc["bad", "per_dataset"][d]["p_vs_control"] == pytest.approx(p)
        assert by.loc["bad", "per_dataset"][d]["p_holm_vs_control"] == pytest.approx(q)


def test_holm_turns_a_raw_significance_into_none_when_tested_on_more_datasets():
    """Six genes all higher than knn: exact two-sided p = 2/64 < 0.05 alone, 0.0625 after Holm over two."""
    knn = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    up = knn + np.array([0.01, 0.02, 0.03, 0.04, 0.05, 0.06])
    assert wilcoxon(up, knn).pvalue == pytest.approx(2 / 64)

    def board(names):
        tables = {d: _rows([{"method": "knn", "kind": "control", "gene_pcc": knn.mean()},
                            {"method": "up", "gene_pcc": up.mean()}]) for d in names}
        return lbm.Leaderboard(tables, {RUN: {}}, {}, {d: _genes({"knn": knn, "up": up}) for d in names})

    one = overall.overall_table(board(["d1"]))[0].set_index("method")
    two = overall.overall_table(board(["d1", "d2"]))[0].set_index("method")
    assert one.loc["up", "better_than_control"] == 1
    assert two.loc["up", "better_than_control"] == 0 and two.loc["up", "tested_against_control"] == 2


def test_could_not_run_lists_each_dataset_with_the_reason():
    table, _ = overall.overall_table(_board())
    by = table.set_index("method")
    slow = {c["dataset"]: c["why"] for c in by.loc["slow", "could_not_run"]}
    assert slow == {"ds_b": "timeout at 180 s (5/5 jobs)", "ds_c": "not run"}
    assert by.loc["slow", "n_datasets"] == 1 and by.loc["good", "could_not_run"] == []
    md = "\n".join(overall.markdown_lines(_board()))
    line = next(x for x in md.splitlines() if "`slow`" in x)
    assert "ds_b: timeout at 180 s (5/5 jobs); ds_c: not run" in line
    assert "| 1/3 |" in line
    assert "`old` (ds_a)" in md  # a row without per-gene values is named, not silently dropped
    # the reasons the harness writes: not applicable (a method that needs counts), any other failure
    base = {"status": "failed", "failed_jobs": 5, "n_jobs": 5, "flags": ""}
    na = "not applicable: cellsize models raw counts, and dataset 'x' holds rank values"
    assert overall._reason(pd.Series({**base, "error": na})) == na
    part = pd.Series({**base, "status": "partly failed", "failed_jobs": 2, "error": "RuntimeError: boom"})
    assert overall._reason(part) == "partly failed (2/5 jobs): RuntimeError: boom"


def test_a_recorded_reason_says_why_a_method_was_not_run(tmp_path):
    """not_run.json, kept by hand beside the tables, says why a method has no row on a dataset; a
    row for that dataset wins over it, and a malformed file is named."""
    lb = _board()
    lbm.save_reference(lb, tmp_path)
    assert not (tmp_path / "not_run.json").exists()  # imports never write it
    (tmp_path / "not_run.json").write_text(json.dumps(
        {"slow": {"ds_c": "over the compute budget (about 5 h per fold, measured on ds_b)"},
         "good": {"ds_a": "a reason that a row makes moot"}}))
    back = lbm.load_reference(tmp_path)
    by = overall.overall_table(back)[0].set_index("method")
    slow = {c["dataset"]: c["why"] for c in by.loc["slow", "could_not_run"]}
    assert slow["ds_c"] == "not run: over the compute budget (about 5 h per fold, measured on ds_b)"
    assert by.loc["good", "could_not_run"] == []  # it has a row on ds_a
    assert "ds_c: not run: over the compute budget" in lbm.render_markdown(back)
    # the reason survives an import (merge), and saving does not remove the file
    merged = back.merge(lbm.Leaderboard({"ds_a": back.tables["ds_a"]}, back.runs, {}), whole_datasets=False)
    assert merged.not_run == back.not_run
    lbm.save_reference(merged, tmp_path)
    assert lbm.load_reference(tmp_path).not_run == back.not_run
    (tmp_path / "not_run.json").write_text(json.dumps({"slow": {"ds_c": ""}}))
    with pytest.raises(Exception, match="not_run.json must map method -> dataset -> a reason"):
        lbm.load_reference(tmp_path)


def test_quick_rows_are_marked_and_a_mix_is_spelled_out():
    lb = _board()
    lb.tables["ds_a"].loc[lb.tables["ds_a"]["method"] == "good", "quick"] = True
    by = overall.overall_table(lb)[0].set_index("method")
    assert by.loc["good", "quick_on"] == ["ds_a"] and by.loc["good", "full_on"] == ["ds_b", "ds_c"]
    md = "\n".join(overall.markdown_lines(lb))
    assert "on ds_a; full on ds_b, ds_c" in next(x for x in md.splitlines() if "`good`" in x)
    assert "| no |" in next(x for x in md.splitlines() if "`bad`" in x)
    assert "| 0/3 | 0 / 0 (0) | – |" in next(x for x in md.splitlines() if "`never`" in x)


def test_rendered_at_the_top_of_the_page_and_in_json():
    lb = _board()
    md = lbm.render_markdown(lb)
    assert md.index("## Overall: 3 real datasets") < md.index("## ds_a")
    doc = json.loads(lbm.render_json(lb))
    rows = {r["method"]: r for r in doc["overall"]["rows"]}
    assert rows["good"]["vs_control"] == {"control": "knn", "better": 2, "worse": 1, "tested": 3}
    assert doc["overall"]["datasets"] == ["ds_a", "ds_b", "ds_c"]
    # knn, good, bad, same ran on at least half the datasets: places 1-4; slow and never: no place
    assert [r["position"] for r in doc["overall"]["rows"]] == [1, 2, 3, 4, None, None]


def test_per_gene_values_round_trip_and_follow_their_rows(tmp_path):
    lb = _board()
    lbm.save_reference(lb, tmp_path)
    assert sorted(p.name for p in (tmp_path / overall.GENES_DIR).iterdir()) == [
        "ds_a.csv", "ds_b.csv", "ds_c.csv", "synthetic.csv"]
    back = lbm.load_reference(tmp_path)
    assert lbm.render_markdown(back) == lbm.render_markdown(lb)
    assert lbm.render_json(back) == lbm.render_json(lb)
    # a newer run of 'good' on ds_a without per-gene values replaces the row and drops the old values
    newer = lbm.Leaderboard({"ds_a": _rows([{"method": "good", "gene_pcc": 0.5, "run": "2026-12-06-newer001"}])},
                            {"2026-12-06-newer001": {}}, {})
    merged = back.merge(newer, whole_datasets=False)
    assert "good" not in set(merged.genes["ds_a"]["method"]) and "knn" in set(merged.genes["ds_a"]["method"])
    lbm.save_reference(merged, tmp_path)
    wide = pd.read_csv(tmp_path / overall.GENES_DIR / "ds_a.csv")
    assert "good" not in set(wide["method"])
    # a dataset dropped from the reference loses its per-gene file
    lbm.save_reference(lbm.Leaderboard({"ds_c": lb.tables["ds_c"]}, lb.runs, {}, lb.genes), tmp_path)
    assert sorted(p.name for p in (tmp_path / overall.GENES_DIR).iterdir()) == ["ds_c.csv"]


def test_a_malformed_per_gene_file_is_named(tmp_path):
    lbm.save_reference(_board(), tmp_path)
    (tmp_path / overall.GENES_DIR / "ds_a.csv").write_text("gene,value\ng1,0.3\n")
    with pytest.raises(Exception, match="ds_a.csv lacks the columns"):
        lbm.load_reference(tmp_path)
def test_the_committed_reference_has_an_overall_table_over_every_real_dataset():
    ref = lbm.load_reference()
    table, _ = overall.overall_table(ref)
    real = [d for d in ref.tables if overall.is_real(d)]
    assert "synthetic" not in real and len(real) >= 2
    assert overall.CONTROL in set(table["method"])
    # the per-gene means agree with the dataset tables' gene PCC (same run, 6 significant digits)
    for d in real:
        g = ref.genes.get(d)
        if g is None:
            continue
        means = g[(g["metric"] == "pcc") & (g["gene"] == overall.MEAN)].set_index("method")["value"]
        t = ref.tables[d].set_index("method")["gene_pcc"]
        for m, v in means.items():
            assert v == pytest.approx(t[m], abs=1e-4), (d, m)
    md, _ = lbm.repo_outputs()
    assert "## Overall:" in md.read_text()


def test_the_readme_shows_the_top_rows_of_the_committed_overall_table():
    from benchmark.config import repo_root

    readme = (repo_root() / "README.md").read_text()
    lines = overall.readme_lines(lbm.load_reference())
    assert len(lines) > 3 and "\n".join(lines) in readme, (
        "README.md's overall rows differ from the committed reference: paste overall.readme_lines(load_reference())")
