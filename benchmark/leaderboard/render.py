"""Rendering a :class:`~.model.Leaderboard`: ``LEADERBOARD.md`` for people, ``leaderboard.json`` for programs.

Per dataset, methods and controls ranked by the primary metric, then ablations and variants
under their parent, then each run's provenance and the command that reproduces it; the overall
table across datasets comes first (benchmark/overall.py). Rendering is deterministic: the same
leaderboard gives the same bytes (no clock is read; the only dates are the runs' own start and
end times), which is what lets ``--check`` and tests/test_leaderboard.py compare files.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from .. import overall
from ..config import repo_root
from .model import METRIC_COLUMNS, PRIMARY, PRIMARY_KEY, Leaderboard

#: Columns of the Markdown table: (column, header, format).
SHOWN = [
    ("gene_pcc", "gene PCC ↑ (primary)", "pm"),
    ("gene_css", "gene CSS ↑", "3f"),
    ("cell_css", "cell CSS ↑", "3f"),
    ("cell_pcc", "cell PCC ↑", "3f"),
    ("cell_mse", "MSE ↓", "3f"),
    ("cluster_ari", "ARI ↑", "3f"),
    ("time_s", "time (s)", "1f"),
    ("peak_mem_mb", "peak MB", "0f"),
]


def repo_outputs() -> tuple[Path, Path]:
    """The committed rendering: ``LEADERBOARD.md`` (repository root) and ``leaderboard/leaderboard.json``."""
    return repo_root() / "LEADERBOARD.md", repo_root() / "leaderboard" / "leaderboard.json"


def _ranked(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(methods and controls, best first with ranks; variants, best first)."""
    t = table.copy()
    t["_score"] = t[PRIMARY_KEY].where(t["status"] == "ok")
    t = t.sort_values(["_score", "method"], ascending=[False, True], na_position="last", kind="stable")
    main = t[t["kind"] != "variant"].copy()
    main["rank"] = main["_score"].rank(method="min", ascending=False)
    variants = t[t["kind"] == "variant"].copy()
    return main, variants


def _fmt(v: Any, how: str, sd: float = math.nan) -> str:
    if v is None or pd.isna(v):
        return "–"
    if how == "pm":
        return f"{v:.3f}" + ("" if pd.isna(sd) else f" ± {sd:.3f}")
    if how == "0f":
        return f"{v:,.0f}"
    return f"{v:.{how[0]}f}"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def _status(row: pd.Series) -> str:
    """The status shown for a row: ``ok``, or what failed; a row whose finished jobs carry quality
    flags (benchmark/quality.py) says so, e.g. ``ok (flagged: not_converged in 3/5 jobs)``, since
    its scores come from output the method itself reported as suspect."""
    flags = row.get("flags", "") or ""
    if row["status"] == "ok":
        return f"ok (flagged: {flags})" if flags else "ok"
    if row["status"] == "no score":
        text = "no score (primary metric undefined)"
    else:
        err = row["error"]
        if len(err) > 90:
            err = err[:87] + "..."
        text = f"{row['status']} ({row['failed_jobs']}/{row['n_jobs']} jobs): {err}"
    return f"{text}; flagged: {flags}" if flags else text


def _method_cell(row: pd.Series) -> str:
    name = f"`{row['method']}`"
    if row["kind"] == "control":
        name += " (control)"
    if row["package"] and row["method_version"]:
        name += f" · {row['package']} {row['method_version']}"
    if row["quick"]:
        name += " · quick"
    if row["params"] not in ("", "{}"):
        name += f" · {row['params']}"
    return _cell(name)


def _table(rows: pd.DataFrame, lead: tuple[str, ...], show_run: bool) -> list[str]:
    header = [*lead, "method", *(h for _, h, _ in SHOWN), "status"] + (["run"] if show_run else [])
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for _, r in rows.iterrows():
        cells = []
        if "#" in lead:
            cells.append("–" if pd.isna(r["rank"]) else str(int(r["rank"])))
        if "Δ primary" in lead:
            cells.append(_fmt(r["_delta"], "3f") if not pd.isna(r["_delta"]) else "–")
        cells.append(_method_cell(r))
        cells += [_fmt(r[c], how, r["gene_pcc_sd"] if how == "pm" else math.nan) for c, _, how in SHOWN]
        cells.append(_cell(_status(r)))
        if show_run:
            cells.append(f"`{r['run']}`")
        out.append("| " + " | ".join(cells) + " |")
    return out


def _dataset_line(name: str, info: dict[str, Any]) -> str:
    def n(v: Any) -> str:
        return "?" if v is None else f"{int(v):,}"

    text = (f"{n(info.get('n_spatial_cells'))} spatial cells, {n(info.get('n_shared_genes'))} shared genes, "
            f"reference of {n(info.get('n_reference_cells'))} cells")
    if info.get("label_key"):
        text += f"; cluster metrics against `{info['label_key']}`"
    if info.get("source"):
        text += f". Source: {info['source']}"
    return text + "."


def _commit_text(commit: str) -> str:
    if commit.endswith("+dirty"):
        return f"`{commit[:-6][:12]}` (with uncommitted changes)"
    return f"`{commit[:12]}`"


def _when(stamp: Any) -> str:
    """``2026-11-25T18:31:03.76+00:00`` -> ``2026-11-25 18:31:03`` (the stored stamps are UTC)."""
    return str(stamp)[:19].replace("T", " ") if stamp else "?"


def _protocol_text(p: dict[str, Any]) -> str:
    name = p.get("protocol") or "?"
    if name == "kfold":
        text = f"protocol kfold ({p.get('n_folds')} gene folds)"
    else:
        text = f"protocol {name} (hidden fraction {p.get('holdout_fraction')}, {p.get('repeats')} repeats)"
    text += f", seeds {', '.join(map(str, p.get('seeds') or []))}, preprocessing {p.get('preprocessing')}"
    return text + (", quick" if p.get("quick") else "")


def _provenance_block(rid: str, run: dict[str, Any]) -> list[str]:
    pk = run.get("packages", {})
    key = ", ".join(f"{p} {pk[p]}" for p in ("python", "numpy", "pandas", "anndata", "scikit-learn", "torch")
                    if p in pk)
    mach = run.get("machine", {})
    commit = str(run.get("git_commit", "unknown"))
    lines = [
        f"Run `{rid}`: {_when(run.get('started'))} to {_when(run.get('finished'))} UTC, "
        f"commit {_commit_text(commit)}, st-impute-bench {run.get('suite_version', '?')}, {key}; "
        f"{mach.get('platform', '?')}, {mach.get('cpus', '?')} CPUs; {_protocol_text(run.get('protocol') or {})}. "
        "Reproduce with:",
        "",
        "```bash",
    ]
    if commit not in ("", "unknown"):
        lines.append(f"git checkout {commit.removesuffix('+dirty')}")
    lines += [run.get("command", ""), "```"]
    if run.get("not_reproducible_from_cli"):
        lines += ["", f"(datasets {run['not_reproducible_from_cli']} were passed to `run_benchmark` as objects; "
                  "the command above does not name them.)"]
    lines += ["", "<details><summary>all package versions</summary>", "",
              ", ".join(f"{p} {v}" for p, v in pk.items()), "", "</details>"]
    return lines


HEADER = """\
# Leaderboard

<!-- Generated by `python -m benchmark leaderboard` from leaderboard/reference/; do not edit by hand.
     tests/test_leaderboard.py fails when this file is out of date. -->

Gene imputation for imaging-based spatial transcriptomics. Each measured gene is hidden in turn
(5-fold gene cross-validation), predicted from the other genes and a paired scRNA-seq reference,
and scored on the assembled matrix of predictions ([protocol](docs/protocol.md), [metrics](docs/metrics.md)).

**Ranking: gene-level PCC** (higher is better): for each gene, the Pearson correlation across
cells of measured and predicted expression, averaged over genes; `±` is the standard deviation
of its per-fold means. It measures whether a method recovers *which cells* express a gene. A
prediction that is the same in every cell (the `mean` control) scores 0 here, while CSS, on
non-negative data, rates it highly, so read CSS beside the controls. Other columns: gene- and
cell-level CSS, cell-level PCC, MSE (the whole matrix), ARI of Leiden clusters of the imputed
cells against known cell types, job time summed over the folds of one seed, and the peak memory
of one job. Controls (`mean`, `knn`, `cellsize`) calibrate the metrics. A row `<method>+tuned` is
the method run with `--tune`: per fold, the best of the same number of configurations for every
method, chosen by inner cross-validation over the training genes only ([tuning
parity](docs/protocol.md#tuning-parity---tune)); the row without the suffix is the authors'
defaults. Ablations and variants are listed under their parent, not ranked. A method that failed
shows its error instead of a rank; a status `ok (flagged: ...)` marks output that looks like a
failure (a solver that did not converge, a constant prediction; docs/protocol.md). Cells reach
every method in a seeded order, not in file order; rows from runs before 2026-12-04 predate that.
Timings depend on the machine named under each table.

Update this page from a results folder: `python -m benchmark leaderboard RUN_DIR --update-reference`
(see [CONTRIBUTING.md](CONTRIBUTING.md#how-the-leaderboard-picks-it-up)). Machine-readable:
[leaderboard/leaderboard.json](leaderboard/leaderboard.json).
"""


def methods_without_rows(lb: Leaderboard) -> list[dict[str, Any]]:
    """The suite's own registered methods (not variants, oracles or plug-ins) that have no row
    in one or more of ``lb``'s datasets, each with the datasets it lacks and why.

    Only facts from the code go in (a method's ``known_unavailable`` or ``cost_note``), never
    whether a package is installed on the machine that renders, so the rendering stays the
    same on every machine.
    """
    from .. import methods as registry

    out = []
    for name, cls in sorted(registry.all_methods(include_oracles=False).items()):
        info = cls.info
        if info.variant_of or not cls.__module__.startswith(registry.__name__ + "."):  # plug-ins live elsewhere
            continue
        missing = [d for d, t in lb.tables.items() if name not in set(t["method"])]
        if not missing:
            continue
        if info.known_unavailable:
            why = f"known-unavailable: {info.known_unavailable}"
        elif info.cost_note:
            why = info.cost_note
        else:
            why = "no reference result yet"
        out.append({"method": name, "datasets": missing, "why": why})
    return out


def _without_rows_lines(missing: list[dict[str, Any]]) -> list[str]:
    if not missing:
        return []
    lines = ["## Registered methods without a row", "",
             "Methods of this suite that the reference runs above do not score, and why "
             "(a failed run would show in the tables with its error instead).", "",
             "| method | missing on | why |", "|---|---|---|"]
    for m in missing:
        lines.append(f"| `{m['method']}` | {', '.join(m['datasets'])} | {_cell(m['why'])} |")
    return lines + [""]


#: The tables under each dataset's ranking, one per metric family (``benchmark.metrics.FAMILIES``):
#: (title, what it measures, family). A table's columns are the family's leaderboard columns of the
#: registry (``Metric.leaderboard``, in that order), so a metric declared with ``leaderboard=N``
#: appears here without an edit.
DETAIL_TABLES = [
    ("Spatial pattern", "Moran's I on the cells' coordinates, within fields, in 3-D where the tissue is", "spatial"),
    ("Uncertainty", "methods that return prediction intervals or a per-gene confidence; coverage is best at the "
     "nominal level, and a confidence is informative where it beats the scale-only control", "uncertainty"),
    ("Cell typing", "a kNN classifier trained on the reference's labels, applied to measured and to imputed "
     "profiles; datasets with labels on both sides", "celltype"),
]


def _header(column: str) -> str:
    """A metric column's header: its registry label and direction (↑, ↓, or the target value)."""
    from ..metrics import metric_of_column

    m = metric_of_column(column)
    if m is None:
        return column
    arrow = {True: " ↑", False: " ↓"}.get(m.higher_is_better, "" if pd.isna(m.best) else f" (→ {m.best:g})")
    return _cell(m.display + arrow)


def detail_columns(family: str) -> list[str]:
    """The leaderboard columns of one metric family, in the leaderboard's order."""
    from ..metrics import in_family, metric_of_column

    metrics = {c: metric_of_column(c) for c in METRIC_COLUMNS}
    return [c for c, m in metrics.items() if m is not None and in_family(m, family)]


def _detail_lines(main: pd.DataFrame) -> list[str]:
    """A dataset's family tables: the ranked rows that have any of the family's values (rows from
    runs before a metric existed, methods without intervals, datasets without coordinates or
    labels have none), gene PCC first, in the main table's order. A family no row has is left out."""
    lines: list[str] = []
    for title, what, family in DETAIL_TABLES:
        cols = [c for c in detail_columns(family) if c in main.columns]
        rows = main[main[cols].notna().any(axis=1)] if cols else main.iloc[0:0]
        if rows.empty:
            continue
        shown = [(PRIMARY_KEY, "gene PCC ↑")] + [(c, _header(c)) for c in cols]
        lines += ["", f"{title} ({what}; docs/metrics.md): {len(rows)} of {len(main)} rows have it.", "",
                  "| method | " + " | ".join(h for _, h in shown) + " |", "|---|" + "---|" * len(shown)]
        for _, r in rows.iterrows():
            name = (f"`{r['method']}`" + (" (control)" if r["kind"] == "control" else "")
                    + (" · quick" if r["quick"] else ""))
            lines.append(f"| {name} | " + " | ".join(_fmt(r.get(c, math.nan), "3f") for c, _ in shown) + " |")
    return lines


def render_markdown(lb: Leaderboard, *, registry: bool = False) -> str:
    """The Markdown leaderboard of ``lb`` (deterministic). With ``registry``, a last section
    lists the suite's methods that have no row (:func:`methods_without_rows`): used for the
    repository's reference board, not for a run's own board, whose method list is the user's
    choice."""
    lines = [HEADER, *overall.markdown_lines(lb)]
    if not lb.tables:
        lines.append("(no results yet)\n")
    for name, table in lb.tables.items():
        main, variants = _ranked(table)
        run_ids = sorted(set(table["run"]))
        show_run = len(run_ids) > 1
        lines += [f"## {name}", "", _dataset_line(name, lb.datasets.get(name, {})), ""]
        lines += _table(main, ("#",), show_run)
        if len(variants):
            parents = main.set_index("method")[PRIMARY_KEY]
            variants = variants.assign(_delta=[v - parents.get(p, math.nan) if not pd.isna(v) else math.nan
                                               for v, p in zip(variants[PRIMARY_KEY], variants["variant_of"])])
            lines += ["", "Ablations and variants (Δ primary: gene PCC minus that of the method they derive from):",
                      ""]
            lines += _table(variants, ("Δ primary",), show_run)
        lines += _detail_lines(main)
        lines.append("")
        for rid in run_ids:
            lines += _provenance_block(rid, lb.runs.get(rid, {}))
            lines.append("")
    if registry:
        lines += _without_rows_lines(methods_without_rows(lb))
    return "\n".join(lines).rstrip() + "\n"


def _num(v: Any) -> float | None:
    return None if v is None or pd.isna(v) else float(v)


def render_json(lb: Leaderboard, *, registry: bool = False) -> str:
    """``leaderboard.json``: every row with its metrics, rank and full provenance (deterministic);
    with ``registry``, also ``methods_without_rows`` (see :func:`render_markdown`)."""
    doc: dict[str, Any] = {
        "primary_metric": {"scope": PRIMARY[0], "metric": PRIMARY[1], "key": PRIMARY_KEY, "higher_is_better": True,
                           "spread": "gene_pcc_sd: standard deviation of the per-fold means"},
        "datasets": {},
        "runs": lb.runs,
    }
    if lb.genes:
        doc["overall"] = overall.to_json(lb)
    for name, table in lb.tables.items():
        main, variants = _ranked(table)
        rows = []
        for _, r in pd.concat([main, variants]).iterrows():
            run = lb.runs.get(r["run"], {})
            rows.append({
                "method": r["method"], "kind": r["kind"], "variant_of": r["variant_of"] or None,
                "rank": None if r["kind"] == "variant" or pd.isna(r.get("rank")) else int(r["rank"]),
                # a flagged ok row's status reads as on the page ("ok (flagged: ...)"); the key "flags" is
                # only written for flagged rows, so boards without flags render as before
                "status": _status(r) if r["flags"] and r["status"] == "ok" else r["status"],
                "error": r["error"] or None,
                **({"flags": r["flags"]} if r["flags"] else {}),
                "n_jobs": int(r["n_jobs"]), "failed_jobs": int(r["failed_jobs"]),
                "metrics": {c: _num(r[c]) for c in METRIC_COLUMNS},
                "provenance": {
                    "run": r["run"], "command": run.get("command"), "git_commit": run.get("git_commit"),
                    "suite_version": run.get("suite_version"), "started": run.get("started"),
                    "finished": run.get("finished"), "package": r["package"] or None,
                    "method_version": r["method_version"] or None, "params": json.loads(r["params"] or "{}"),
                    "quick": bool(r["quick"]), "protocol": r["protocol"], "n_seeds": int(r["n_seeds"]),
                    "packages": run.get("packages", {}), "machine": run.get("machine", {}),
                },
            })
        doc["datasets"][name] = {"info": lb.datasets.get(name, {}), "rows": rows}
    if registry:
        doc["methods_without_rows"] = methods_without_rows(lb)
    return json.dumps(doc, indent=2, sort_keys=True, allow_nan=False) + "\n"


def _renderings(lb: Leaderboard, markdown: Path, json_path: Path, registry: bool) -> list[tuple[Path, str]]:
    return [(Path(markdown), render_markdown(lb, registry=registry)),
            (Path(json_path), render_json(lb, registry=registry))]


def write(lb: Leaderboard, markdown: Path, json_path: Path, *, registry: bool = False) -> list[Path]:
    """Write both renderings of ``lb``.

    Parameters
    ----------
    lb
        The leaderboard.
    markdown, json_path
        Where ``LEADERBOARD.md`` and ``leaderboard.json`` go (folders are created).
    registry
        Add the registered methods without a row (see :func:`render_markdown`).

    Returns
    -------
    list of Path
        ``[markdown, json_path]``.
    """
    for path, text in _renderings(lb, markdown, json_path, registry):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return [Path(markdown), Path(json_path)]


def stale_files(lb: Leaderboard, markdown: Path, json_path: Path, *, registry: bool = False) -> list[Path]:
    """Which of the two files differ from a fresh rendering of ``lb`` (``--check``; nothing is written).

    Parameters are those of :func:`write`.

    Returns
    -------
    list of Path
        The files that are missing or whose text differs, in the order ``markdown``, ``json_path``.
    """
    out = []
    for path, text in _renderings(lb, markdown, json_path, registry):
        if not path.is_file() or path.read_text() != text:
            out.append(path)
    return out
