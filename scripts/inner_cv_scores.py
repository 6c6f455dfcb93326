"""What `--tune` sees: the inner-CV score of fixed configurations of a method on one outer gene
fold, on every cell or on a `--tune-cells` subsample.

    python scripts/inner_cv_scores.py tangram --fold 0 --config input_scaling=normalized \
        --max-cells 1000 --data-dir ../shared/data

Builds the outer task of `--fold` exactly as the harness does (the dataset's shared genes,
`--folds` gene folds, seed, default preprocessing), then scores each `--config` (repeat the
option for several; each is a comma-separated list of NAME=VALUE, values read as YAML, empty for
the defaults) with the tuning's own inner folds and scorer (benchmark/tuning.py). Prints one line
per configuration: the mean inner gene PCC, the quality flags and the seconds. Used to ask whether
a tuned choice made on a cell subsample is the one every cell would make.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import yaml

from benchmark.harness import RunConfig, load_and_validate
from benchmark.methods import all_methods
from benchmark.prepare import prepare
from benchmark.splits import kfold_gene_splits
from benchmark.tuning import inner_tasks, outer_truth, score_config


def _config(text: str) -> dict:
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep:
            raise SystemExit(f"--config {text!r}: expected NAME=VALUE, got {part!r}")
        out[name.strip()] = yaml.safe_load(value)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("method")
    ap.add_argument("--dataset", default="osmfish")
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--folds", type=int, default=5, help="outer gene folds (default: 5)")
    ap.add_argument("--fold", type=int, default=0, help="which outer fold (default: 0)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--inner-folds", type=int, default=3)
    ap.add_argument("--max-cells", type=int, default=None, help="as --tune-cells (default: every cell)")
    ap.add_argument("--config", action="append", default=None, help="NAME=VALUE[,NAME=VALUE] (repeatable)")
    args = ap.parse_args(argv)

    cls = all_methods()[args.method]
    cfg = RunConfig(datasets=[args.dataset], data_dir=args.data_dir, n_folds=args.folds, cluster=False)
    (data, genes), = load_and_validate(cfg)
    prep = prepare(data, genes, cfg.preprocessing)
    split = kfold_gene_splits(genes, args.folds, args.seed)[args.fold]
    with tempfile.TemporaryDirectory() as tmp:
        task = prep.make_task(split, seed=args.seed, workdir=Path(tmp), time_budget=None, quick=False, device="cpu")
        inner = inner_tasks(task, args.inner_folds, args.max_cells)
        truth = outer_truth(task)
        for text in args.config or [""]:
            trial = score_config(cls, {}, _config(text), inner, truth)
            print(json.dumps({"dataset": args.dataset, "method": args.method, "fold": args.fold,
                              "max_cells": args.max_cells, "inner_cells": inner[0].spatial.n_obs, **trial}),
                  flush=True)


if __name__ == "__main__":
    main()
