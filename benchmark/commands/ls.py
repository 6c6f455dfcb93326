"""``ls``: list the registered methods, datasets or metrics and whether each is available."""

from __future__ import annotations

from pathlib import Path

from ..config import default_data_dir
from . import print_table


def add_parser(sub) -> None:
    ls = sub.add_parser("ls", help="list registered methods, datasets or metrics",
                        description="List what is registered and whether it is available.")
    ls.set_defaults(func=execute)
    ls.add_argument("what", choices=["methods", "datasets", "metrics"])
    ls.add_argument("names", nargs="*", metavar="NAME",
                    help="datasets only: show the full manifest entry of these datasets")
    ls.add_argument("--data-dir", type=Path, help="data directory to check dataset files in")
    ls.add_argument("--long", action="store_true",
                    help="datasets only: every manifest field (technology, counts, keys, source, citation, sha256)")
    ls.add_argument("--verify", action="store_true",
                    help="datasets only: check the sha256 of every available dataset file against the manifest")


def execute(args) -> int:
    if args.what == "methods":
        from ..methods import all_methods, broken_modules

        rows = []
        for name, cls in all_methods().items():
            ok, reason = cls.availability()
            kind = "oracle" if cls.info.oracle else "control" if cls.info.control else "method"
            note = cls.info.summary + ("" if ok else f" [{reason}]")
            if cls.info.cost_note:  # e.g. hours per fold on a CPU: worth knowing before `--methods all`
                note += f" [cost: {cls.info.cost_note}]"
            rows.append((name, kind, "yes" if ok else "no", note))
        print_table(("method", "kind", "available", "summary"), rows)
        if args.long:  # what --tune searches, per method (benchmark/tuning.py)
            print("\nsearch spaces of --tune (the first value of each is the default):")
            for name, cls in all_methods().items():
                if cls.search_space and not cls.info.variant_of:
                    print(f"  {name}: " + "; ".join(f"{k} in {list(v)}" for k, v in cls.search_space.items()))
        for mod, err in broken_modules().items():
            where = mod if mod.startswith("entry point") else f"module methods/{mod}.py"
            print(f"\n{where} failed to load: {err.splitlines()[0]}")
    elif args.what == "datasets":
        from ..datasets import REGISTRY

        _ls_datasets(args)
        for where, err in REGISTRY.broken().items():  # plug-ins (a dataset module that fails raises)
            print(f"\n{where} failed to load: {err.splitlines()[0]}")
    else:
        from ..metrics import all_metrics

        rows = []
        for key, m in all_metrics().items():
            lo, hi = m.bounds
            rows.append((m.name, m.scope, m.direction,
                         f"[{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]", f"{m.best:g}",
                         m.description))
        print_table(("metric", "scope", "better", "bounds", "best", "definition"), rows)
    return 0


def _ls_datasets(args) -> None:
    from ..datasets import all_datasets, get_dataset_spec

    data_dir = args.data_dir or default_data_dir()
    specs = {n: get_dataset_spec(n) for n in args.names} if args.names else all_datasets()
    if args.long or args.names:
        for name, spec in specs.items():
            print(f"== {name}")
            for key, value in spec.manifest(data_dir).items():
                if isinstance(value, dict):
                    print(f"  {key}:")
                    for f, sha in value.items():
                        print(f"    {f}  sha256 {sha}")
                else:
                    print(f"  {key}: {'' if value is None else value}")
            print()
    else:
        rows = []
        for name, spec in specs.items():
            ok, reason = spec.availability(data_dir)
            where = "built-in" if spec.builtin else str(data_dir)
            cells = f"{spec.n_spatial_cells or '?'}" + (f"/{spec.n_reference_cells}" if spec.n_reference_cells else "")
            rows.append((name + (" (default)" if spec.default else ""), spec.kind, spec.technology,
                         cells, str(spec.n_genes or "?"), spec.label_key or "-", spec.spatial_key or "-",
                         spec.duplicate_key or "-", "yes" if ok else "no", where,
                         spec.summary + ("" if ok else f" [{reason}]")))
        print_table(("dataset", "kind", "technology", "cells sp/ref", "genes", "labels", "coords", "dup flag",
                     "available", "read from", "summary"), rows)
        print("\nSpatial-only datasets run as self:NAME (a seeded split of their cells into a reference and a "
              "spatial half).\n`ls datasets --long` or `ls datasets NAME` shows every manifest field.")
    if args.verify:
        print()
        for name, spec in specs.items():
            if spec.builtin or not spec.availability(data_dir)[0]:
                continue
            spec.verify(data_dir)  # raises, naming the file, on a mismatch
            print(f"{name}: sha256 of {len(spec.files)} file(s) matches the manifest")
