"""Command line: ``python -m benchmark run | ls``."""

from __future__ import annotations

import argparse
import sys
import textwrap
import warnings
from pathlib import Path

from .config import DATA_DIR_ENV, default_data_dir
from .datasets.preprocessing import PREPROCESSING_SUMMARY as PREPROCESSING_CHOICES
from .scoring import SCORING_SPACES as SCORING_SPACE_CHOICES
from .errors import BenchmarkError
from .splits import PROTOCOLS

DESCRIPTION = """\
Benchmark gene imputation methods for imaging-based spatial transcriptomics.

Each shared gene of a spatial data set and its scRNA-seq reference is hidden in turn
(5-fold gene cross-validation by default) and predicted by every method from the other genes;
the predictions are scored by CSS, MSE and PCC at cell and gene level, and by Leiden cluster
agreement with known cell types.
"""

RUN_EPILOG = """\
examples:
  python -m benchmark run                                   # built-in data, controls and stImpute
  python -m benchmark run --methods all --quick             # every installed method, shortened training
  python -m benchmark run --datasets osmfish --methods mean knn --seeds 0 1 2
  python -m benchmark run --spatial sp.h5ad --reference ref.h5ad --label-key cell_type
  python -m benchmark run --protocol holdout --holdout-fraction 0.8 --repeats 5

Results go to OUT/results.parquet (and .csv), OUT/summary.csv, OUT/jobs.csv and OUT/run.json.
Finished jobs are cached in OUT/cache: run the same command again to resume an interrupted run.
"""


def _method_param(text: str) -> tuple[str, str, object]:
    try:
        lhs, value = text.split("=", 1)
        method, param = lhs.split(".", 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected METHOD.PARAM=VALUE, got {text!r}") from None
    import yaml

    return method, param, yaml.safe_load(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmark", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"st-impute-bench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser(
        "run", help="run the benchmark and write a results folder", description="Run the benchmark.",
        epilog=RUN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.set_defaults(func=cmd_run)
    # Defaults are None here so that a flag given on the command line can be told apart from one
    # left out, and override a --config file; the real defaults are RunConfig's (shown in the help).
    run.add_argument("--config", type=Path, metavar="FILE.yaml",
                     help="read run options from a YAML file (keys = option names with '_'; see docs/datasets.md); "
                     "flags given here override it")
    g = run.add_argument_group("what to run")
    g.add_argument("--datasets", nargs="+", metavar="NAME",
                   help="registered datasets, or self:NAME for a self-paired split of a spatial set "
                   "(default: the built-in 'synthetic'); see `ls datasets`")
    g.add_argument("--methods", nargs="+", metavar="NAME",
                   help="registered methods, or 'all' for every available one (default: the controls and "
                   "stImpute, the methods implemented here); see `ls methods`")
    g.add_argument("--exclude-methods", nargs="+", metavar="NAME",
                   help="leave these methods out, e.g. `--methods all --exclude-methods cellpin`")
    g.add_argument("--method-param", action="append", type=_method_param, metavar="METHOD.PARAM=VALUE",
                   help="override a method parameter, e.g. knn.k=10 (repeatable)")
    g.add_argument("--seeds", nargs="+", type=int, metavar="SEED",
                   help="seeds (default: 0); with several, summary.csv gives mean and sd over seeds")
    g.add_argument("--quick", action="store_true", default=None,
                   help="let methods shorten training (each documents how)")
    g.add_argument("--tune", action="store_true", default=None,
                   help="also run each method that declares a search space tuned (rows METHOD+tuned): per split, "
                   "the configuration with the best inner gene CV over the training genes only (docs/protocol.md)")
    g.add_argument("--tune-budget", type=int, metavar="N",
                   help="configurations tried per method and split, the same for every method (default: 4)")
    g.add_argument("--tune-folds", type=int, metavar="K", help="inner gene folds of --tune (default: 3)")

    g = run.add_argument_group("protocol")
    g.add_argument("--protocol", choices=list(PROTOCOLS),
                   help="kfold: K-fold gene cross-validation (default); holdout: a fraction of genes hidden, "
                   "with repeats; cellsplit: a fraction of genes hidden and the cells partitioned into --folds "
                   "folds, each predicted by its own job (see docs/protocol.md)")
    g.add_argument("--folds", type=int, help="gene folds (kfold) or cell folds (cellsplit) (default: 5)")
    g.add_argument("--holdout-fraction", type=float,
                   help="fraction of genes hidden (holdout, cellsplit; default: 0.5)")
    g.add_argument("--repeats", type=int, help="random repeats (holdout, cellsplit; default: 3)")
    g.add_argument("--preprocessing", choices=list(PREPROCESSING_CHOICES),
                   help="normalisation given to all methods and used for scoring: "
                   + "; ".join(f"{k}: {v}" for k, v in PREPROCESSING_CHOICES.items()))
    g.add_argument("--scoring-space", choices=list(SCORING_SPACE_CHOICES),
                   help="the space predictions are scored in: "
                   + "; ".join(f"{k}: {v}" for k, v in SCORING_SPACE_CHOICES.items())
                   + " (docs/metrics.md)")
    g.add_argument("--hvg", type=int, metavar="N",
                   help="keep the N most highly variable shared genes, chosen on the reference before any split "
                   "(scanpy 'seurat' flavour; the paper used 2000 for its large panels; default: all genes)")
    g.add_argument("--keep-control-probes", action="store_true", default=None,
                   help="keep negative-control probes (Blank-*, NegPrb*, NegControl*) in the gene cross-validation "
                   "(default: they are left out; docs/datasets.md)")
    g.add_argument("--no-cluster", action="store_true", default=None, help="skip the Leiden cluster metrics")
    g.add_argument("--cluster-resolution", type=float, help="Leiden resolution (default: 1.0)")
    g.add_argument("--cluster-neighbors", type=int, help="neighbours of the kNN graph (default: 15)")
    g.add_argument("--cluster-pcs", type=int, help="principal components (default: 30)")

    g = run.add_argument_group("data")
    g.add_argument("--spatial", type=Path, metavar="FILE.h5ad",
                   help="your spatial counts (cells x genes); without --reference it is self-paired like self:NAME "
                   "(--self-pair-seed, --self-pair-fraction)")
    g.add_argument("--reference", type=Path, metavar="FILE.h5ad",
                   help="your scRNA-seq reference counts (optional: see --spatial)")
    g.add_argument("--name", help="dataset name for your files (default: the spatial file's stem)")
    g.add_argument("--label-key", help="obs column of the spatial file with cell types (for cluster metrics)")
    g.add_argument("--spatial-key", help="obsm key of the spatial file with coordinates (default: 'spatial', the "
                   "scverse convention, when the file has it)")
    g.add_argument("--layer", help="layer holding raw counts, if X does not")
    g.add_argument("--embeddings", type=Path, metavar="FILE", help="genes x dims table (parquet/csv) of gene embeddings")
    g.add_argument("--harmonize-gene-case", action="store_true", default=None,
                   help="rename reference genes that match spatial genes only case-insensitively")
    g.add_argument("--verify-data", action="store_true", default=None,
                   help="check the sha256 of each registered dataset file against its manifest before reading it")
    g.add_argument("--self-pair-seed", type=int, help="seed of the cell split of self:NAME datasets (default: 0)")
    g.add_argument("--self-pair-fraction", type=float,
                   help="fraction of cells put in the reference half of self:NAME datasets (default: 0.5)")

    g = run.add_argument_group("execution")
    g.add_argument("--out", type=Path, help="results folder (default: benchmark-results)")
    g.add_argument("--cache-dir", type=Path, help="job cache (default: OUT/cache)")
    g.add_argument("--data-dir", type=Path, help=f"data directory (default: ${DATA_DIR_ENV} or {default_data_dir()})")
    g.add_argument("--time-budget", type=float, help="seconds per job before it is stopped (default: 1800)")
    g.add_argument("--retry-failed", action="store_true", default=None, help="re-run jobs whose failure is cached")
    g.add_argument("--no-isolation", action="store_true", default=None,
                   help="run methods in this process (for debugging)")
    g.add_argument("--device", choices=["cpu", "cuda", "auto"], help="device for torch methods (default: cpu)")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.add_argument("--full-summary", action="store_true",
                   help="print every column of the summary (as in summary.csv), not only the primary metrics "
                   "that fit in 120 columns")
    g.add_argument("--executor", choices=["serial", "dask"],
                   help="run jobs one after another here (serial, default) or as tasks on a Dask cluster "
                   "(a local one unless --scheduler is given); see docs/scaling.md")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help="with --executor dask: join this running Dask scheduler (e.g. tcp://host:8786) "
                   "instead of starting a local cluster; the cache folder must be visible to every worker")
    g.add_argument("--workers", type=int, metavar="N",
                   help="with --executor dask and no --scheduler: workers of the local cluster (default: CPUs, at most 4)")

    emb = sub.add_parser(
        "embed-genes", help="compute gene embeddings from protein sequences with ESM-2 (fair-esm)",
        description="Embed each protein of a FASTA file with an ESM-2 model and write a genes x dimensions "
        "parquet table, usable with --embeddings. Gene names come from UniProt 'GN=' fields or the first "
        "word of each header. Needs fair-esm and the model weights (a pretrained name is fetched once "
        "into the torch hub cache; or give a local .pt file).",
    )
    emb.set_defaults(func=cmd_embed)
    emb.add_argument("fasta", type=Path, help="protein sequences, one record per gene")
    emb.add_argument("--out", type=Path, required=True, help="output .parquet file")
    emb.add_argument("--model", default="esm2_t36_3B_UR50D",
                     help="fair-esm model name or local .pt file (default: %(default)s, the paper's)")
    emb.add_argument("--layer", type=int, help="representation layer (default: last)")
    emb.add_argument("--pooling", choices=["mean", "last"], default="mean",
                     help="mean over residues (default) or the last residue (as the stImpute tutorial)")
    emb.add_argument("--device", default="cpu")

    ls = sub.add_parser("ls", help="list registered methods, datasets or metrics",
                        description="List what is registered and whether it is available.")
    ls.set_defaults(func=cmd_ls)
    ls.add_argument("what", choices=["methods", "datasets", "metrics"])
    ls.add_argument("names", nargs="*", metavar="NAME",
                    help="datasets only: show the full manifest entry of these datasets")
    ls.add_argument("--data-dir", type=Path, help="data directory to check dataset files in")
    ls.add_argument("--long", action="store_true",
                    help="datasets only: every manifest field (technology, counts, keys, source, citation, sha256)")
    ls.add_argument("--verify", action="store_true",
                    help="datasets only: check the sha256 of every available dataset file against the manifest")

    dl = sub.add_parser(
        "download", help="download public data files (resumable, sha256-checked)",
        description="Download a public data file into the cache directory, resuming an interrupted download "
        "(HTTP Range) and checking its sha256; entries with an extract step also write .h5ad files.",
    )
    dl.set_defaults(func=cmd_download)
    dl.add_argument("names", nargs="*", metavar="NAME", help="entries to download (see --list)")
    dl.add_argument("--list", action="store_true", help="list the entries: URL, sha256, what they hold")
    dl.add_argument("--cache-dir", type=Path, help="where files go (default: $ST_IMPUTE_BENCH_CACHE or "
                    "~/.cache/st-impute-bench/downloads)")

    lb = sub.add_parser(
        "leaderboard", help="rank methods per dataset: LEADERBOARD.md and leaderboard.json",
        description="Rank the methods of results folders per dataset by gene-level PCC, with key metrics,\n"
        "failures, the reproducing command and provenance.\n\n"
        "  RUN_DIR...                      write LEADERBOARD.md and leaderboard.json into --out\n"
        "                                  (default: the first RUN_DIR)\n"
        "  RUN_DIR... --update-reference   import the runs into leaderboard/reference/, then re-render\n"
        "                                  the repository's LEADERBOARD.md and leaderboard/leaderboard.json\n"
        "  (no RUN_DIR)                    re-render those two files from leaderboard/reference/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  python -m benchmark leaderboard benchmark-results                      # your run's leaderboard\n"
        "  python -m benchmark leaderboard runs/osmfish runs/synthetic --update-reference\n"
        "  python -m benchmark leaderboard --check                                # is LEADERBOARD.md current?",
    )
    lb.set_defaults(func=cmd_leaderboard)
    lb.add_argument("run_dirs", nargs="*", type=Path, metavar="RUN_DIR", help="results folders of `run`")
    lb.add_argument("--out", type=Path, help="folder for LEADERBOARD.md and leaderboard.json")
    lb.add_argument("--update-reference", action="store_true",
                    help="import the RUN_DIRs into the reference (their datasets replace those there)")
    lb.add_argument("--merge", action="store_true",
                    help="with --update-reference: replace only the methods the RUN_DIRs contain")
    lb.add_argument("--reference-dir", type=Path, help="reference folder (default: leaderboard/reference)")
    lb.add_argument("--check", action="store_true",
                    help="exit 1 if the rendered files differ from a rendering of the reference")

    val = sub.add_parser(
        "validate", help="check a method that is not registered yet (file, folder or module)",
        description="Import a method from a .py file, a folder or a dotted module name and run the metadata\n"
        "and contract checks every registered method must pass; print what passes and what fails,\n"
        "and why. Exit status 0 when everything passed, 1 otherwise.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  python -m benchmark validate my_method.py\n"
        "  python -m benchmark validate mypkg.methods --dataset synthetic-small",
    )
    val.set_defaults(func=cmd_validate)
    val.add_argument("target", metavar="PATH_OR_MODULE", help="a .py file, a folder, or a dotted module name")
    val.add_argument("--dataset", help="run the contract checks on this registered dataset "
                     "(default: a tiny built-in pair, seconds)")
    val.add_argument("--data-dir", type=Path, help="data directory for --dataset")
    _add_scale_parser(sub)
    rep = sub.add_parser(
        "report", help="tables, figures and one self-contained HTML page from results folders",
        description="Write a report of one or more results folders (several: e.g. a parameter sweep, or one "
        "run per dataset): Markdown and CSV tables, PNG figures with SVG/PDF copies, and report.html, which "
        "embeds every image and opens offline. See docs/reports.md for every file it writes.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  python -m benchmark report benchmark-results\n"
        "  python -m benchmark report runs/k5 runs/k10 runs/k20 --out runs/report --genes Gad2 Slc17a7",
    )
    rep.set_defaults(func=cmd_report)
    rep.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="results folder(s) of `run`")
    rep.add_argument("--out", type=Path, help="report folder (default: RUN_DIR/report; required for several)")
    rep.add_argument("--genes", nargs="+", metavar="GENE", help="genes of the spatial maps (default: the best, "
                     "median and worst predicted)")
    rep.add_argument("--n-genes", type=int, default=3, help="genes in the spatial maps when --genes is not given")
    rep.add_argument("--formats", nargs="+", choices=["svg", "pdf"], default=["svg"],
                     help="vector copies of each figure (default: svg)")
    rep.add_argument("--no-umap", action="store_true", help="skip the UMAP figure (the slowest)")
    rep.add_argument("--umap-max-cells", type=int, default=5000, help="cells per UMAP panel at most (default: 5000)")
    # New subcommands: add a parser here with ``set_defaults(func=cmd_...)`` and its ``cmd_...`` below.
    from .envs import add_parser as _add_env_parser  # env build|ls|rm (benchmark/envs.py)

    _add_env_parser(sub)
    return parser


SCALE_EPILOG = """\
examples:
  python -m benchmark scale --cells 10000 20000 --out scale-small         # the controls and stImpute
  python -m benchmark scale --methods all --cells 10000 100000 1000000 --time-budget 57600 --memory-budget 12000
  python -m benchmark scale --methods stimpute --device auto --cells 100000 1000000

Writes OUT/scale.csv, OUT/scale.md, OUT/scale.png and OUT/scale.json; finished jobs are cached in
OUT/cache, so the same command resumes an interrupted run. See docs/scaling.md.
"""


def _add_scale_parser(sub) -> None:
    sc = sub.add_parser(
        "scale", help="time and memory of methods against the number of spatial cells (built-in data)",
        description="Generate built-in data of each size and run each method once (one gene fold) per size; "
        "record wall time, peak resident memory and GPU memory; stop a method at the first size where it "
        "fails (time, memory or crash). Writes a table and a log-log plot.",
        epilog=SCALE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sc.set_defaults(func=cmd_scale)
    sc.add_argument("--methods", nargs="+", metavar="NAME", default=[],
                    help="methods, or 'all' (default: the controls and stImpute)")
    sc.add_argument("--exclude-methods", nargs="+", metavar="NAME", default=[],
                    help="leave these methods out (e.g. of 'all')")
    sc.add_argument("--method-param", action="append", type=_method_param, default=[], metavar="METHOD.PARAM=VALUE",
                    help="override a method parameter (repeatable)")
    sc.add_argument("--cells", nargs="+", type=int, default=[10_000, 100_000, 1_000_000], metavar="N",
                    help="spatial cell counts (default: 10000 100000 1000000)")
    sc.add_argument("--genes", type=int, default=377, help="spatial panel genes (default: 377, the Xenium tonsil panel)")
    sc.add_argument("--reference-cells", type=int, default=30_000, help="reference cells (default: 30000)")
    sc.add_argument("--reference-only-genes", type=int, default=50, help="genes only in the reference (default: 50)")
    sc.add_argument("--time-budget", type=float, default=3600.0, help="seconds per job (default: 3600; 0 = none)")
    sc.add_argument("--memory-budget", type=float, default=12_000.0, metavar="MB",
                    help="resident memory per job in MB (default: 12000; 0 = none)")
    sc.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"], help="device for torch methods")
    sc.add_argument("--seed", type=int, default=0, help="seed of the data, the gene split and the methods")
    sc.add_argument("--quick", action="store_true", help="let methods shorten training")
    sc.add_argument("--retry-failed", action="store_true", help="re-run jobs whose failure is cached")
    sc.add_argument("--out", type=Path, default=Path("scale-results"), help="output folder (default: %(default)s)")
    sc.add_argument("--quiet", action="store_true", help="no progress bar")
    mg = sub.add_parser(
        "scale-merge", help="one table and plot from several `scale` runs (sessions, settings, devices)",
        description="Merge the outputs of several `benchmark scale` runs on the same built-in data (sizes "
        "measured in different sessions, with other parameters, on a GPU) into one table, summary and "
        "log-log plot. A method run with parameter overrides or on a GPU gets its own line, labelled with "
        "them. Runs nothing.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  python -m benchmark scale-merge scale-10k scale-100k scale-1m --out scale-all\n\n"
        "Writes OUT/scale.csv, OUT/scale.md, OUT/scale.png and OUT/scale.json (with every run's provenance).",
    )
    mg.set_defaults(func=cmd_scale_merge)
    mg.add_argument("run_dirs", nargs="+", type=Path, metavar="SCALE_DIR", help="output folders of `scale`")
    mg.add_argument("--out", type=Path, required=True, help="folder for the merged table and plot")


def cmd_scale(args) -> int:
    from .scale import ScaleConfig, per_method_summary, run_scale

    params: dict[str, dict] = {}
    for method, param, value in args.method_param:
        params.setdefault(method, {})[param] = value
    cfg = ScaleConfig(methods=args.methods, exclude_methods=args.exclude_methods, cells=args.cells,
                      genes=args.genes, reference_cells=args.reference_cells,
                      reference_only_genes=args.reference_only_genes, time_budget=args.time_budget or None,
                      memory_budget_mb=args.memory_budget or None, device=args.device, out=args.out, seed=args.seed,
                      quick=args.quick, method_params=params, retry_failed=args.retry_failed)
    table = run_scale(cfg, progress=not args.quiet)
    cols = ["method", "n_cells", "status", "runtime_s", "s_per_100k_cells", "peak_rss_mb", "gpu_peak_mb", "gene_css"]
    print()
    print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print()
    print(per_method_summary(table).to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print(f"\nresults: {args.out / 'scale.md'} (and scale.csv, scale.png, scale.json)")
    return 0


def cmd_scale_merge(args) -> int:
    from .scale import merge_scale_runs, per_method_summary, write_scale_outputs

    table, provenance = merge_scale_runs(args.run_dirs)
    args.out.mkdir(parents=True, exist_ok=True)
    write_scale_outputs(table, args.out, provenance)
    print(per_method_summary(table).to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print(f"\nresults: {args.out / 'scale.md'} (and scale.csv, scale.png, scale.json)")
    return 0


def cmd_run(args) -> int:
    from .harness import run_benchmark
    from .results import SUMMARY_WIDTH, direction_note, format_summary
    from .run_config import build_run_config

    cfg = build_run_config(args)  # --config file, overridden by the flags given
    if (cfg.scheduler or cfg.dask_workers) and cfg.executor != "dask":
        raise BenchmarkError("--scheduler and --workers need --executor dask")
    result = run_benchmark(cfg, progress=not args.quiet)
    print()
    print(format_summary(result.summary, full=args.full_summary))
    note = (f"({direction_note()} Means over cells/genes of the assembled {cfg.n_folds}-fold matrix"
            + (", mean ± sd over seeds" if len(cfg.seeds) > 1 else "") + ".)"
            if cfg.protocol == "kfold" else f"({direction_note()})")
    print("\n" + textwrap.fill(note, width=SUMMARY_WIDTH, break_on_hyphens=False))  # a 120-column terminal
    if result.failures:
        print(f"\n{len(result.failures)} job(s) failed:")
        for f in result.failures:
            print(f"  {f['job']}: {f['status']}: {f['error'].splitlines()[0] if f['error'] else ''}")
    print(f"\nresults: {result.out / 'results.parquet'} (and .csv, summary.csv, jobs.csv, run.json)")
    return 0


def cmd_embed(args) -> int:
    from .datasets.embeddings import embed_fasta

    table = embed_fasta(args.fasta, args.out, args.model, layer=args.layer, pooling=args.pooling, device=args.device)
    print(f"wrote {table.shape[0]} genes x {table.shape[1]} dimensions to {args.out}")
    return 0


def cmd_leaderboard(args) -> int:
    from .leaderboard import cmd_leaderboard as run

    return run(args)


def cmd_validate(args) -> int:
    from .validate import cmd_validate as run

    return run(args)


def cmd_report(args) -> int:
    from .reports import make_report

    report = make_report(args.run_dirs, args.out, formats=tuple(args.formats), genes=args.genes,
                         n_genes=args.n_genes, umap=not args.no_umap, umap_max_cells=args.umap_max_cells)
    for note in report.notes:
        print(f"note: {note}")
    print(f"wrote {len(report.files)} files to {report.out}; open {report.html}")
    return 0


def cmd_ls(args) -> int:
    if args.what == "methods":
        from .methods import all_methods, broken_modules

        rows = []
        for name, cls in all_methods().items():
            ok, reason = cls.availability()
            kind = "oracle" if cls.info.oracle else "control" if cls.info.control else "method"
            note = cls.info.summary + ("" if ok else f" [{reason}]")
            if cls.info.cost_note:  # e.g. hours per fold on a CPU: worth knowing before `--methods all`
                note += f" [cost: {cls.info.cost_note}]"
            rows.append((name, kind, "yes" if ok else "no", note))
        _print_table(("method", "kind", "available", "summary"), rows)
        if args.long:  # what --tune searches, per method (benchmark/tuning.py)
            print("\nsearch spaces of --tune (the first value of each is the default):")
            for name, cls in all_methods().items():
                if cls.search_space and not cls.info.variant_of:
                    print(f"  {name}: " + "; ".join(f"{k} in {list(v)}" for k, v in cls.search_space.items()))
        for mod, err in broken_modules().items():
            where = mod if mod.startswith("entry point") else f"module methods/{mod}.py"
            print(f"\n{where} failed to load: {err.splitlines()[0]}")
    elif args.what == "datasets":
        _ls_datasets(args)
    else:
        from .metrics import all_metrics

        rows = []
        for key, m in all_metrics().items():
            lo, hi = m.bounds
            rows.append((m.name, m.scope, "higher" if m.higher_is_better else "lower",
                         f"[{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]", f"{m.best:g}",
                         m.description))
        _print_table(("metric", "scope", "better", "bounds", "best", "definition"), rows)
    return 0


def _ls_datasets(args) -> None:
    from .datasets import all_datasets, get_dataset_spec

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
        _print_table(("dataset", "kind", "technology", "cells sp/ref", "genes", "labels", "coords", "dup flag",
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


def cmd_download(args) -> int:
    from .datasets.download import DOWNLOADS, default_cache_dir, fetch

    if args.list or not args.names:
        rows = [(d.name, d.sha256 or "(none published)", d.url, d.description) for d in DOWNLOADS.values()]
        _print_table(("name", "sha256", "url", "what"), rows)
        print(f"\ncache directory: {args.cache_dir or default_cache_dir()}")
        return 0
    for name in args.names:
        def progress(done, total, _state={"last": 0}):
            if done - _state["last"] >= 1 << 22 or (total and done == total):
                _state["last"] = done
                print(f"\r{name}: {done / 2**20:.1f} MiB" + (f" of {total / 2**20:.1f}" if total else ""),
                      end="", file=sys.stderr, flush=True)

        path, extracted, sha = fetch(name, args.cache_dir, progress=progress)
        print(file=sys.stderr)
        verified = "verified" if DOWNLOADS[name].sha256 else "no published checksum to verify against"
        print(f"{name}: {path} (sha256 {sha}, {verified})")
        for p in extracted:
            print(f"  wrote {p}")
    return 0


def _print_table(header, rows) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    widths[-1] = 0
    for r in [header, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip())


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        return args.func(args)
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; finished jobs are cached, run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
