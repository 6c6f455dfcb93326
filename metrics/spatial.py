"""The SpatialBenchmarking metrics (Li et al. 2022, Nat. Methods 19:662), per gene, and their accuracy score.

Li et al. ("Benchmarking spatial and single-cell transcriptomics integration methods for
transcript distribution prediction and cell type deconvolution") score every predicted gene by
four numbers, each on its own rescaling of the gene's vector across cells (their
``Benchmarking/GenesMetrics.py``):

* **PCC** on the values as they are (this suite's ``gene/pcc``);
* **SSIM** after dividing each gene by its maximum (``scale_max``), computed as *one* global
  window over all cells (they reshape the vector to ``n x 1``), with ``K1 = 0.01``,
  ``K2 = 0.03``, ``L = 1`` and population (co)variances;
* **RMSE** after z-scoring each gene (``scipy.stats.zscore``, ``ddof = 0``);
* **JS**, the Jensen-Shannon divergence (natural log, so at most ``ln 2``) after dividing each
  gene by its sum (``scale_plus``), so each gene is a distribution over the cells.

Their accuracy score (AS, ``AccuracyMetrics.ipynb``) ranks the methods of one data set by the
mean of each metric over genes: the best of ``N`` methods gets ``N``, the worst ``1``; each
rank is divided by ``N`` and the four are averaged. It is relative to the methods compared, so
the suite computes it at summary time (:func:`accuracy_score`), never per job.

Li et al.'s SSIM ignores where cells are (the global window makes it invariant to any shared
permutation of cells). :func:`ssim_grid` adds the image SSIM the metric was made for: genes
rasterised onto a grid of square pixels from the cells' coordinates, then the windowed SSIM of
Wang et al. (2004). It needs coordinates; without them it is skipped.

Spatial pattern (issue 21): Moran's I of each gene (squidpy's implementation) on a fixed kNN
graph of the coordinates, computed within each field or section, for the measured and the
predicted values. :data:`MORAN_METRICS` compare them per gene (``morans_i_abs_diff``), over
genes (``morans_i_spearman``, ``morans_i_bias``) and as calls of spatially variable genes
(``svg_overlap``, ``svg_auprc``); see docs/metrics.md.

Conventions (on the suite's log-normalised scale, where measured values are non-negative):

* negative predicted values are set to 0 before SSIM and JS, whose rescalings assume
  non-negative expression;
* a gene whose measured vector is all zero (SSIM, JS) or constant (RMSE) is undefined (NaN);
* an all-zero prediction is kept at zero for SSIM, is the uniform distribution for JS (the
  limit of Li et al.'s ``fillna(1e-20)`` guard: no information about where the gene is), and a
  constant prediction gets RMSE ``sqrt(2)``, the value of an uncorrelated one (consistent with
  the suite's PCC = 0 for a constant prediction; Li et al.'s code gives NaN).
"""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd
from scipy.special import rel_entr

from .base import Metric, NotScored

#: SSIM constants (Wang et al. 2004; Li et al. use the same), for data scaled to [0, 1].
K1, K2 = 0.01, 0.03
#: Pixels along the longer side of the cells' bounding box, for :func:`ssim_grid`.
GRID_BINS = 32
#: Side of the square SSIM window, in pixels (scikit-image's default).
SSIM_WINDOW = 7


def _as_float(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _scale_max(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each column divided by its maximum; all-zero columns stay zero. Returns (scaled, max > 0)."""
    mx = x.max(axis=0)
    ok = mx > 0
    out = np.zeros_like(x)
    out[:, ok] = x[:, ok] / mx[ok]
    return out, ok


def ssim_global(truth, pred) -> np.ndarray:
    """Li et al.'s SSIM of each gene (column): one window over all cells, after ``x / max(x)``.

    ``SSIM = (2 mu_t mu_p + C1)(2 s_tp + C2) / ((mu_t^2 + mu_p^2 + C1)(s_t^2 + s_p^2 + C2))``
    with population (co)variances, ``C1 = (0.01 L)^2``, ``C2 = (0.03 L)^2``, ``L = 1``. (Li et
    al. write it as luminance x contrast x structure with ``C3 = C2 / 2``, which is the same.)
    NaN where the measured gene is all zero.
    """
    t, ok = _scale_max(_as_float(truth))
    p, _ = _scale_max(np.clip(_as_float(pred), 0.0, None))
    c1, c2 = K1 ** 2, K2 ** 2
    mt, mp = t.mean(axis=0), p.mean(axis=0)
    vt, vp = t.var(axis=0), p.var(axis=0)
    cov = ((t - mt) * (p - mp)).mean(axis=0)
    s = (2 * mt * mp + c1) * (2 * cov + c2) / ((mt ** 2 + mp ** 2 + c1) * (vt + vp + c2))
    return np.where(ok, s, np.nan)


def _zscore(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Columns z-scored with ``ddof=0``; constant columns become 0. Returns (z, not constant)."""
    mu = x.mean(axis=0)
    sd = x.std(axis=0)
    ok = sd > 1e-12 * np.maximum(1.0, np.abs(x).max(axis=0))
    z = np.zeros_like(x)
    z[:, ok] = (x[:, ok] - mu[ok]) / sd[ok]
    return z, ok


def rmse_zscored(truth, pred) -> np.ndarray:
    """Li et al.'s RMSE of each gene: ``sqrt(mean((z(t) - z(p))^2))`` on z-scored columns.

    Because both sides are z-scored, this equals ``sqrt(2 (1 - PCC))``: per gene it orders
    predictions exactly as PCC does. NaN where the measured gene is constant; ``sqrt(2)`` (as for
    PCC = 0) where only the prediction is.
    """
    zt, ok = _zscore(_as_float(truth))
    zp, varies = _zscore(_as_float(pred))
    r = np.sqrt(((zt - zp) ** 2).mean(axis=0))
    # z(p) is undefined for a constant p; score it as an uncorrelated prediction (the suite's PCC
    # convention, PCC = 0), i.e. sqrt(2), rather than as z(p) = 0, which would give 1 and put a
    # constant ahead of every prediction with PCC < 0.5
    r = np.where(varies, r, np.sqrt(2.0))
    return np.where(ok, r, np.nan)


def js_divergence(truth, pred) -> np.ndarray:
    """Li et al.'s Jensen-Shannon divergence of each gene, natural log (0 .. ln 2).

    Each column is divided by its sum (``scale_plus``) so that it is a distribution over cells;
    ``JS = KL(t || m) / 2 + KL(p || m) / 2`` with ``m = (t + p) / 2``. NaN where the measured
    gene is all zero; an all-zero prediction counts as the uniform distribution.
    """
    t = _as_float(truth)
    p = np.clip(_as_float(pred), 0.0, None)
    st, sp = t.sum(axis=0), p.sum(axis=0)
    ok = st > 0
    n = t.shape[0]
    td = np.divide(t, st, out=np.zeros_like(t), where=st > 0)
    pd_ = np.where(sp > 0, np.divide(p, sp, out=np.zeros_like(p), where=sp > 0), 1.0 / max(n, 1))
    m = (td + pd_) / 2
    js = 0.5 * rel_entr(td, m).sum(axis=0) + 0.5 * rel_entr(pd_, m).sum(axis=0)
    return np.where(ok, np.clip(js, 0.0, np.log(2.0)), np.nan)


# --- SSIM on a spatial grid ------------------------------------------------------------------------


def raster_index(coords, bins: int = GRID_BINS) -> tuple[np.ndarray, tuple[int, ...]]:
    """Pixel of each cell on a grid of square pixels (cubic voxels for 3-D coordinates), ``bins``
    along the bounding box's longest side.

    Uses the first two coordinate columns, or three where ``coords`` has three or more (a 3-D
    tissue is not projected: cells in front and behind stay apart). Returns the flat pixel index
    of every cell and the grid shape, ``(rows, cols)`` or ``(rows, cols, layers)``.
    """
    c = _as_float(coords)
    if c.ndim != 2 or c.shape[1] < 2 or c.shape[0] == 0:
        raise ValueError(f"coordinates must be an n x 2 or n x 3 array, got shape {c.shape}")
    c = c[:, :3]
    if not np.isfinite(c).all():
        raise ValueError("coordinates contain NaN or infinite values")
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    c = c - c.min(axis=0)
    extent = c.max(axis=0)
    px = extent.max() / bins if extent.max() > 0 else 1.0
    shape = tuple(int(v) for v in np.maximum(1, np.ceil(extent / px - 1e-9)).astype(int))
    ij = np.minimum((c // px).astype(int), np.array(shape) - 1)
    return np.ravel_multi_index(tuple(ij.T), shape), shape


def rasterize(x, pixel: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Mean value of the cells in each pixel, per column of ``x``: images ``(genes, *shape)``.

    Empty pixels are 0. Also returns the occupied-pixel mask (``shape``).
    """
    import scipy.sparse as sp

    x = _as_float(x)
    npix = int(np.prod(shape))
    counts = np.bincount(pixel, minlength=npix).astype(np.float64)
    occupied = counts > 0
    # pixels x cells averaging matrix: one sparse product sums every gene at once
    weights = 1.0 / counts[pixel]
    avg = sp.csr_matrix((weights, (pixel, np.arange(len(pixel)))), shape=(npix, len(pixel)))
    means = np.asarray(avg @ x)
    return means.T.reshape(x.shape[1], *shape), occupied.reshape(shape)


def windowed_ssim(im1: np.ndarray, im2: np.ndarray, mask: np.ndarray | None = None,
                  win: int = SSIM_WINDOW, data_range: float = 1.0) -> np.ndarray:
    """Mean SSIM map (Wang et al. 2004) of image pairs ``(n, rows, cols)`` (or volumes
    ``(n, rows, cols, layers)``), over ``mask`` pixels.

    Uniform ``win x win`` (``win x win x win``) window with reflected borders and sample
    covariance, as ``skimage.metrics.structural_similarity`` with its defaults; unlike it, the map
    is averaged over the pixels in ``mask`` (all pixels if ``None``) instead of cropping the
    border, because tissue grids are small and irregular. A single image may be given without
    the leading axis when ``mask`` is ``None`` or has the image's shape.
    """
    from scipy.ndimage import uniform_filter

    a, b = _as_float(im1), _as_float(im2)
    if mask is not None and a.ndim == np.ndim(mask) or mask is None and a.ndim == 2:
        a, b = a[None], b[None]
    dims = a.ndim - 1
    size = (1,) + (win,) * dims
    npix = win ** dims
    cov_norm = npix / (npix - 1)
    ux, uy = uniform_filter(a, size), uniform_filter(b, size)
    vx = cov_norm * (uniform_filter(a * a, size) - ux * ux)
    vy = cov_norm * (uniform_filter(b * b, size) - uy * uy)
    vxy = cov_norm * (uniform_filter(a * b, size) - ux * uy)
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    s = (2 * ux * uy + c1) * (2 * vxy + c2) / ((ux ** 2 + uy ** 2 + c1) * (vx + vy + c2))
    if mask is None:
        return s.reshape(len(s), -1).mean(axis=1)
    return s[:, mask].mean(axis=1)


def ssim_grid(truth, pred, coords, bins: int = GRID_BINS, win: int = SSIM_WINDOW) -> np.ndarray:
    """SSIM of each gene's image: cells rasterised onto a grid, then windowed SSIM.

    Steps: negative predictions set to 0; each gene's pixel value is the mean over the cells in
    the pixel (``bins`` square pixels along the longer side of the bounding box; cubic voxels and
    a cubic window for 3-D coordinates, :func:`raster_index`); each image
    divided by its maximum (Li et al.'s ``scale_max``, so ``L = 1``); empty pixels are 0 in both
    images; SSIM map with a ``win x win`` uniform window (:func:`windowed_ssim`), averaged over
    the occupied pixels. NaN where the measured gene is all zero.
    """
    t, p = _as_float(truth), np.clip(_as_float(pred), 0.0, None)
    if t.shape != p.shape:
        raise ValueError(f"truth and prediction differ in shape: {t.shape} vs {p.shape}")
    if len(coords) != t.shape[0]:
        raise ValueError(f"{len(coords)} coordinates for {t.shape[0]} cells")
    pixel, shape = raster_index(coords, bins)
    ti, occ = rasterize(t, pixel, shape)
    pi, _ = rasterize(p, pixel, shape)
    axes = tuple(range(1, ti.ndim))
    tmax, pmax = ti.max(axis=axes), pi.max(axis=axes)
    ok = tmax > 0
    expand = (slice(None),) + (None,) * len(axes)
    ti = np.divide(ti, tmax[expand], out=np.zeros_like(ti), where=ok[expand])
    pi = np.divide(pi, pmax[expand], out=np.zeros_like(pi), where=(pmax > 0)[expand])
    return np.where(ok, windowed_ssim(ti, pi, occ, win), np.nan)


def ssim_grid_by_field(truth, pred, coords, fields, bins: int = GRID_BINS, win: int = SSIM_WINDOW,
                       min_cells: int = 0) -> np.ndarray:
    """:func:`ssim_grid` within each field (imaging field, section), cell-weighted mean over fields.

    Each field is rasterised on its own grid (``bins`` pixels along its own longer side) from
    ``coords``, its cells' coordinates within the field, so no pixel or window holds cells of two
    fields. A gene's value is the mean over the fields where it is defined (measured gene not all
    zero there), weighted by their numbers of cells; NaN where it is defined in none. Fields with
    fewer than ``min_cells`` cells are left out.
    """
    t, p = _as_float(truth), _as_float(pred)
    fields = np.asarray(fields)
    if len(fields) != t.shape[0]:
        raise ValueError(f"{len(fields)} field labels for {t.shape[0]} cells")
    xy = _as_float(coords)
    rows_of = (np.flatnonzero(fields == f) for f in pd.unique(fields))
    return _cell_weighted_mean(((len(rows), ssim_grid(t[rows], p[rows], xy[rows], bins, win))
                                for rows in rows_of if len(rows) >= max(min_cells, 1)), t.shape[1])


def _cell_weighted_mean(parts, n_genes: int) -> np.ndarray:
    """Per gene, the mean of per-field values weighted by the fields' numbers of cells, over the
    fields where it is defined (finite); NaN where it is defined in none. ``parts``: ``(n_cells,
    values)`` per field."""
    total = np.zeros(n_genes)
    weight = np.zeros(n_genes)
    for n, vals in parts:
        good = np.isfinite(vals)
        total[good] += vals[good] * n
        weight[good] += n
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight > 0, total / np.where(weight > 0, weight, 1.0), np.nan)


# --- accuracy score --------------------------------------------------------------------------------

#: The metrics Li et al.'s accuracy score ranks, as (summary column, higher is better).
AS_COLUMNS = (("gene_pcc", True), ("gene_ssim", True), ("gene_rmse", False), ("gene_js", False))


def accuracy_score(means: pd.DataFrame, columns=AS_COLUMNS) -> pd.Series:
    """Li et al.'s accuracy score of each method (row) from its per-metric means over genes.

    For each metric the ``N`` methods are ranked so that the best gets ``N`` and the worst 1;
    ranks are divided by ``N`` and averaged over the metrics. Best 1, worst ``1 / N``.

    Deviations from Li et al. (``AccuracyMetrics.ipynb``), both documented in docs/metrics.md:
    tied values share their average rank (Li et al. break ties by sort order), and a missing
    (NaN) mean gets the worst rank (Li et al. fill it with 0, which is the *best* RMSE and JS).

    Parameters
    ----------
    means
        One row per method, a column per metric (missing columns raise ``KeyError``).
    columns
        ``(column, higher_is_better)`` pairs.
    """
    from scipy.stats import rankdata

    n = len(means)
    if n == 0:
        return pd.Series(dtype=np.float64)
    scores = []
    for col, higher in columns:
        v = means[col].to_numpy(dtype=np.float64)
        key = np.where(np.isfinite(v), v if higher else -v, -np.inf)  # larger key = better; NaN worst
        scores.append(rankdata(key, method="average") / n)
    return pd.Series(np.mean(scores, axis=0), index=means.index, name="accuracy_score")


# --- spatial pattern: Moran's I and spatially variable genes -------------------------------------

#: Spatial neighbours per cell of the fixed kNN graph on the coordinates (squidpy's default for
#: generic coordinates).
MORAN_NEIGHBORS = 6
#: Fraction of the genes called spatially variable (top by Moran's I), at least one gene.
SVG_FRACTION = 0.2
#: Fewest cells a field needs for its Moran's I (smaller fields are left out).
MIN_FIELD_CELLS = MORAN_NEIGHBORS + 2


def _constant_columns(x: np.ndarray) -> np.ndarray:
    """Columns constant up to rounding (the tolerance of the suite's PCC)."""
    return ~(x.std(axis=0) > 1e-12 * np.maximum(1.0, np.abs(x).max(axis=0)))


@contextlib.contextmanager
def _squidpy():
    """squidpy, imported and called without its import-time warnings or its INFO log lines (which it
    writes to the terminal, in the middle of the run's summary)."""
    import logging
    import warnings

    logger = logging.getLogger("spatialdata._logging")  # the logger squidpy's graph functions write to
    level = logger.level
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import squidpy as sq

        logger.setLevel(logging.WARNING)
        try:
            yield sq
        finally:
            logger.setLevel(level)


def _field_graphs(context) -> list[tuple[np.ndarray, "object"]]:
    """``[(cell rows, connectivities)]`` per field: squidpy's kNN graph of each field's coordinates.

    Built once per dataset (the graph depends on the coordinates only). A field with fewer than
    :data:`MIN_FIELD_CELLS` cells is left out.
    """
    def _make():
        import anndata as ad

        xy = context.within_field_coords
        fields = context.fields if context.fields is not None else np.zeros(len(xy), dtype=int)
        out = []
        for f in pd.unique(fields):
            rows = np.flatnonzero(fields == f)
            if len(rows) < MIN_FIELD_CELLS:
                continue
            a = ad.AnnData(X=np.zeros((len(rows), 1), dtype=np.float32))
            a.obsm["spatial"] = np.asarray(xy[rows, :3], dtype=np.float64)  # 3-D tissue: 3-D neighbours
            with _squidpy() as sq:
                sq.gr.spatial_neighbors_knn(a, n_neighs=MORAN_NEIGHBORS)
            out.append((rows, a.obsp["spatial_connectivities"].tocsr()))
        return out
    return context.cached("moran_graphs", _make)


def morans_i(x: np.ndarray, context) -> np.ndarray:
    """Moran's I of each column of ``x`` (cells x genes, rows = the context's cells), by squidpy.

    ``squidpy.gr.spatial_autocorr(mode="moran")`` on the graph of :func:`_field_graphs`
    (row-standardised weights, squidpy's default), computed within each field and averaged over
    fields weighted by their number of cells. A column constant within a field (a constant
    prediction has no spatial pattern) is NaN there; a gene NaN in every field is NaN.
    """
    import anndata as ad

    x = np.asarray(x, dtype=np.float64)

    def per_field():
        for rows, conn in _field_graphs(context):
            sub = x[rows]
            ok = ~_constant_columns(sub)
            if not ok.any():
                continue
            names = [f"g{j}" for j in np.flatnonzero(ok)]
            a = ad.AnnData(X=sub[:, ok], var=pd.DataFrame(index=names))
            a.obsp["spatial_connectivities"] = conn
            with _squidpy() as sq:
                res = sq.gr.spatial_autocorr(a, mode="moran", n_perms=None, copy=True, show_progress_bar=False,
                                             n_jobs=1)
            vals = np.full(x.shape[1], np.nan)
            vals[ok] = res["I"].reindex(names).to_numpy(dtype=np.float64)
            yield len(rows), vals
    return _cell_weighted_mean(per_field(), x.shape[1])


def _moran_pair(inp) -> tuple[np.ndarray, np.ndarray] | NotScored:
    """(Moran's I of the measured genes, of the predicted genes) for a scoring input, or why not."""
    ctx = inp.context
    if ctx is None or ctx.coords is None:
        return NotScored((ctx.coords_reason if ctx is not None else "") or "no spatial coordinates")

    def _make():
        t, p = inp.arrays()
        genes = list(inp.truth.columns)
        known = ctx.cached(("moran_truth", inp.space), dict)  # per gene: measured values are the same for all methods
        todo = [j for j, g in enumerate(genes) if g not in known]
        if todo:
            for j, v in zip(todo, morans_i(t[:, todo], ctx)):
                known[genes[j]] = v
        return np.array([known[g] for g in genes]), morans_i(p, ctx)
    return inp.cached("moran", _make)


def _moran_abs_diff(inp):
    pair = _moran_pair(inp)
    if not isinstance(pair, tuple):
        return pair
    it, ip = pair
    # a prediction without spatial pattern (constant) has Moran's I 0, as PCC calls it uncorrelated
    return np.abs(np.where(np.isnan(ip), 0.0, ip) - it)


def _moran_bias(inp):
    pair = _moran_pair(inp)
    if not isinstance(pair, tuple):
        return pair
    it, ip = pair
    d = np.where(np.isnan(ip), 0.0, ip) - it
    d = d[np.isfinite(d)]
    return float(d.mean()) if d.size else np.nan


def _moran_spearman(inp):
    from scipy.stats import spearmanr

    pair = _moran_pair(inp)
    if not isinstance(pair, tuple):
        return pair
    it, ip = pair
    ip = np.where(np.isnan(ip), 0.0, ip)
    ok = np.isfinite(it)
    if ok.sum() < 3 or np.ptp(it[ok]) == 0:
        return np.nan
    if np.ptp(ip[ok]) == 0:  # no ranking of the genes at all: uncorrelated (the PCC convention)
        return 0.0
    return float(spearmanr(it[ok], ip[ok]).statistic)


def svg_calls(values: np.ndarray, fraction: float = SVG_FRACTION) -> np.ndarray:
    """Boolean mask of the top ``fraction`` of genes by ``values`` (Moran's I), at least one.

    NaN values (genes without spatial pattern: constant) are never called; ties are broken by
    gene order.
    """
    v = np.asarray(values, dtype=np.float64)
    k = max(1, int(round(fraction * len(v))))
    order = np.argsort(-np.where(np.isfinite(v), v, -np.inf), kind="stable")
    called = np.zeros(len(v), dtype=bool)
    chosen = [j for j in order[:k] if np.isfinite(v[j])]
    called[chosen] = True
    return called


def _svg_overlap(inp):
    pair = _moran_pair(inp)
    if not isinstance(pair, tuple):
        return pair
    it, ip = pair
    ok = np.isfinite(it)
    truth_svg = svg_calls(it[ok])
    return float((truth_svg & svg_calls(ip[ok])).sum() / truth_svg.sum())


def _svg_auprc(inp):
    from sklearn.metrics import average_precision_score

    pair = _moran_pair(inp)
    if not isinstance(pair, tuple):
        return pair
    it, ip = pair
    ok = np.isfinite(it)
    truth_svg = svg_calls(it[ok])
    if truth_svg.all():
        return np.nan
    pred = ip[ok]
    finite = np.isfinite(pred)
    floor = (pred[finite].min() if finite.any() else 0.0) - 1.0  # constant predictions rank below every other
    score = np.where(finite, pred, floor)
    return float(average_precision_score(truth_svg, score))


def _grid(inp):
    ctx = inp.context
    if ctx is None or ctx.coords is None:
        return NotScored((ctx.coords_reason if ctx is not None else "") or "no spatial coordinates")
    t, p = inp.arrays()
    if ctx.fields is not None:  # each field on its own grid: frames are never compared
        return ssim_grid_by_field(t, p, ctx.within_field_coords, ctx.fields, min_cells=MIN_FIELD_CELLS)
    return ssim_grid(t, p, ctx.coords)


_LI = "Li et al. 2022, Nat. Methods 19:662 (SpatialBenchmarking, Benchmarking/GenesMetrics.py)"
_MORAN = ("Moran 1950, Biometrika 37:17; squidpy.gr.spatial_autocorr (Palla et al. 2022, Nat. Methods 19:171); "
          "as a preservation score: Haviv et al. 2024 (ENVI), Nat. Biotechnol.")

SPATIAL_METRICS = [
    Metric("ssim", "gene", True, (-1.0, 1.0), 1.0,
           "Li et al. 2022 SSIM of each gene over all cells as one window, after dividing t and p by their max: "
           "(2 mt mp + C1)(2 s_tp + C2)/((mt^2 + mp^2 + C1)(s_t^2 + s_p^2 + C2)), C1 = 0.01^2, C2 = 0.03^2. "
           "Negative p set to 0; NaN if t is all zero.",
           ssim_global, label="gene SSIM", order=10, summary=True, primary=2, reference=_LI),
    Metric("rmse", "gene", False, (0.0, 2.0), 0.0,
           "Li et al. 2022 RMSE of each gene after z-scoring t and p (ddof 0): sqrt(mean((z(t) - z(p))^2)) "
           "= sqrt(2(1 - PCC)). sqrt(2) (as PCC = 0) if p is constant; NaN if t is constant.",
           rmse_zscored, label="gene RMSE (z-scored)", order=11, summary=True, primary=3, reference=_LI),
    Metric("js", "gene", False, (0.0, float(np.log(2.0))), 0.0,
           "Li et al. 2022 Jensen-Shannon divergence (natural log, max ln 2) between t/sum(t) and p/sum(p) as "
           "distributions over cells. Negative p set to 0; all-zero p = uniform; NaN if t is all zero.",
           js_divergence, label="gene JS", order=12, summary=True, primary=4, reference=_LI),
]

GRID_METRICS = [
    Metric("ssim_grid", "gene", True, (-1.0, 1.0), 1.0,
           f"SSIM of each gene's image: cells binned onto a grid of square pixels ({GRID_BINS} along the longer "
           f"side; pixel = mean of its cells), each image divided by its max, {SSIM_WINDOW}x{SSIM_WINDOW} "
           "uniform-window SSIM (Wang et al. 2004) averaged over occupied pixels. Needs coordinates; "
           "skipped (a 'skipped' row) without them.",
           compute=_grid, label="gene SSIM on a grid", order=13, summary=True,
           reference="Wang et al. 2004, IEEE Trans. Image Process. 13:600"),
]

_MORAN_HOW = (f"Moran's I by squidpy.gr.spatial_autocorr on a fixed {MORAN_NEIGHBORS}-nearest-neighbour graph of the "
              "coordinates (squidpy.gr.spatial_neighbors_knn; weights row-standardised), within each field or section, "
              "cell-weighted mean over fields; on the assembled prediction. A constant prediction has I = 0.")

MORAN_METRICS = [
    Metric("morans_i_abs_diff", "gene", False, (0.0, None), 0.0,
           "|I(prediction) - I(measured)| of each gene. " + _MORAN_HOW,
           compute=_moran_abs_diff, stage="assembled", label="Moran's I |difference|", order=20, summary=True,
           report=True, leaderboard=11, reference=_MORAN),
    Metric("morans_i_spearman", "spatial", True, (-1.0, 1.0), 1.0,
           "Spearman correlation over genes between I(prediction) and I(measured): are the genes with the strongest "
           "spatial pattern the ones predicted with it? NaN with fewer than 3 genes; 0 if every predicted gene has "
           "the same I. " + _MORAN_HOW,
           compute=_moran_spearman, stage="assembled", label="Moran's I Spearman over genes", order=21,
           summary=True, report=True, leaderboard=10, reference=_MORAN),
    Metric("morans_i_bias", "spatial", None, (None, None), 0.0,
           "Mean over genes of I(prediction) - I(measured): > 0, the predictions are spatially smoother than the "
           "measurements (e.g. neighbourhood averaging); < 0, rougher. " + _MORAN_HOW,
           compute=_moran_bias, stage="assembled", label="Moran's I bias", order=22, summary=True, reference=_MORAN),
    Metric("svg_overlap", "spatial", True, (0.0, 1.0), 1.0,
           f"Spatially variable gene recovery: the top {SVG_FRACTION:.0%} of genes by Moran's I (at least one) called "
           "on the prediction and on the measured values; the fraction of the measured calls also called on the "
           "prediction. Genes with a constant prediction are never called. " + _MORAN_HOW,
           compute=_svg_overlap, stage="assembled", label="SVG overlap", order=23, summary=True, report=True,
           reference=_MORAN),
    Metric("svg_auprc", "spatial", True, (0.0, 1.0), 1.0,
           f"Average precision (area under the precision-recall curve, scikit-learn) of the prediction's Moran's I "
           f"as a score for the measured top-{SVG_FRACTION:.0%} spatially variable genes; a random score gets about "
           f"{SVG_FRACTION:g}. Genes with a constant prediction score lowest. " + _MORAN_HOW,
           compute=_svg_auprc, stage="assembled", label="SVG AUPRC", order=24, summary=True, leaderboard=12,
           reference=_MORAN),
]

SUMMARY_ONLY_METRICS = [
    Metric("accuracy_score", "summary", True, (0.0, 1.0), 1.0,
           "Li et al. 2022 accuracy score, relative to the methods of a run: per data set, rank the methods by "
           "mean gene PCC, SSIM (higher better), RMSE, JS (lower better), best = N; AS = mean of rank/N. "
           "Ties share the average rank; a missing value ranks last. In summary.csv only.",
           label="accuracy score", primary=0, reference=_LI + " AccuracyMetrics.ipynb"),
]

__all__ = [
    "AS_COLUMNS", "GRID_BINS", "GRID_METRICS", "MORAN_METRICS", "MORAN_NEIGHBORS", "SPATIAL_METRICS", "SVG_FRACTION",
    "morans_i", "svg_calls", "SSIM_WINDOW", "SUMMARY_ONLY_METRICS",
    "accuracy_score", "js_divergence", "raster_index", "rasterize", "rmse_zscored", "ssim_global",
    "ssim_grid", "ssim_grid_by_field", "windowed_ssim",
]
