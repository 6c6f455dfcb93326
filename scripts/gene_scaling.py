"""Time and peak memory of methods against the number of shared genes; prints a table.

    python scripts/gene_scaling.py --genes 100 1000 5000 --methods mean knn cellsize stimpute spage

Built-in synthetic pairs (``make_synthetic_pair``) with the same cells and a growing gene panel;
one job per method and panel size: a hold-out of ``--hold-out`` of the shared genes (seed 0), the
harness's own job isolation, so ``peak_mem_mb`` is the job process's peak resident memory and
``runtime_s`` its wall time on this machine. A job past ``--time-budget`` is recorded as a timeout.
Results go to ``--out`` (a results folder per size, and ``gene_scaling.csv``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd


def _number(value) -> float:
    """A jobs.csv field as a float; NaN where the job left it empty (a timed-out job has no peak)."""
    return float("nan") if value is None or pd.isna(value) else float(value)


def measure(n_genes: int, methods: list[str], out: Path, *, n_spatial: int, n_reference: int, hold_out: float,
            time_budget: float, method_params: dict) -> pd.DataFrame:
    """One run of ``methods`` on a synthetic pair with ``n_genes`` shared genes; one row per method."""
    from benchmark.datasets.synthetic import make_synthetic_pair
    from benchmark.harness import RunConfig, run_benchmark

    data = make_synthetic_pair(n_spatial=n_spatial, n_reference=n_reference, n_shared=n_genes,
                               n_reference_only=0, seed=0, name=f"genes{n_genes}")
    cfg = RunConfig(methods=methods, protocol="holdout", holdout_fraction=hold_out, repeats=1, out=out / f"genes{n_genes}",
                    cluster=False, time_budget=time_budget, method_params=method_params)
    res = run_benchmark(cfg, [data], progress=False)
    jobs = res.jobs.set_index("method")
    rows = []
    for m in methods:
        job = jobs.loc[m]
        # a run whose every job failed or timed out has no score columns at all
        scored = (data.name, m) in res.summary.index and "gene_pcc" in res.summary.columns
        pcc = res.summary.loc[(data.name, m), "gene_pcc"] if scored else float("nan")
        rows.append({"genes": n_genes, "method": m, "status": job["status"], "runtime_s": float(job["runtime_s"]),
                     "peak_mem_mb": _number(job["peak_memory_mb"]), "gene_pcc": float(pcc)})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--genes", nargs="+", type=int, default=[100, 1000, 5000])
    p.add_argument("--methods", nargs="+", default=["mean", "knn", "cellsize", "stimpute", "spage"])
    p.add_argument("--cells", type=int, default=2000, help="spatial cells (the reference gets 1.25 times as many)")
    p.add_argument("--hold-out", type=float, default=0.2, help="fraction of the shared genes held out")
    p.add_argument("--time-budget", type=float, default=900.0, help="seconds per job")
    p.add_argument("--method-param", action="append", default=[], metavar="METHOD.PARAM=VALUE")
    p.add_argument("--out", type=Path, default=Path("gene-scaling"))
    args = p.parse_args(argv)
    import yaml

    params: dict = {}
    for text in args.method_param:
        lhs, value = text.split("=", 1)
        method, name = lhs.split(".", 1)
        params.setdefault(method, {})[name] = yaml.safe_load(value)
    tables = []
    for n in args.genes:
        tables.append(measure(n, args.methods, args.out, n_spatial=args.cells, n_reference=int(args.cells * 1.25),
                              hold_out=args.hold_out, time_budget=args.time_budget, method_params=params))
        print(tables[-1].to_string(index=False), flush=True)
    table = pd.concat(tables, ignore_index=True)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "gene_scaling.csv", index=False)
    print(table.pivot(index="method", columns="genes", values="runtime_s").round(1).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
