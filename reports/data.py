"""Reading one or more results folders into one report's data: scores, jobs, provenance, predictions.

A report compares *entries*: a method with one set of parameters. The same method run with
different parameters (``--method-param``, or several results folders of a sweep) gives several
entries, labelled by the parameters that differ. Every figure uses the same entry order and
colours, fixed here once.
"""

from __future__ import annotations

import colorsys
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmark.errors import InputError
from benchmark.results import read_jobs, read_run

from benchmark.metrics import labels as _metric_labels
from benchmark.metrics import metric_of_column, rank_metrics, report_metrics

# All three come from the metric registry (benchmark/metrics): a metric's ``report``, ``rank`` and
# ``label`` fields decide where it appears, so a registered metric needs no edit here.
#: The report's metrics, in the order the tables and figures show them ("scope_metric").
METRICS = report_metrics()
#: Metrics the rank heatmap and the mean rank use. Left out: gene_mse (its mean is the cell_mse mean,
#: the MSE of the whole matrix, so it would count twice), completeness (1 for a prediction that puts
#: every cell in one cluster, e.g. the mean control) and metrics only some methods have.
RANK_METRICS = rank_metrics()
#: Label of every metric column.
LABELS = _metric_labels()


def higher_is_better(metric: str) -> bool | None:
    """Direction of a ``scope_metric`` column, from the metric registry (``None`` for a metric
    without a better direction, such as ``cluster_n_clusters``, or with a target, such as a coverage)."""
    m = metric_of_column(metric)
    if m is None:
        return False if metric.endswith("mse") else None
    return None if m.higher_is_better is None else bool(m.higher_is_better)


@dataclass
class Entry:
    """One method with one set of parameters, as it appears in every table and figure."""

    key: str  # method + canonical params JSON, unique
    method: str
    params: dict[str, Any]
    label: str
    color: str
    control: bool = False
    variant_of: str | None = None


@dataclass
class ReportData:
    """Everything a report is made from.

    Attributes
    ----------
    results
        The tidy rows of every results folder, with an ``entry`` column (an :attr:`Entry.label`).
    jobs
        Every job (``jobs.csv``), with ``entry``.
    runs
        ``run.json`` of each folder, by folder path.
    entries
        Entries in report order (their labels order every figure).
    predictions
        Per dataset: the measured matrix, coordinates, labels and one predicted matrix per entry
        (from ``predictions/<dataset>.h5ad``), see :func:`load_predictions`.
    notes
        Things the reader must know (data left out and why), shown on the page.
    """

    run_dirs: list[Path]
    results: pd.DataFrame
    jobs: pd.DataFrame
    runs: dict[str, dict[str, Any]]
    entries: list[Entry]
    predictions: dict[str, "Predictions"] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    scale: pd.DataFrame = field(default_factory=pd.DataFrame)  # rows of `benchmark scale` folders (scale.csv)

    @property
    def order(self) -> list[str]:
        return [e.label for e in self.entries]

    @property
    def palette(self) -> dict[str, str]:
        return {e.label: e.color for e in self.entries}

    @property
    def datasets(self) -> list[str]:
        return list(dict.fromkeys(self.results["dataset"]).keys())

    def entry(self, label: str) -> Entry:
        return next(e for e in self.entries if e.label == label)

    def n_cells(self, dataset: str) -> int | None:
        for run in self.runs.values():
            d = run.get("datasets", {}).get(dataset)
            if d and d.get("n_spatial_cells") is not None:
                return int(d["n_spatial_cells"])
        return None


@dataclass
class Predictions:
    """Assembled predictions of one dataset (from the harness's ``predictions/`` folder)."""

    dataset: str
    truth: pd.DataFrame  # cells x genes, the scoring scale
    coords: np.ndarray | None
    labels: pd.Series | None
    layers: dict[str, np.ndarray]  # entry label -> cells x genes (float32), seed-averaged
    confidence: dict[str, pd.Series]  # entry label -> per-gene confidence (seed-averaged)


def _canonical(params: Any) -> str:
    if isinstance(params, str):
        params = json.loads(params) if params else {}
    return json.dumps(params or {}, sort_keys=True)


def _method_info(method: str):
    """The registered ``MethodInfo`` or ``None`` for a method this checkout does not know."""
    from benchmark.methods import all_methods

    cls = all_methods().get(method)
    return None if cls is None else cls.info


def _defaults(method: str) -> dict[str, Any]:
    from benchmark.methods import all_methods
    from benchmark.methods.base import method_params_schema

    cls = all_methods().get(method)
    return {} if cls is None else method_params_schema(cls)


def _read_run(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Scores, jobs and ``run.json`` of one results folder, with ``params`` canonical and ``fold``/``item`` text.

    The folder itself is read by :func:`benchmark.results.read_run` (its errors name the folder
    and the missing file); ``run.json`` is optional here, as a report can do without it.
    """
    run_dir = Path(run_dir)
    results, run = read_run(run_dir, require_run_json=False)
    jobs = read_jobs(run_dir)
    if not jobs.empty:
        # jobs.csv has no params column: the run's parameters per method are in run.json
        params = {m: _canonical(d.get("params", {})) for m, d in run.get("methods", {}).items()}
        jobs["params"] = jobs["method"].map(lambda m: params.get(m, "{}"))
    results = results.copy()
    results["params"] = results["params"].map(_canonical)
    results["fold"] = results["fold"].astype(str)
    results["item"] = results["item"].fillna("").astype(str)
    return results, jobs, run


def _family_colors(entries: list[Entry]) -> None:
    """Each method family one hue (controls muted neutrals, the others a qualitative palette);
    its parameter settings and variants shades of that hue, spread in lightness so that no two
    entries look alike. The parent (default parameters) keeps the pure hue."""
    import matplotlib as mpl

    base = [mpl.colors.to_hex(c) for c in mpl.colormaps["tab10"].colors if mpl.colors.to_hex(c) != "#7f7f7f"]
    base += [mpl.colors.to_hex(c) for c in mpl.colormaps["Dark2"].colors]
    neutral = ["#595959", "#8c6d46", "#5f6f8f", "#7a5c7a"]  # grey, brown, slate, mauve
    families: dict[str, list[Entry]] = {}
    for e in entries:
        families.setdefault(e.variant_of or e.method, []).append(e)
    n_control = n_other = 0
    for members in families.values():
        if all(m.control for m in members):
            colour = neutral[n_control % len(neutral)]
            n_control += 1
        else:
            colour = base[n_other % len(base)]
            n_other += 1
        h, light, sat = colorsys.rgb_to_hls(*mpl.colors.to_rgb(colour))
        members[0].color = colour
        n = len(members)
        if n == 1:
            continue
        # n evenly spaced lightness levels; the parent takes the level nearest its own, the others the rest
        levels = list(np.linspace(0.2, 0.75, n))
        levels.pop(int(np.argmin([abs(v - light) for v in levels])))
        for m, lv in zip(members[1:], levels):
            m.color = mpl.colors.to_hex(colorsys.hls_to_rgb(h, lv, sat * 0.9))


def linestyle(data_or_entries, label: str) -> str:
    """Line style of an entry in line plots: solid for a family's parent, then dashed, dotted, ...
    so that shades of one hue stay apart."""
    entries = getattr(data_or_entries, "entries", data_or_entries)
    e = next(x for x in entries if x.label == label)
    fam = [x for x in entries if (x.variant_of or x.method) == (e.variant_of or e.method)]
    return ["-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 2)), (0, (8, 2))][fam.index(e) % 7]


def _order_entries(entries: list[Entry]) -> list[Entry]:
    """Controls first, then methods by name, each followed by its parameter settings and variants."""
    parents = sorted({e.variant_of or e.method for e in entries},
                     key=lambda m: (not all(x.control for x in entries if (x.variant_of or x.method) == m), m))
    out = []
    for p in parents:
        fam = [e for e in entries if (e.variant_of or e.method) == p]
        fam.sort(key=lambda e: (e.variant_of is not None, e.method, e.params != {}, e.label))
        out.extend(fam)
    return out


def _make_entries(keys: list[tuple[str, str]]) -> list[Entry]:
    by_method: dict[str, list[str]] = {}
    for method, params in keys:
        by_method.setdefault(method, []).append(params)
    entries = []
    for method, plist in by_method.items():
        info = _method_info(method)
        defaults = _defaults(method)
        full = [{**defaults, **json.loads(p)} for p in plist]
        varying = sorted({k for f in full for k in f if any(g.get(k) != f.get(k) for g in full)})
        for params, f in zip(plist, full):
            label = method if len(plist) == 1 else method + " " + ",".join(f"{k}={f.get(k)}" for k in varying)
            entries.append(Entry(
                key=f"{method}|{params}", method=method, params=json.loads(params), label=label, color="",
                control=bool(info and (info.control or info.oracle)),
                variant_of=info.variant_of if info else None,
            ))
    entries = _order_entries(entries)
    _family_colors(entries)
    return entries


def load(run_dirs: list[Path]) -> ReportData:
    """Read the results folders ``run_dirs`` (several, e.g. a parameter sweep or one run per dataset).

    Rows of a (dataset, method, parameters, seed) already read from an earlier folder are
    dropped, with a note: the first folder given wins.
    """
    if not run_dirs:
        raise InputError("give at least one results folder")
    # folders of `benchmark scale` (scale.csv, no results.parquet) add the runtime-against-cells figure
    scale_dirs = [Path(d) for d in run_dirs if (Path(d) / "scale.csv").is_file()
                  and not (Path(d) / "results.parquet").is_file()]
    run_dirs = [Path(d) for d in run_dirs if Path(d) not in scale_dirs]
    if not run_dirs:
        raise InputError("give at least one results folder of `benchmark run` (folders of `benchmark scale` "
                         "are added to such a report, not reported alone)")
    scale = [pd.read_csv(d / "scale.csv").assign(run=str(d)) for d in scale_dirs]
    frames, job_frames, runs, notes = [], [], {}, []
    seen: dict[tuple, str] = {}
    for d in run_dirs:
        results, jobs, run = _read_run(Path(d))
        results["run"] = str(d)
        if not jobs.empty:
            jobs["run"] = str(d)
        combos = results[["dataset", "method", "params", "seed"]].drop_duplicates().itertuples(index=False)
        dup = [tuple(c) for c in combos if tuple(c) in seen]
        for c in dup:
            notes.append(f"{c[0]}/{c[1]} {c[2]} seed {c[3]} from {d} is left out: {seen[c]} has it too.")
        keep = ~results.set_index(["dataset", "method", "params", "seed"]).index.isin(dup)
        results = results[keep]
        if not jobs.empty and dup:
            jk = jobs.set_index(["dataset", "method", "params", "seed"]).index
            jobs = jobs[~jk.isin(dup)]
        for c in results[["dataset", "method", "params", "seed"]].drop_duplicates().itertuples(index=False):
            seen[tuple(c)] = str(d)
        frames.append(results)
        job_frames.append(jobs)
        runs[str(d)] = run
    results = pd.concat(frames, ignore_index=True)
    jobs = pd.concat([j for j in job_frames if not j.empty], ignore_index=True) if any(
        not j.empty for j in job_frames) else pd.DataFrame()
    keys = list(dict.fromkeys(zip(results["method"], results["params"])))
    if not jobs.empty:  # a method whose every job failed has no score rows but belongs in the report
        keys += [k for k in dict.fromkeys(zip(jobs["method"], jobs["params"])) if k not in keys]
    if not keys:
        raise InputError(f"the results folder(s) {[str(d) for d in run_dirs]} hold no results")
    entries = _make_entries(keys)
    label = {(e.method, _canonical(e.params)): e.label for e in entries}
    results["entry"] = [label[k] for k in zip(results["method"], results["params"])]
    if not jobs.empty:
        jobs["entry"] = [label[k] for k in zip(jobs["method"], jobs["params"])]
    data = ReportData([Path(d) for d in run_dirs], results, jobs, runs, entries, notes=notes)
    if scale:
        data.scale = pd.concat(scale, ignore_index=True)
        for d in scale_dirs:
            meta = d / "scale.json"
            data.runs[str(d)] = json.loads(meta.read_text()) if meta.is_file() else {}
    data.predictions = load_predictions(data)
    return data


def load_predictions(data: ReportData) -> dict[str, Predictions]:
    """Read ``predictions/<dataset>.h5ad`` of each results folder (written by the harness for
    K-fold runs); layers of several seeds of an entry are averaged."""
    import anndata as ad

    out: dict[str, Predictions] = {}
    stacks: dict[str, dict[str, list[np.ndarray]]] = {}
    confs: dict[str, dict[str, list[pd.Series]]] = {}
    label = {(e.method, _canonical(e.params)): e.label for e in data.entries}
    for d in data.run_dirs:
        folder = d / "predictions"
        index_path = folder / "index.json"
        if not index_path.is_file():
            continue
        index = json.loads(index_path.read_text())
        for dataset, entry in index.items():
            if entry.get("note"):
                data.notes.append(f"{d}: predictions of {dataset} {entry['note']}.")
            for key, why in entry.get("skipped", {}).items():
                data.notes.append(f"{d}: no assembled prediction of {dataset}/{key}: {why}.")
            if not entry.get("file"):
                continue
            adata = ad.read_h5ad(folder / entry["file"])
            truth = pd.DataFrame(np.asarray(adata.X), index=adata.obs_names, columns=adata.var_names)
            if dataset in out:
                prev = out[dataset].truth
                if prev.shape != truth.shape or not prev.index.equals(truth.index) or not prev.columns.equals(
                        truth.columns):
                    data.notes.append(f"{d}: predictions of {dataset} are left out: its cells or genes differ "
                                      "from those of an earlier folder.")
                    continue
            else:
                coords = np.asarray(adata.obsm["spatial"]) if "spatial" in adata.obsm else None
                labels = adata.obs["label"] if "label" in adata.obs else None
                out[dataset] = Predictions(dataset, truth, coords, labels, {}, {})
            for layer in entry.get("layers", []):
                lab = label.get((layer["method"], _canonical(layer.get("params", {}))))
                if lab is None or layer["layer"] not in adata.layers:
                    continue
                seen = data.results[(data.results["dataset"] == dataset) & (data.results["entry"] == lab)
                                    & (data.results["seed"] == layer["seed"])]["run"]
                if not seen.empty and seen.iloc[0] != str(d):
                    continue  # the scores of this entry and seed came from an earlier folder
                stacks.setdefault(dataset, {}).setdefault(lab, []).append(np.asarray(adata.layers[layer["layer"]]))
                ccol = f"confidence__{layer['layer']}"
                if ccol in adata.var:
                    confs.setdefault(dataset, {}).setdefault(lab, []).append(adata.var[ccol])
    for dataset, by_entry in stacks.items():
        for lab, arrays in by_entry.items():
            out[dataset].layers[lab] = np.mean(arrays, axis=0).astype(np.float32)
        for lab, series in confs.get(dataset, {}).items():
            out[dataset].confidence[lab] = pd.concat(series, axis=1).mean(axis=1)
    # keep the report's entry order
    for p in out.values():
        p.layers = {lab: p.layers[lab] for lab in data.order if lab in p.layers}
    return out


__all__ = ["Entry", "ReportData", "Predictions", "load", "METRICS", "RANK_METRICS", "LABELS", "higher_is_better"]
