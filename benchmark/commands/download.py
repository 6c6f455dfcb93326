"""``download``: fetch public data files (resumable, sha256-checked)."""

from __future__ import annotations

import sys
from pathlib import Path

from . import print_table


def add_parser(sub) -> None:

    dl = sub.add_parser(
        "download", help="download public data files (resumable, sha256-checked)",
        description="Download a public data file into the cache directory, resuming an interrupted download "
        "(HTTP Range) and checking its sha256; entries with an extract step also write .h5ad files.",
    )
    dl.set_defaults(func=execute)
    dl.add_argument("names", nargs="*", metavar="NAME", help="entries to download (see --list)")
    dl.add_argument("--list", action="store_true", help="list the entries: URL, sha256, what they hold")
    dl.add_argument("--cache-dir", type=Path, help="where files go (default: $ST_IMPUTE_BENCH_CACHE or "
                    "~/.cache/st-impute-bench/downloads)")


def execute(args) -> int:
    from ..datasets.download import DOWNLOADS, default_cache_dir, fetch

    if args.list or not args.names:
        rows = [(d.name, d.sha256 or "(none published)", d.url, d.description) for d in DOWNLOADS.values()]
        print_table(("name", "sha256", "url", "what"), rows)
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
