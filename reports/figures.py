"""The report's figures (matplotlib/seaborn): PNG for the page, SVG or PDF for papers.

Every figure draws methods in the report's entry order with the entry's colour
(:attr:`ReportData.order`, :attr:`ReportData.palette`). Each function returns the figures it
wrote (none when the data it needs is absent, with a note saying why).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .data import LABELS, RANK_METRICS, ReportData, higher_is_better, linestyle
from .scale import scale_figure
from .tables import _safe


@dataclass
class Figure:
    """One written figure: ``files`` are relative to the report folder, PNG first."""

    name: str
    title: str
    caption: str
    files: list[str] = field(default_factory=list)
    section: str = ""

    @property
    def png(self) -> str:
        return self.files[0]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({
        "svg.fonttype": "none",  # text stays text in the SVG (editable, searchable)
        "pdf.fonttype": 42,
        "font.size": 9,
        "axes.titlesize": 10,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "savefig.bbox": "tight",
    })
    return plt


def _save(fig, out: Path, name: str, formats: list[str]) -> list[str]:
    plt = _plt()
    folder = Path(out) / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for fmt in ["png", *[f for f in formats if f != "png"]]:
        path = folder / f"{name}.{fmt}"
        fig.savefig(path, dpi=150 if fmt == "png" else None, metadata={"Date": None} if fmt == "svg" else None)
        files.append(f"figures/{name}.{fmt}")
    plt.close(fig)
    return files


def _horizontal() -> dict:
    """Horizontal boxes: ``orientation=`` from matplotlib 3.10 on (``vert=`` is deprecated there)."""
    import matplotlib

    major, minor = (int(x) for x in matplotlib.__version__.split(".")[:2])
    return {"orientation": "horizontal"} if (major, minor) >= (3, 10) else {"vert": False}


def _plain_log(ax, axis: str = "both") -> None:
    """Log axes labelled 0.3, 20, 1000 rather than 3x10^-1 (narrow ranges get minor labels too)."""
    from matplotlib.ticker import FuncFormatter

    from matplotlib.ticker import NullFormatter

    fmt = FuncFormatter(lambda v, _: f"{v:g}")
    for a in ([ax.xaxis, ax.yaxis] if axis == "both" else [getattr(ax, f"{axis}axis")]):
        if a.get_scale() == "log":
            lo, hi = sorted(a.get_view_interval())
            a.set_major_formatter(fmt)
            a.set_minor_formatter(fmt if lo > 0 and hi / lo < 10 else NullFormatter())


def _direction(metric: str) -> str:
    d = higher_is_better(metric)
    if d is None:
        from benchmark.metrics import metric_of_column

        m = metric_of_column(metric)
        best = None if m is None else m.best
        return f"target {best:g}" if best is not None and np.isfinite(best) else "no better direction"
    return "higher is better" if d else "lower is better"


# -- per-cell and per-gene distributions ---------------------------------------------------


def box_plots(data: ReportData, out: Path, formats: list[str]) -> list[Figure]:
    """Per dataset: box plots of the per-cell and per-gene CSS, MSE and PCC of each method."""
    plt = _plt()
    figs = []
    r = data.results
    items = r[(r["item"] != "") & (r["stat"] == "value") & r["scope"].isin(["cell", "gene"])
              & r["metric"].isin(["css", "mse", "pcc"])]
    for dataset in data.datasets:
        d = items[items["dataset"] == dataset]
        if d.empty:
            data.notes.append(f"No box plots for {dataset}: the results hold no per-cell or per-gene values.")
            continue
        # each item's value averaged over seeds (and held-out repeats) first
        d = d.groupby(["entry", "scope", "metric", "item"], as_index=False)["value"].mean()
        order = [e for e in data.order if e in set(d["entry"])]
        fig, axes = plt.subplots(2, 3, figsize=(12, 1.2 + 0.62 * len(order)), sharey=True)
        for i, scope in enumerate(["cell", "gene"]):
            for j, metric in enumerate(["css", "mse", "pcc"]):
                ax = axes[i, j]
                s = d[(d["scope"] == scope) & (d["metric"] == metric)]
                vals = [s.loc[s["entry"] == e, "value"].dropna().to_numpy() for e in order]
                pos = np.arange(len(order))
                bp = ax.boxplot([v if v.size else [np.nan] for v in vals], positions=pos, **_horizontal(),
                                widths=0.65, showfliers=False, patch_artist=True,
                                medianprops={"color": "black", "linewidth": 1.2})
                for patch, e in zip(bp["boxes"], order):
                    patch.set_facecolor(data.palette[e])
                    patch.set_alpha(0.85)
                means = [v.mean() if v.size else np.nan for v in vals]
                ax.scatter(means, pos, marker="D", s=14, color="white", edgecolor="black", zorder=3, linewidth=0.6)
                ax.set_title(f"{scope}-level {metric.upper()} ({_direction(scope + '_' + metric)})")
                ax.set_yticks(pos, order)
                ax.set_ylim(len(order) - 0.5, -0.5)  # first entry on top
                ax.grid(axis="x", alpha=0.3)
        n_cells = d[d["scope"] == "cell"]["item"].nunique()
        n_genes = d[d["scope"] == "gene"]["item"].nunique()
        fig.suptitle(f"{dataset}: per-cell ({n_cells} cells) and per-gene ({n_genes} genes) scores", y=1.0)
        fig.tight_layout()
        name = f"box_{_safe(dataset)}"
        figs.append(Figure(name, f"Cell- and gene-level scores, {dataset}",
                           "Boxes: quartiles over cells (top) or genes (bottom) of the assembled prediction; "
                           "whiskers 1.5 IQR, outliers not drawn; diamond: mean; line: median.",
                           _save(fig, out, name, formats), "scores"))
    return figs


def cluster_bars(data: ReportData, agg: pd.DataFrame, out: Path, formats: list[str]) -> list[Figure]:
    """ARI, FMI and Completeness of each method, one row of panels per dataset."""
    plt = _plt()
    a = agg[agg["metric"].isin(["cluster_ari", "cluster_fmi", "cluster_completeness"])].dropna(subset=["mean"])
    if a.empty:
        data.notes.append("No cluster metric bars: no dataset has cluster scores (labels missing or --no-cluster).")
        return []
    datasets = [d for d in data.datasets if d in set(a["dataset"])]
    orders = {d: [e for e in data.order if e in set(a.loc[a["dataset"] == d, "entry"])] for d in datasets}
    heights = [len(orders[d]) + 1.5 for d in datasets]
    fig, axes = plt.subplots(len(datasets), 3, figsize=(11, 0.3 + 0.3 * sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for i, dataset in enumerate(datasets):
        order = orders[dataset]
        for j, metric in enumerate(["cluster_ari", "cluster_fmi", "cluster_completeness"]):
            ax = axes[i, j]
            s = a[(a["dataset"] == dataset) & (a["metric"] == metric)].set_index("entry")
            pos = np.arange(len(order))
            vals = [s["mean"].get(e, np.nan) for e in order]
            err = [s["seed_sd"].get(e, np.nan) for e in order]
            ax.barh(pos, vals, xerr=None if np.all(np.isnan(err)) else err,
                    color=[data.palette[e] for e in order], height=0.7)
            for p, v in zip(pos, vals):
                if np.isfinite(v):
                    ax.text(v + 0.01, p, f"{v:.2f}", va="center", fontsize=7)
            ax.set_yticks(pos, order if j == 0 else [""] * len(order))
            ax.set_ylim(len(order) - 0.5, -0.5)  # first entry on top
            ax.set_xlim(0, 1.12)
            ax.set_title(f"{dataset}: {LABELS[metric]}")
            ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    name = "cluster_metrics"
    return [Figure(name, "Cluster agreement with known cell types",
                   "Leiden clusters of each method's assembled imputed cells against the labels; error bars: SD "
                   "over seeds where there are several. Completeness is 1 when all cells fall in one cluster "
                   "(the mean control): read it with ARI and FMI.",
                   _save(fig, out, name, formats), "clusters")]


#: The metric families drawn by :func:`family_bars`: (figure name, report section, title, family of
#: :data:`benchmark.metrics.FAMILIES`, caption). Each goes in the section of the report nearest to it:
#: beside the spatial maps, the reliability curves (calibration of the same confidence) and the cluster
#: metrics (cell typing complements the ARI).
FAMILIES = [
    ("spatial_metrics", "spatial", "Spatial pattern: Moran's I preservation and spatially variable genes",
     "spatial",
     "Moran's I (squidpy) of each gene on a fixed 6-nearest-neighbour graph of the coordinates, within each field: "
     "per-gene |difference| between prediction and measurement (lower is better), Spearman over genes, mean bias "
     "(above 0: smoother than measured), and recovery of the measured top-20% spatially variable genes."),
    ("uncertainty_metrics", "reliability", "Uncertainty calibration", "uncertainty",
     "Empirical coverage of the methods' nominal 67% and 90% prediction intervals (dashed line: the nominal level), "
     "mean interval width, and Spearman over genes between per-gene confidence and gene PCC beside the scale-only "
     "control. Only methods that return intervals or confidence have bars."),
    ("celltype_metrics", "clusters", "Downstream cell typing", "celltype",
     "A kNN classifier trained on the reference's labels, applied to measured and to imputed profiles: the fraction "
     "of cells given the same type, and the ARI between the two label vectors."),
]


def family_bars(data: ReportData, agg: pd.DataFrame, out: Path, formats: list[str]) -> list[Figure]:
    """One figure per metric family of :data:`FAMILIES` (spatial, uncertainty, cell typing): a bar per entry
    and panel per summary metric of the family, one row of panels per dataset. Families without any value
    in these results are left out."""
    from benchmark.metrics import all_metrics, in_family

    plt = _plt()
    figs = []
    for name, section, title, family, caption in FAMILIES:
        cols = [m.column for m in sorted(all_metrics().values(), key=lambda m: m.order)
                if m.summary and in_family(m, family)]
        a = agg[agg["metric"].isin(cols)].dropna(subset=["mean"])
        if a.empty:
            continue
        cols = [c for c in cols if c in set(a["metric"])]
        datasets = [d for d in data.datasets if d in set(a["dataset"])]
        orders = {d: [e for e in data.order if e in set(a.loc[a["dataset"] == d, "entry"])] for d in datasets}
        heights = [len(orders[d]) + 1.5 for d in datasets]
        fig, axes = plt.subplots(len(datasets), len(cols), figsize=(2.9 * len(cols) + 1.5, 0.3 + 0.3 * sum(heights)),
                                 squeeze=False, gridspec_kw={"height_ratios": heights})
        for i, dataset in enumerate(datasets):
            order = orders[dataset]
            for j, metric in enumerate(cols):
                ax = axes[i, j]
                s = a[(a["dataset"] == dataset) & (a["metric"] == metric)].set_index("entry")
                pos = np.arange(len(order))
                vals = np.array([s["mean"].get(e, np.nan) for e in order], dtype=float)
                ax.barh(pos, np.nan_to_num(vals), color=[data.palette[e] for e in order], height=0.7)
                for p, v in zip(pos, vals):
                    ax.text(0 if not np.isfinite(v) else v, p, " n/a" if not np.isfinite(v) else f" {v:.2f}",
                            va="center", fontsize=7)
                target = _direction(metric)
                if target.startswith("target ") and metric.startswith("uncertainty_coverage"):
                    ax.axvline(float(target.split()[1]), ls="--", color="0.3", lw=1)
                ax.set_yticks(pos, order if j == 0 else [""] * len(order))
                ax.set_ylim(len(order) - 0.5, -0.5)  # first entry on top
                ax.set_title(f"{dataset}: {LABELS.get(metric, metric)}\n({target})", fontsize=8.5)
                ax.grid(axis="x", alpha=0.3)
        fig.tight_layout()
        figs.append(Figure(name, title, caption, _save(fig, out, name, formats), section))
    return figs


def rank_heatmap(data: ReportData, rk: pd.DataFrame, out: Path, formats: list[str]) -> list[Figure]:
    """Entries x (dataset, metric) ranks, with each dataset's mean rank."""
    plt = _plt()
    import seaborn as sns

    if rk.empty:
        return []
    cols = []
    for d in data.datasets:
        have = set(rk.loc[rk["dataset"] == d, "metric"])
        cols += [(d, m) for m in RANK_METRICS + ["mean_rank"] if m in have]
    order = [e for e in data.order if e in set(rk["entry"])]
    mat = pd.DataFrame(np.nan, index=order, columns=pd.MultiIndex.from_tuples(cols))
    for row in rk.itertuples(index=False):
        if (row.dataset, row.metric) in mat.columns:
            mat.loc[row.entry, (row.dataset, row.metric)] = row.rank
    if len(data.datasets) > 1:
        mat[("all", "mean_rank")] = rk[rk["metric"] == "mean_rank"].groupby("entry")["rank"].mean().reindex(order)
    fig, ax = plt.subplots(figsize=(2.2 + 0.55 * mat.shape[1], 1.6 + 0.38 * len(order)))
    n = len(order)
    sns.heatmap(mat.to_numpy(dtype=float), ax=ax, cmap="viridis_r", vmin=1, vmax=max(n, 2), annot=True,
                fmt=".3g", annot_kws={"fontsize": 7}, linewidths=0.5, linecolor="white",
                cbar_kws={"label": "rank (1 = best)", "shrink": 0.7})
    ax.set_yticks(np.arange(n) + 0.5, order, rotation=0)
    ax.set_xticks(np.arange(mat.shape[1]) + 0.5,
                  [("mean rank" if m == "mean_rank" else LABELS[m]) for _, m in mat.columns], rotation=60, ha="right")
    # dataset names above their columns, and a line between datasets
    groups = list(dict.fromkeys(d for d, _ in mat.columns))
    for g in groups:
        idx = [i for i, (d, _) in enumerate(mat.columns) if d == g]
        ax.text(np.mean(idx) + 0.5, -0.3, "all datasets" if g == "all" else g, ha="center", va="bottom",
                fontsize=9, fontweight="bold")
        if idx[0] > 0:
            ax.axvline(idx[0], color="white", linewidth=3)
    ax.set_xlabel("")
    fig.tight_layout()
    name = "rank_heatmap"
    return [Figure(name, "Ranks across datasets and metrics",
                   "Rank of each method per dataset and metric (1 = best; ties share the best rank) and its mean "
                   "rank. Gene MSE (same mean as cell MSE) and Completeness are not ranked.",
                   _save(fig, out, name, formats), "ranks")]


def ablation_plots(data: ReportData, agg: pd.DataFrame, out: Path, formats: list[str]) -> list[Figure]:
    """Per dataset and method with variants (``MethodInfo.variant_of``): each variant's change
    from its parent, per metric."""
    plt = _plt()
    figs = []
    metrics = ["cell_css", "cell_mse", "gene_css", "gene_pcc", "gene_css_top50_reliable", "cluster_ari",
               "cluster_fmi"]
    parents = list(dict.fromkeys(e.variant_of for e in data.entries if e.variant_of))
    for parent in parents:
        for dataset in data.datasets:
            a = agg[agg["dataset"] == dataset].set_index(["entry", "metric"])["mean"]
            present = set(a.index.get_level_values(0))
            pe = [e.label for e in data.entries if e.method == parent and e.variant_of is None and e.label in present]
            variants = [e.label for e in data.entries if e.variant_of == parent and e.label in present]
            if not pe or not variants:
                if variants:
                    data.notes.append(f"No ablation plot of {parent} on {dataset}: {parent} itself is not in "
                                      "the results.")
                continue
            ref = pe[0]
            ms = [m for m in metrics if (ref, m) in a.index and np.isfinite(a[(ref, m)])]
            ncol = min(4, len(ms))
            nrow = int(np.ceil(len(ms) / ncol))
            fig, axes = plt.subplots(nrow, ncol, figsize=(3.4 * ncol, 0.6 + nrow * (0.4 * len(variants) + 1.0)),
                                     sharey=True, squeeze=False)
            for k, m in enumerate(ms):
                ax = axes.flat[k]
                diffs = [a.get((v, m), np.nan) - a[(ref, m)] for v in variants]
                pos = np.arange(len(variants))
                ax.barh(pos, diffs, color=[data.palette[v] for v in variants], height=0.7)
                ax.axvline(0, color="black", linewidth=0.8)
                ax.set_yticks(pos, variants)
                ax.set_title(f"{LABELS[m]}\n{ref}: {a[(ref, m)]:.3f}, {_direction(m)}", fontsize=8.5)
                ax.grid(axis="x", alpha=0.3)
                lim = np.nanmax(np.abs(diffs)) if np.any(np.isfinite(diffs)) else 1
                ax.set_xlim(-1.15 * lim - 1e-9, 1.15 * lim + 1e-9)
                ax.tick_params(axis="x", labelsize=7)
            axes[0, 0].invert_yaxis()
            for k in range(len(ms), nrow * ncol):
                axes.flat[k].set_visible(False)
            fig.suptitle(f"{dataset}: {parent} variants, change from the full {ref}", y=1.0)
            fig.tight_layout()
            name = f"ablation_{_safe(parent)}_{_safe(dataset)}"
            figs.append(Figure(name, f"Ablations of {parent}, {dataset}",
                               f"Each bar: the variant's mean minus the full {ref}'s (the value in each panel's "
                               "title). Mind each metric's direction.", _save(fig, out, name, formats), "ablation"))
    return figs


def sensitivity_plots(data: ReportData, agg: pd.DataFrame, out: Path, formats: list[str]) -> list[Figure]:
    """Metric against parameter value, for every method that appears with several parameter sets."""
    plt = _plt()
    from .data import _defaults

    figs = []
    metrics = ["cell_css", "cell_mse", "gene_css", "gene_pcc", "cluster_ari"]
    methods = list(dict.fromkeys(e.method for e in data.entries))
    for method in methods:
        ents = [e for e in data.entries if e.method == method]
        if len(ents) < 2:
            continue
        defaults = _defaults(method)
        full = {e.label: {**defaults, **e.params} for e in ents}
        varying = sorted({k for f in full.values() for k in f if any(g.get(k) != f.get(k) for g in full.values())})
        numeric = len(varying) == 1 and all(isinstance(f.get(varying[0]), (int, float))
                                            and not isinstance(f.get(varying[0]), bool) for f in full.values())
        if numeric:
            xval = {lab: float(f[varying[0]]) for lab, f in full.items()}
            xlabel = varying[0]
        else:
            xval = {e.label: i for i, e in enumerate(ents)}
            xlabel = ", ".join(varying)
        a = agg[agg["entry"].isin(list(full))]
        ms = [m for m in metrics if m in set(a["metric"])]
        datasets = [d for d in data.datasets if d in set(a["dataset"])]
        if not ms:
            continue
        fig, axes = plt.subplots(1, len(ms), figsize=(3.1 * len(ms), 3.0), squeeze=False)
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for j, m in enumerate(ms):
            ax = axes[0, j]
            for k, dataset in enumerate(datasets):
                s = a[(a["dataset"] == dataset) & (a["metric"] == m)].copy()
                s["x"] = s["entry"].map(xval)
                s = s.dropna(subset=["mean"]).sort_values("x")
                sd = s["split_sd"].fillna(s["seed_sd"])
                ax.errorbar(s["x"], s["mean"], yerr=None if sd.isna().all() else sd, marker="o", ms=4, capsize=2,
                            color=colors[k % len(colors)], label=dataset)
            ax.set_title(f"{LABELS[m]} ({_direction(m)})", fontsize=9)
            ax.set_xlabel(xlabel)
            if not numeric:
                ax.set_xticks(list(xval.values()), [lab.removeprefix(method + " ") for lab in xval], rotation=45,
                              ha="right", fontsize=7)
            ax.grid(alpha=0.3)
        axes[0, -1].legend(fontsize=7, frameon=False, loc="best")
        fig.suptitle(f"{method}: sensitivity to {xlabel}", y=1.02)
        fig.tight_layout()
        name = f"sensitivity_{_safe(method)}"
        figs.append(Figure(name, f"Parameter sensitivity of {method}",
                           f"Mean of each metric against {xlabel}, one line per dataset; error bars: SD over folds "
                           "or repeats.", _save(fig, out, name, formats), "sensitivity"))
    return figs


def reliability_curves(data: ReportData, out: Path, formats: list[str]) -> list[Figure]:
    """Mean gene-level CSS of the most confident genes against the fraction of genes kept."""
    plt = _plt()
    figs = []
    r = data.results
    css = r[(r["scope"] == "gene") & (r["metric"] == "css") & (r["stat"] == "value") & (r["item"] != "")
            & (r["fold"] == "all")]
    any_conf = False
    for dataset, pred in data.predictions.items():
        if not pred.confidence:
            continue
        any_conf = True
        fig, ax = plt.subplots(figsize=(6.2, 4.2))
        for lab in [e for e in data.order if e in pred.confidence]:
            c = css[(css["dataset"] == dataset) & (css["entry"] == lab)].groupby("item")["value"].mean().dropna()
            conf = pred.confidence[lab].reindex(c.index)
            ok = conf.notna()
            c, conf = c[ok], conf[ok]
            if c.empty:
                continue
            ranked = c.to_numpy()[np.argsort(-conf.to_numpy(), kind="stable")]
            frac = np.arange(1, len(ranked) + 1) / len(ranked)
            ax.plot(frac, np.cumsum(ranked) / np.arange(1, len(ranked) + 1), color=data.palette[lab], label=lab,
                    linewidth=1.6, linestyle=linestyle(data, lab))
        ax.set_xlabel("fraction of genes kept (most confident first)")
        ax.set_ylabel("mean gene-level CSS of the genes kept")
        ax.set_title(f"{dataset}: reliability of the per-gene confidence")
        ax.axvline(0.5, color="grey", linewidth=0.8, linestyle=":")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
        fig.tight_layout()
        name = f"reliability_{_safe(dataset)}"
        figs.append(Figure(name, f"Reliability curves, {dataset}",
                           "Genes sorted by the method's confidence; a curve falling from left to right means the "
                           "confidence ranks well-predicted genes first. At 0.5 (dotted) it is the "
                           "css_top50_reliable score; at 1, the mean gene-level CSS.",
                           _save(fig, out, name, formats), "reliability"))
    if not any_conf:
        data.notes.append("No reliability curves: no method in these results returned per-gene confidence "
                          "with saved predictions (the harness writes predictions/ for K-fold runs).")
    return figs


def resource_plots(data: ReportData, res: pd.DataFrame, out: Path, formats: list[str]) -> list[Figure]:
    """Time per seed and peak memory of each method; time against cells when datasets differ in size."""
    plt = _plt()
    if res.empty:
        data.notes.append("No runtime figure: no jobs.csv and no run rows in the results.")
        return []
    figs = []
    datasets = [d for d in data.datasets if d in set(res["dataset"])]
    order = [e for e in data.order if e in set(res["entry"])]
    orders = {d: [e for e in order if e in set(res.loc[res["dataset"] == d, "entry"])] for d in datasets}
    heights = [len(orders[d]) + 1.5 for d in datasets]
    fig, axes = plt.subplots(len(datasets), 2, figsize=(10, 0.3 + 0.3 * sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for i, dataset in enumerate(datasets):
        s = res[res["dataset"] == dataset].set_index("entry")
        here = orders[dataset]
        pos = np.arange(len(here))
        for j, (col, label, log) in enumerate([("time_per_seed_s", "time per seed, all splits (s)", True),
                                               ("peak_memory_mb", "peak memory of a job (MB)", False)]):
            ax = axes[i, j]
            vals = [s[col].get(e, np.nan) for e in here]
            ax.barh(pos, vals, color=[data.palette[e] for e in here], height=0.7)
            if log:
                ax.set_xscale("log")
            ax.set_yticks(pos, here if j == 0 else [""] * len(here))
            ax.set_ylim(len(here) - 0.5, -0.5)
            ax.set_title(f"{dataset}: {label}")
            ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    figs.append(Figure("resources", "Runtime and peak memory",
                       "Wall time of a method's jobs for one seed (all folds), and the largest resident memory of "
                       "a job's process (the suite's own baseline included, about 0.4 GB). Measured; they vary "
                       "between runs and machines.", _save(fig, out, "resources", formats), "resources"))
    if not data.scale.empty:
        figs += _scale_plot(data, out, formats)
    sizes = res.dropna(subset=["n_cells"]).groupby("n_cells")["dataset"].first()
    if len(sizes) >= 2:
        fig, ax = plt.subplots(figsize=(6.2, 4.2))
        for e in order:
            s = res[res["entry"] == e].dropna(subset=["n_cells"]).sort_values("n_cells")
            if len(s) >= 1:
                ax.plot(s["n_cells"], s["time_per_seed_s"], marker="o", color=data.palette[e], label=e,
                        linestyle=linestyle(data, e))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("spatial cells in the dataset")
        ax.set_ylabel("time per seed (s)")
        _plain_log(ax)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
        fig.tight_layout()
        figs.append(Figure("scaling", "Runtime against dataset size",
                           "Time per seed against the number of spatial cells, across the datasets of these results "
                           "(they also differ in genes and reference size).",
                           _save(fig, out, "scaling", formats), "resources"))
    return figs


def _scale_plot(data: ReportData, out: Path, formats: list[str]) -> list[Figure]:
    """Time and peak memory against cells from ``benchmark scale`` folders: the scale run's own
    figure (:func:`reports.scale.scale_figure`) in the report's colours."""
    sc = data.scale.copy()
    # a merged folder (`benchmark scale-merge`) labels a method run with other parameters or on a GPU
    sc["label"] = sc["label"].fillna(sc["method"]) if "label" in sc else sc["method"]
    # a method of the report keeps its colour (its default-parameter entry); others get the figure's own
    own = {e.method: e.color for e in data.entries if e.params == {} or e.method not in {x.method for x in
                                                                                         data.entries if x.params == {}}}
    n_genes = ", ".join(str(g) for g in sorted(set(sc["n_genes"])))
    fig = scale_figure(sc, colours=own,
                       title=f"Scaling run: one fold per method and size ({n_genes} panel genes); x = stopped there")
    return [Figure("scaling_run", "Runtime and memory against cells (benchmark scale)",
                   "From the `benchmark scale` folder(s) given: built-in data of each size, one fold per method; "
                   "a cross marks the size where a method failed or ran over its budget (it is not run at larger "
                   "sizes).", _save(fig, out, "scaling_run", formats), "resources")]


# -- figures of the predictions themselves ---------------------------------------------------


def _gene_pcc(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Per-gene PCC: the registry's metric (:func:`benchmark.metrics.pearson_correlation`), on float64."""
    from benchmark.metrics import pearson_correlation

    return pearson_correlation(np.asarray(truth, dtype=np.float64), np.asarray(pred, dtype=np.float64), 0)


def choose_genes(data: ReportData, dataset: str, n: int = 3) -> list[str]:
    """Best, median and worst predicted genes (``n`` spread over that range), by the mean
    gene-level PCC over the non-control methods (over all methods if there are only controls)."""
    pred = data.predictions[dataset]
    labs = [lab for lab in pred.layers if not data.entry(lab).control] or list(pred.layers)
    t = pred.truth.to_numpy()
    score = np.nanmean([_gene_pcc(t, pred.layers[lab]) for lab in labs], axis=0)
    genes = pred.truth.columns[np.argsort(-np.nan_to_num(score, nan=-np.inf), kind="stable")]
    idx = np.unique(np.round(np.linspace(0, len(genes) - 1, min(n, len(genes)))).astype(int))
    return [genes[i] for i in idx]


def _map_views(coords: np.ndarray) -> tuple[tuple[int, int], list[tuple[str, np.ndarray]]]:
    """How a spatial map draws the cells: the two coordinates it plots, and its views as (label, cell mask).

    Planar coordinates: x and y, one view of every cell. 3-D coordinates: a projection can overlay
    cells from opposite sides of a tissue (the BDTNP embryo is a shell of cells: onto x, y its two
    sides overlay). The projection kept drops the axis (the depth) along which the fewest cells have
    a 2-D nearest neighbour far away in depth (more than 3 times the median 3-D nearest-neighbour
    distance); if over 10% of cells still do, the cells on either side of the depth's median are
    drawn as two views."""
    from scipy.spatial import cKDTree

    coords = np.asarray(coords, dtype=float)
    everything = np.ones(len(coords), dtype=bool)
    if coords.ndim != 2 or coords.shape[1] < 3 or len(coords) < 3 or np.ptp(coords[:, 2]) == 0:
        return (0, 1), [("", everything)]
    coords = coords[:, :3]
    near = np.median(cKDTree(coords).query(coords, k=2)[0][:, 1])
    overlay = {}
    for depth in range(3):
        keep = [i for i in range(3) if i != depth]
        nn = cKDTree(coords[:, keep]).query(coords[:, keep], k=2)[1][:, 1]
        overlay[depth] = float(np.mean(np.abs(coords[:, depth] - coords[nn, depth]) > 3 * near))
    depth = min(overlay, key=lambda k: (overlay[k], -k))  # ties: drop z, then y
    axes = tuple(i for i in range(3) if i != depth)
    if overlay[depth] <= 0.1:
        return axes, [("", everything)]
    name = "xyz"[depth]
    mid = float(np.median(coords[:, depth]))
    upper = coords[:, depth] >= mid
    return axes, [(f"{name} \u2265 {mid:.3g} (one side)", upper), (f"{name} < {mid:.3g} (other side)", ~upper)]


def _colour_limits(values: np.ndarray) -> tuple[float, float]:
    """A map panel's colour scale: its 1st to 99th percentile (the maps compare patterns; the scale is
    what MSE measures); a constant prediction (the mean control) gets the mid colour."""
    lo, hi = np.percentile(values, [1, 99])
    if hi - lo <= 1e-6 * max(abs(hi), 1e-12):
        lo, hi = lo - 1.0, hi + 1.0
    return float(lo), float(hi)


def _panel_title(ax, plt, measured_label: str, title: str, pcc: float | None, palette: dict[str, str]) -> None:
    """The measured panel's label in bold; a method's name and PCC, over a bar in its colour that ties
    the panel to the other figures."""
    if pcc is None:
        ax.set_title(measured_label, fontsize=8, fontweight="bold")
        return
    label = f"{title}\nPCC {pcc:.2f}".replace("-0.00", "0.00") if np.isfinite(pcc) else f"{title}\nPCC n/a"
    ax.set_title(label, fontsize=8)
    ax.add_patch(plt.Rectangle((0, 1.0), 1, 0.025, transform=ax.transAxes, color=palette[title], clip_on=False))


def _views_caption(plotted: tuple[int, int], views: list, n_dims: int) -> str:
    """What the spatial maps' caption says of a 3-D tissue's projection (nothing for planar data)."""
    if n_dims < 3:
        return ""
    two = (", as two views, the cells on either side of the median of the third coordinate (one projection "
           "would overlay the tissue's two sides)") if len(views) > 1 else ""
    return f" The tissue is 3-D: drawn on {'xyz'[plotted[0]]} and {'xyz'[plotted[1]]}, the projection that " \
           f"overlays the fewest cells{two}."


def spatial_maps(data: ReportData, out: Path, formats: list[str], genes: list[str] | None = None,
                 n_genes: int = 3) -> list[Figure]:
    """Measured and predicted expression of a few genes on the cells' coordinates, one column per method."""
    plt = _plt()
    from benchmark.errors import InputError

    figs = []
    for dataset, pred in data.predictions.items():
        if pred.coords is None:
            data.notes.append(f"No spatial maps for {dataset}: it has no cell coordinates.")
            continue
        if not pred.layers:
            continue
        if genes:
            chosen = [g for g in genes if g in pred.truth.columns]
            unknown = [g for g in genes if g not in pred.truth.columns]
            if unknown and not chosen and len(data.predictions) == 1:
                raise InputError(f"gene(s) {unknown} are not among the {pred.truth.shape[1]} scored genes of "
                                 f"{dataset}: {list(pred.truth.columns)[:20]}...")
            if unknown:
                data.notes.append(f"Spatial maps of {dataset}: gene(s) {unknown} are not among its scored genes.")
            if not chosen:
                continue
            why = "chosen with --genes"
        else:
            chosen = choose_genes(data, dataset, n_genes)
            why = "the best, median and worst predicted (mean gene-level PCC over the non-control methods)"
        labs = list(pred.layers)
        n_panels = len(labs) + 1
        ncol = min(n_panels, 7)  # wrap long method lists: each gene gets a block of rows
        plotted, views = _map_views(pred.coords)
        rows_per_view = int(np.ceil(n_panels / ncol))
        rows_per_gene = rows_per_view * len(views)
        xy = np.asarray(pred.coords, dtype=float)[:, list(plotted)]
        span = np.ptp(xy, axis=0)
        aspect = span[1] / span[0] if span[0] > 0 else 1.0
        w = 2.0
        h = max(0.8, min(3.0, w * aspect))
        size = float(np.clip(2.5 * 9000 / max(1, min(int(m.sum()) for _, m in views)), 0.3, 14))
        nrow = rows_per_gene * len(chosen)
        fig, axes = plt.subplots(nrow, ncol, figsize=(w * ncol + 0.9, (h + 0.5) * nrow), squeeze=False,
                                 layout="constrained")
        frame = (xy.min(axis=0), xy.max(axis=0))  # every view of a 3-D tissue on one frame
        t = pred.truth
        sc = None
        for i, g in enumerate(chosen):
            gi = t.columns.get_loc(g)
            measured = t[g].to_numpy()
            panels = [("measured", measured, None)] + [
                (lab, pred.layers[lab][:, gi], _gene_pcc(measured[:, None], pred.layers[lab][:, gi:gi + 1])[0])
                for lab in labs]
            # each panel on its own scale, over all cells so that the views of a 3-D tissue share it
            limits = [_colour_limits(values) for _, values, _ in panels]
            for v, (view, mask) in enumerate(views):
                first = (i * len(views) + v) * rows_per_view
                for k, ax in enumerate(axes[first:first + rows_per_view].ravel()):
                    ax.set_xticks([])
                    ax.set_yticks([])
                    for sp in ax.spines.values():
                        sp.set_visible(False)
                    if k >= len(panels):
                        ax.set_visible(False)
                        continue
                    title, values, pcc = panels[k]
                    sc = ax.scatter(xy[mask, 0], xy[mask, 1], c=values[mask], s=size, cmap="viridis",
                                    vmin=limits[k][0], vmax=limits[k][1], linewidths=0, rasterized=True)
                    ax.set_xlim(frame[0][0], frame[1][0])
                    ax.set_ylim(frame[0][1], frame[1][1])
                    ax.set_aspect("equal")
                    _panel_title(ax, plt, f"{g}: measured" + (f"\n{view}" if view else ""), title, pcc, data.palette)
        cb = fig.colorbar(sc, ax=axes.ravel().tolist(), shrink=0.4, pad=0.01, ticks=[sc.norm.vmin, sc.norm.vmax])
        cb.ax.set_yticklabels(["low\n(1st pct)", "high\n(99th pct)"], fontsize=7)
        fig.suptitle(f"{dataset}: measured vs predicted expression of {', '.join(chosen)}")
        name = f"spatial_{_safe(dataset)}"
        figs.append(Figure(name, f"Spatial maps, {dataset}",
                           f"Genes: {', '.join(chosen)} ({why}). Each prediction is the assembled K-fold "
                           "prediction (the gene predicted while hidden). Each panel has its own colour scale, from its "
                           "1st to its 99th percentile, so the maps compare spatial patterns (the scale itself is "
                           "what MSE scores); a constant prediction shows one colour." + _views_caption(plotted, views,
                                                                                          pred.coords.shape[1]),
                           _save(fig, out, name, formats), "spatial"))
    return figs


def _label_palette(categories: list[str]) -> dict[str, str]:
    import matplotlib as mpl

    n = len(categories)
    if n <= 10:
        cols = mpl.colormaps["tab10"].colors
    elif n <= 20:
        cols = mpl.colormaps["tab20"].colors
    else:
        cols = [*mpl.colormaps["tab20"].colors, *mpl.colormaps["tab20b"].colors, *mpl.colormaps["tab20c"].colors]
    return {c: mpl.colors.to_hex(cols[i % len(cols)]) for i, c in enumerate(categories)}


def umap_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("umap") is not None


def umap_plots(data: ReportData, out: Path, formats: list[str], max_cells: int = 5000,
               seed: int = 0) -> list[Figure]:
    """UMAP of the measured and of each method's imputed cells, coloured by the known labels."""
    figs = []
    if not data.predictions:
        data.notes.append("No UMAP: no predictions were saved with these results.")
        return figs
    if not umap_available():
        data.notes.append("No UMAP: umap-learn is not installed (pip install -c constraints.txt umap-learn).")
        return figs
    plt = _plt()
    import umap
    from sklearn.decomposition import PCA

    for dataset, pred in data.predictions.items():
        if pred.labels is None:
            data.notes.append(f"No UMAP for {dataset}: it has no cell labels.")
            continue
        rng = np.random.default_rng(seed)
        n = pred.truth.shape[0]
        keep = np.sort(rng.choice(n, max_cells, replace=False)) if n > max_cells else np.arange(n)
        labels = pred.labels.astype("string").fillna("unlabelled").to_numpy()[keep]
        cats = sorted(set(labels) - {"unlabelled"}) + (["unlabelled"] if "unlabelled" in set(labels) else [])
        pal = _label_palette(cats)
        if "unlabelled" in pal:
            pal["unlabelled"] = "#d0d0d0"
        colors = np.array([pal[x] for x in labels])
        panels = [("measured", pred.truth.to_numpy()[keep])] + [(lab, pred.layers[lab][keep]) for lab in pred.layers]
        ncol = min(4, len(panels))
        nrow = int(np.ceil(len(panels) / ncol))
        fig, axes = plt.subplots(nrow, ncol, figsize=(2.8 * ncol + 2.6, 2.8 * nrow), squeeze=False)
        size = float(np.clip(6000 / len(keep), 1.0, 12))
        for k, (title, x) in enumerate(panels):
            ax = axes.flat[k]
            x = np.asarray(x, dtype=np.float64)
            sd = x.std(0)
            ax.set_title(title, fontsize=9, fontweight="bold" if title == "measured" else "normal", pad=9)
            if title in data.palette:  # the method's colour as a bar under the title, as in the spatial maps
                ax.add_patch(plt.Rectangle((0, 1.0), 1, 0.02, transform=ax.transAxes, color=data.palette[title],
                                           clip_on=False))
            ax.set_xticks([])
            ax.set_yticks([])
            for sp in ax.spines.values():
                sp.set_visible(False)
            if not np.any(sd > 1e-8) or np.unique(x.round(6), axis=0).shape[0] < 3:
                # every cell got the same prediction (the mean control): there is nothing to embed
                ax.text(0.5, 0.5, "every cell gets the\nsame prediction:\nno embedding", ha="center", va="center",
                        transform=ax.transAxes, fontsize=8, color="#555")
                continue
            z = np.clip((x - x.mean(0)) / np.where(sd > 0, sd, 1), -10, 10)
            n_pc = max(1, min(30, z.shape[1] - 1, z.shape[0] - 1))
            pcs = PCA(n_components=n_pc, random_state=seed).fit_transform(z)
            emb = umap.UMAP(n_neighbors=15, min_dist=0.3, n_epochs=200, random_state=seed, n_jobs=1).fit_transform(pcs)
            ax.scatter(emb[:, 0], emb[:, 1], c=colors, s=size, linewidths=0, rasterized=True)
        for k in range(len(panels), nrow * ncol):
            axes.flat[k].set_visible(False)
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], marker="o", linestyle="", color=pal[c], label=c, markersize=5) for c in cats]
        fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, frameon=False,
                   ncol=1 if len(cats) <= 24 else 2, title="cell type")
        fig.suptitle(f"{dataset}: UMAP of measured and imputed cells, coloured by known labels"
                     + (f" ({len(keep)} of {n} cells)" if n > max_cells else ""), y=1.0)
        fig.tight_layout()
        name = f"umap_{_safe(dataset)}"
        figs.append(Figure(name, f"UMAP of imputed cells, {dataset}",
                           "Each panel embeds one matrix separately (genes z-scored, PCA to at most 30 components, UMAP with "
                           "15 neighbours, 200 epochs, seed 0): "
                           "cell types that stay together in a method's panel are kept apart by its imputation.",
                           _save(fig, out, name, formats), "umap"))
    return figs


__all__ = ["Figure", "box_plots", "cluster_bars", "rank_heatmap", "ablation_plots", "sensitivity_plots",
           "reliability_curves", "resource_plots", "spatial_maps", "umap_plots", "choose_genes"]
