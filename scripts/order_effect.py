"""What the order of a data file does to a method: file order (the harness before
benchmark/order.py) against the seeded order the harness now uses.

    python scripts/order_effect.py uniport --quick --dataset osmfish --data-dir ../shared/data

One hold-out split of ``--holdout-fraction`` of the genes, seed 0, no cluster metrics; prints
gene PCC, gene CSS and cell CSS for both orders. The file order is obtained by turning the
shuffle of ``PreparedData.make_task`` off for that run only.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmark.harness import RunConfig, run_benchmark
from benchmark.prepare import PreparedData


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("method")
    ap.add_argument("--dataset", default="osmfish")
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--holdout-fraction", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("order-effect"))
    args = ap.parse_args()
    original = PreparedData.make_task
    for label, shuffle in (("file order", False), ("seeded order", True)):
        def make_task(self, split, *, _shuffle=shuffle, **kw):
            return original(self, split, shuffle=_shuffle, **kw)

        PreparedData.make_task = make_task  # forked jobs inherit it
        cfg = RunConfig(datasets=[args.dataset], methods=[args.method], quick=args.quick, protocol="holdout",
                        holdout_fraction=args.holdout_fraction, repeats=1, seeds=[args.seed], cluster=False,
                        data_dir=args.data_dir, out=args.out / ("seeded" if shuffle else "file"))
        t0 = time.time()
        s = run_benchmark(cfg, progress=False).summary.iloc[0]
        print(f"{args.method} {label}: gene PCC {s['gene_pcc']:.3f}, gene CSS {s['gene_css']:.3f}, "
              f"cell CSS {s['cell_css']:.3f} ({time.time() - t0:.0f} s)", flush=True)
    PreparedData.make_task = original


if __name__ == "__main__":
    main()
