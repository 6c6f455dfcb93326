"""Measure stImpute's wall time and peak memory; prints a table.

    python scripts/bench_stimpute.py --osmfish              # full 5-fold run on the osmFISH pair
    python scripts/bench_stimpute.py --cells 10000 50000    # one fold on built-in data of each size

Each measurement runs in a fresh Python process, so peak resident memory (``ru_maxrss`` of
that process) is the run's own. Times are wall-clock seconds on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

OSMFISH = """
import json, sys, time
from benchmark.harness import RunConfig, run_benchmark
t = time.perf_counter()
res = run_benchmark(RunConfig(datasets=["osmfish"], methods=["stimpute"], out=sys.argv[1], isolate=False,
                              cluster=False), progress=False)
wall = time.perf_counter() - t
print(json.dumps({"wall_s": wall, "jobs_s": float(res.jobs["runtime_s"].sum()),
                  "gene_css": float(res.summary.iloc[0]["gene_css"]), "gene_pcc": float(res.summary.iloc[0]["gene_pcc"])}))
"""

SCALE = """
import json, sys, time
import numpy as np
from benchmark.contract import prepare_pair
from benchmark.datasets.synthetic import make_synthetic_pair
from benchmark.methods import get_method
from benchmark.splits import kfold_gene_splits
n = int(sys.argv[1])
data = make_synthetic_pair(n_spatial=n, n_reference=int(sys.argv[2]), n_shared=int(sys.argv[3]), n_reference_only=50,
                           seed=0, name=f"synthetic-{n}")
prep = prepare_pair(data)
split = kfold_gene_splits(prep.shared, 5, 0)[0]
task = prep.make_task(split, seed=0, workdir=sys.argv[4], time_budget=None, quick=False, device="cpu")
t = time.perf_counter()
pred = get_method("stimpute").fit_predict(task)
wall = time.perf_counter() - t
print(json.dumps({"wall_s": wall, "timings": pred.info["timings"], "preset": pred.info["params"]["preset"]}))
"""


def _measure(code: str, *args: str) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    wall = time.perf_counter() - t
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    rec = json.loads(out.stdout.strip().splitlines()[-1])
    rec["process_wall_s"] = wall
    rec["peak_rss_mb"] = peak / 1024 if peak > before else float("nan")  # max over children so far
    return rec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--osmfish", action="store_true", help="time the full 5-fold run on osmFISH")
    ap.add_argument("--cells", type=int, nargs="*", default=[], help="spatial cell counts for the scaling run")
    ap.add_argument("--reference-cells", type=int, default=5000)
    ap.add_argument("--genes", type=int, default=50, help="spatial panel size for the scaling run")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} CPUs; torch threads default")
    if args.osmfish:
        with tempfile.TemporaryDirectory() as tmp:
            r = _measure(OSMFISH, tmp)
        print(f"osmFISH 5-fold stImpute: wall {r['wall_s']:.1f} s (jobs {r['jobs_s']:.1f} s, process "
              f"{r['process_wall_s']:.1f} s incl. imports), peak RSS {r['peak_rss_mb']:.0f} MB, "
              f"gene CSS {r['gene_css']:.3f}, gene PCC {r['gene_pcc']:.3f}")
    if args.cells:
        print(f"\nscaling (one fold, {args.genes} panel genes, {args.reference_cells} reference cells):")
        print(f"{'cells':>9} {'preset':>6} {'wall_s':>8} {'s/100k':>8} {'peak_MB':>8}  breakdown")
        # ascending sizes: ru_maxrss of children is a running maximum, so each row is that size's peak
        for n in sorted(args.cells):
            with tempfile.TemporaryDirectory() as tmp:
                r = _measure(SCALE, str(n), str(args.reference_cells), str(args.genes), tmp)
            br = " ".join(f"{k[:-2]}={v:.1f}" for k, v in r["timings"].items())
            print(f"{n:>9} {r['preset']:>6} {r['wall_s']:>8.1f} {r['wall_s'] / n * 1e5:>8.1f} "
                  f"{r['peak_rss_mb']:>8.0f}  {br}", flush=True)


if __name__ == "__main__":
    main()
