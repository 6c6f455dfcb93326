"""Time stImpute's neighbour mean over the gene graph, dense against sparsified; prints a table.

    OMP_NUM_THREADS=1 python scripts/stimpute_graph_bench.py --genes 250 800 4000 --cells 64

For each panel size: a random similarity matrix, the paper's dense graph and the same graph with
each gene's ``--top-m`` strongest edges (``adjacency``), then ``--repeats`` forward and backward
passes of :func:`aggregate` over a cells x genes x ``--width`` tensor, as the second GraphSAGE
layer computes it during training. Milliseconds per pass (mean of the repeats, after one warm-up).
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--genes", nargs="+", type=int, default=[250, 800, 4000])
    p.add_argument("--cells", type=int, default=64)
    p.add_argument("--width", type=int, default=50, help="GraphSAGE width (stImpute: 50)")
    p.add_argument("--top-m", type=int, default=50)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)

    import numpy as np
    import torch

    from benchmark.methods.stimpute.graph import adjacency
    from benchmark.methods.stimpute.module import SparseGeneGraph, aggregate

    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {args.cells} cells x width {args.width}")
    print("genes    dense_ms   sparse_ms  ratio")
    for g in args.genes:
        rng = np.random.default_rng(0)
        sim = rng.random((g, g))
        sim = (sim + sim.T) / 2
        graphs = {
            "dense": torch.from_numpy(adjacency(sim).astype(np.float32)),
            "sparse": SparseGeneGraph(torch.from_numpy(adjacency(sim, top_m=args.top_m).astype(np.float32))),
        }
        h0 = torch.from_numpy(rng.standard_normal((args.cells, g, args.width)).astype(np.float32))
        ms = {}
        for name, graph in graphs.items():
            times = []
            for i in range(args.repeats + 1):
                h = h0.clone().requires_grad_(True)
                t = time.perf_counter()
                aggregate(graph, h).square().sum().backward()
                if i:  # the first pass warms up allocators and kernels
                    times.append(time.perf_counter() - t)
            ms[name] = 1000 * sum(times) / len(times)
        print(f"{g:5d}  {ms['dense']:10.3f}  {ms['sparse']:10.3f}  {ms['dense'] / ms['sparse']:5.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
