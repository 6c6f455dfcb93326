"""The summary printed by `benchmark run` fits a 120-column terminal; --full-summary prints all of it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmark.cli import main
from benchmark.results import PRIMARY_COLUMNS, SUMMARY_METRICS, format_summary

WIDTH = 120


def _summary(seeds: int, name_len: int = 24) -> pd.DataFrame:
    """A summary table as summary_table builds it: every metric, the accuracy score, cost columns,
    and with several seeds the ``_sd`` columns and ``n_seeds``; long dataset and method names."""
    rng = np.random.default_rng(0)
    index = pd.MultiIndex.from_tuples([("d" * name_len, "harmony_knn+tuned"), ("d" * name_len, "mean")],
                                      names=["dataset", "method"])
    metrics = [f"{s}_{m}" for s, m in SUMMARY_METRICS] + ["accuracy_score"]
    table = pd.DataFrame(rng.random((2, len(metrics))), index=index, columns=metrics)
    if seeds > 1:
        sd = table.mul(0.01).add_suffix("_sd")
        table = table.join(sd)[[c for m in metrics for c in (m, f"{m}_sd")]].assign(n_seeds=seeds)
    return table.assign(time_s=[1234.5, 0.1], peak_mem_mb=[20480.0, 180.0], failed_jobs=[1, 0])


def _widest(text: str) -> int:
    return max(len(line) for line in text.splitlines())


def test_default_summary_fits_120_columns():
    for seeds in (1, 3):
        table = _summary(seeds)
        assert _widest(format_summary(table, full=True)) > WIDTH  # the problem: the full table wraps
        text = format_summary(table, full=False)
        assert _widest(text) <= WIDTH, text
        header = text.splitlines()[0]
        for col in ("accuracy_score", "gene_pcc", "failed_jobs"):  # the first priorities and failures stay
            assert col in header
        assert "more columns in summary.csv" in text and "--full-summary" in text
        assert "cluster_completeness" in text.split("more columns")[1]  # left out, and named
    # with short names more of the primary metrics fit, in their priority order
    short = format_summary(_summary(1, name_len=5), full=False)
    shown = [c for c in PRIMARY_COLUMNS if c in short.splitlines()[0]]
    assert shown == PRIMARY_COLUMNS[:len(shown)] and len(shown) >= 6


def test_full_summary_has_every_column():
    table = _summary(3)
    text = format_summary(table, full=True)
    for col in table.columns:
        if not col.endswith("_sd"):  # folded into "mean ± sd"
            assert col in text
    assert "±" in text


def test_cli_prints_primary_summary_and_full_with_flag(tmp_path, capsys):
    args = ["run", "--datasets", "synthetic-small", "--methods", "mean", "knn", "--folds", "2", "--seeds", "0", "1",
            "--quiet", "--out", str(tmp_path)]
    assert main(args) == 0
    default = capsys.readouterr().out
    table = default.split("\n\n")[0].strip("\n")  # the summary block, before the direction note
    assert _widest(table) <= WIDTH, table
    # the notes under it are wrapped too (the results path line is as long as the path given)
    assert all(len(line) <= WIDTH for line in default.splitlines() if not line.startswith("results:")), default
    assert "accuracy_score" in table and "cell_mse" not in table.splitlines()[0]  # not a primary metric
    assert main(args + ["--full-summary"]) == 0
    full = capsys.readouterr().out.split("\n\n")[0]
    assert "cluster_completeness" in full and "cell_mse" in full and _widest(full) > WIDTH
