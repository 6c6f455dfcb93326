"""Statistics across methods and over items: paired Wilcoxon tests between methods, bootstrap CIs.

* :func:`paired_tests` compares every pair of methods of one data set on one gene-level metric
  by the Wilcoxon signed-rank test of their per-gene values (two-sided, ``scipy.stats.wilcoxon``:
  zero differences dropped; the exact null distribution for up to 50 genes without zeros or ties,
  else the normal approximation with continuity correction), and corrects the p-values with Holm's step-down method within each family (all method
  pairs of one data set and metric). Written to ``OUT/paired_tests.csv``.
* :func:`bootstrap_ci_rows` adds a percentile bootstrap confidence interval of the mean of every
  metric that has per-item values (genes or cells), resampling the items with replacement
  ``n_boot`` times from a seeded generator. Written as ``ci95_low`` / ``ci95_high`` rows.
"""

from __future__ import annotations

import json
import os
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: Bootstrap resamples per aggregate.
N_BOOT = 1000
#: Two-sided confidence level of the bootstrap intervals.
CI_LEVEL = 0.95
#: Significance level used for the ``better`` column of the paired tests (after correction).
ALPHA = 0.05

PAIRED_COLUMNS = [
    "dataset", "metric", "scope", "method_a", "method_b", "n_genes", "mean_a", "mean_b", "median_diff",
    "statistic", "p_value", "p_holm", "better",
]


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error rate); NaN p-values are left out.

    The ``i``-th smallest of ``m`` p-values is multiplied by ``m - i`` (``i`` from 0), the running
    maximum is taken so the adjusted values keep the order of the raw ones, and values are capped at 1.
    """
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adj = np.maximum.accumulate(p[order] * (m - np.arange(m)))
    out[order] = np.minimum(adj, 1.0)
    return out


def _test_method(d: np.ndarray) -> str:
    """``"exact"`` for at most 50 non-zero differences without zeros or ties, else ``"asymptotic"``.

    Chosen per pair, explicitly, so that a p-value never depends on which other pairs were tested
    in the same call (scipy's ``"auto"`` decides on a whole batch, and may pick a random
    permutation test).
    """
    nz = d[d != 0]
    if nz.size < d.size or nz.size > 50 or np.unique(np.abs(nz)).size < nz.size:
        return "asymptotic"
    return "exact"


def wilcoxon_pair(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Two-sided Wilcoxon signed-rank test of paired ``a`` and ``b``; ``(statistic, p)``.

    Pairs with a NaN are dropped; zero differences are dropped (Wilcoxon's convention). The
    exact null distribution is used for up to 50 differences without zeros or ties, otherwise the
    normal approximation with continuity correction. Identical samples (every difference zero)
    give ``(0, 1)``.
    """
    from scipy.stats import wilcoxon

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    d = a[ok] - b[ok]
    if not np.any(d != 0):
        return 0.0, 1.0
    res = wilcoxon(a[ok], b[ok], method=_test_method(d))
    return float(res.statistic), float(res.pvalue)


def _wilcoxon_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`wilcoxon_pair` of every column pair of ``a`` and ``b`` (genes x pairs), batched.

    Columns without NaN that share a test method go through one vectorised scipy call (about
    100 times faster than one call per pair); the others one by one.
    """
    from scipy.stats import wilcoxon

    d = a - b
    stat = np.zeros(d.shape[1])
    p = np.ones(d.shape[1])
    full = np.isfinite(d).all(axis=0)
    methods = {}
    for j in range(d.shape[1]):
        if full[j] and np.any(d[:, j] != 0):
            methods.setdefault(_test_method(d[:, j]), []).append(j)
        elif not full[j]:
            stat[j], p[j] = wilcoxon_pair(a[:, j], b[:, j])
    for method, cols in methods.items():
        res = wilcoxon(a[:, cols], b[:, cols], axis=0, method=method)
        stat[cols], p[cols] = res.statistic, res.pvalue
    return stat, p


def per_gene_table(results: pd.DataFrame) -> pd.DataFrame:
    """Per-gene values (``scope == "gene"``, ``stat == "value"``) averaged per dataset, metric, method, gene.

    A gene predicted several times (several seeds, held-out repeats) gets the mean of its values,
    so the unit of every test is the gene.
    """
    rows = results[(results["scope"] == "gene") & (results["stat"] == "value") & (results["item"] != "")]
    return rows.groupby(["dataset", "metric", "method", "item"], sort=True)["value"].mean().reset_index()


def paired_tests(results: pd.DataFrame, higher_is_better: dict[str, bool] | None = None,
                 alpha: float = ALPHA) -> pd.DataFrame:
    """Wilcoxon signed-rank test of every pair of methods, per data set and gene-level metric.

    Parameters
    ----------
    results
        The tidy results table (or rows of it).
    higher_is_better
        Direction by metric name, to say which method of a significant pair is better; metrics not
        in it get an empty ``better``. Defaults to the registry's gene-level metrics.
    alpha
        Level for ``better`` (compared with the Holm-adjusted p-value).

    Returns
    -------
    One row per dataset, metric and pair (``method_a`` < ``method_b`` alphabetically), with the
    number of genes where both are defined, both means, the median of ``a - b``, the statistic,
    the raw and Holm-adjusted p-values, and ``better`` (the better method where
    ``p_holm < alpha``, else empty). The Holm family is all pairs of one dataset and metric.
    """
    if higher_is_better is None:
        from .metrics import all_metrics

        higher_is_better = {m.name: m.higher_is_better for m in all_metrics().values() if m.scope == "gene"}
    table = per_gene_table(results)
    out: list[dict[str, Any]] = []
    for (dataset, metric), grp in table.groupby(["dataset", "metric"], sort=True):
        wide = grp.pivot(index="item", columns="method", values="value")
        names = sorted(wide.columns)
        values = wide[names].to_numpy(dtype=np.float64)
        pairs = [(i, j) for i, j in combinations(range(len(names)), 2)
                 if (np.isfinite(values[:, i]) & np.isfinite(values[:, j])).any()]
        if not pairs:
            continue
        a = values[:, [i for i, _ in pairs]]
        b = values[:, [j for _, j in pairs]]
        stats, pvals = _wilcoxon_pairs(a, b)
        family = []
        for k, (i, j) in enumerate(pairs):
            ok = np.isfinite(a[:, k]) & np.isfinite(b[:, k])
            d = a[ok, k] - b[ok, k]
            family.append({"dataset": dataset, "metric": metric, "scope": "gene", "method_a": names[i],
                           "method_b": names[j], "n_genes": int(ok.sum()), "mean_a": float(a[ok, k].mean()),
                           "mean_b": float(b[ok, k].mean()), "median_diff": float(np.median(d)),
                           "statistic": float(stats[k]), "p_value": float(pvals[k]),
                           "_rank_sign": _signed_rank_sum(d)})
        adj = holm(np.array([r["p_value"] for r in family]))
        for r, p_adj in zip(family, adj):
            sign = r.pop("_rank_sign")
            r["p_holm"] = float(p_adj)
            better = ""
            if metric in higher_is_better and p_adj < alpha and sign != 0:
                a_larger = sign > 0
                better = r["method_a"] if a_larger == higher_is_better[metric] else r["method_b"]
            r["better"] = better
            out.append(r)
    return pd.DataFrame(out, columns=PAIRED_COLUMNS)


def _signed_rank_sum(d: np.ndarray) -> float:
    """``W+ - W-`` of the differences (zeros dropped): which side the signed-rank test leans to."""
    from scipy.stats import rankdata

    d = d[d != 0]
    if d.size == 0:
        return 0.0
    r = rankdata(np.abs(d))
    return float(r[d > 0].sum() - r[d < 0].sum())


def bootstrap_ci(values: np.ndarray, n_boot: int = N_BOOT, level: float = CI_LEVEL,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of the finite ``values`` (NaN if none)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    # in chunks, so a 100,000-cell run does not hold n_boot x n indices at once
    step = max(1, 2_000_000 // v.size)
    for start in range(0, n_boot, step):
        k = min(step, n_boot - start)
        means[start:start + k] = v[rng.integers(0, v.size, size=(k, v.size))].mean(axis=1)
    tail = (1 - level) / 2
    lo, hi = np.quantile(means, [tail, 1 - tail])
    return float(lo), float(hi)


def bootstrap_ci_rows(rows: list[dict[str, Any]], n_boot: int = N_BOOT, level: float = CI_LEVEL) -> list[dict[str, Any]]:
    """``ci95_low`` / ``ci95_high`` rows for every group of per-item values in ``rows``.

    A group is one dataset, method, seed, fold, metric and scope; its rows with ``stat == "value"``
    and a non-empty ``item`` are resampled. The generator is seeded from the job seed and a hash
    of the group (stable across runs and Python processes), so the same results give the same
    intervals. The new rows copy the group's other columns.
    """
    if not rows:
        return []
    df = pd.DataFrame(rows)
    per = df[(df["stat"] == "value") & (df["item"] != "")]
    if per.empty:
        return []
    keys = ["dataset", "method", "seed", "fold", "metric", "scope"]
    pct = round(level * 100)
    out = []
    for key, grp in per.groupby(keys, sort=False):
        label = json.dumps([str(k) for k in key])
        seed = [int(key[2]), *label.encode()]  # SeedSequence takes a list of ints: deterministic
        lo, hi = bootstrap_ci(grp["value"].to_numpy(), n_boot, level, seed=np.random.SeedSequence(seed))
        template = grp.iloc[0].to_dict()
        for stat, value in ((f"ci{pct}_low", lo), (f"ci{pct}_high", hi)):
            out.append({**template, "item": "", "stat": stat, "value": value})
    return out


def write_paired_tests(results: pd.DataFrame, out: Path) -> Path:
    """Write :func:`paired_tests` of ``results`` to ``out/paired_tests.csv`` (atomically)."""
    path = Path(out) / "paired_tests.csv"
    tmp = path.with_suffix(".csv.tmp")
    paired_tests(results).to_csv(tmp, index=False, float_format="%.6g")
    os.replace(tmp, path)
    return path


__all__ = ["ALPHA", "CI_LEVEL", "N_BOOT", "PAIRED_COLUMNS", "bootstrap_ci", "bootstrap_ci_rows", "holm",
           "paired_tests", "per_gene_table", "wilcoxon_pair", "write_paired_tests"]
