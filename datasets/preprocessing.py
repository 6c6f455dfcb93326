"""Preprocessing schemes, applied identically to every method's input and to the scoring truth.

Every scheme maps a cells x genes count matrix to a matrix of the same shape and depends only on
the matrix it is given. That property is what keeps the harness leak-free: the spatial ``X`` a
method sees is normalised over the training genes' counts alone, and the scoring truth over all
shared genes (see ``benchmark/prepare.py``). Spatial and reference data are normalised separately.
Cells with no counts stay zero in every scheme.

* ``spage`` (default; the stImpute paper's, after SpaGE): divide each cell's counts by its
  total, multiply by the median of the non-zero totals of that data set, ``log1p``.
* ``tangram``: what Tangram maps on. ``tangram.pp_adatas`` (tangram-sc 1.0.4,
  ``mapping_utils.pp_adatas``) changes no values: it drops all-zero genes, lowercases names,
  records the shared genes and adds density priors. So the scheme is plain total-count scaling,
  no log: counts / cell total x median total (``scanpy.pp.normalize_total`` with its default
  target). The suite keeps all-zero genes (the gene set must not depend on the scheme).
* ``scran``: pooled size factors after scran's ``computeSumFactors`` (Lun, Bach & Marioni 2016),
  reimplemented here (no R), then ``log1p(counts / size factor)``. See :func:`scran_size_factors`
  for exactly what is and is not the same as scran.
* ``raw``: the counts as they are (as float), no division, no log. SpatialBenchmarking (Li et
  al. 2022) gave every method raw counts and let it apply its own preprocessing; with this scheme
  the task's ``X`` is the raw counts, so each wrapper applies what its method does to ``X``, and
  ``--scoring-space counts`` scores predictions as returned against the raw counts (divisor 1).
  Preset ``benchmark/presets/li2022.yaml`` uses it (docs/reconciliation.md).

Each scheme is ``X = f(counts / d)`` with one divisor ``d_i`` per cell (0 for a cell it leaves at
zero) and ``f`` either ``log1p`` or the identity. Given the counts a matrix was normalised from,
that form has an exact inverse, ``counts = f^-1(X) * d``: :data:`COUNTS_INVERSES` holds it per
scheme (beside each scheme below), for scoring predictions in raw-count space. A scheme without a
well-defined inverse is listed in :data:`NO_COUNTS_INVERSE` with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import scipy.sparse as sp

from benchmark.errors import UnknownNameError

#: Pool sizes of scran's computeSumFactors (its default ``sizes = seq(21, 101, 5)``).
SCRAN_POOL_SIZES = tuple(range(21, 102, 5))
#: Weight of the per-cell equations that make scran's linear system full rank (scran: sqrt(1e-6)).
_SCRAN_LOW_WEIGHT = 1e-3


def _as_float(counts):
    if sp.issparse(counts):
        x = sp.csr_matrix(counts, dtype=np.float32, copy=True)
        totals = np.asarray(x.sum(axis=1)).ravel().astype(np.float64)
    else:
        x = np.array(counts, dtype=np.float32, copy=True)
        totals = x.sum(axis=1, dtype=np.float64)
    return x, totals


def _scale_rows(x, scale: np.ndarray, log: bool):
    if sp.issparse(x):
        x = sp.csr_matrix(sp.diags(scale.astype(np.float32)) @ x)
        if log:
            np.log1p(x.data, out=x.data)
    else:
        x *= scale[:, None].astype(np.float32)
        if log:
            np.log1p(x, out=x)
    return x


def _total_scale(totals: np.ndarray, target_sum: float | None) -> np.ndarray:
    nonzero = totals > 0
    if target_sum is None:
        target_sum = float(np.median(totals[nonzero])) if nonzero.any() else 1.0
    scale = np.zeros_like(totals, dtype=np.float64)
    scale[nonzero] = target_sum / totals[nonzero]
    return scale


def normalize_spage(counts, *, target_sum: float | None = None):
    """SpaGE-style log-normalisation of a cells x genes count matrix.

    Cells whose total is zero stay zero. Sparse input gives sparse output (float32).

    Parameters
    ----------
    counts
        Raw counts, dense or sparse.
    target_sum
        Scale after dividing by the cell total; the median of the non-zero totals by default.
    """
    x, totals = _as_float(counts)
    return _scale_rows(x, _total_scale(totals, target_sum), log=True)


def normalize_tangram(counts, *, target_sum: float | None = None):
    """Tangram-style input: counts / cell total x median total, without a log.

    ``tangram.pp_adatas`` itself leaves values as they are (it filters all-zero genes and names);
    this is the total-count scaling of ``scanpy.pp.normalize_total`` (default target: the median
    of the non-zero totals). Cells with no counts stay zero.
    """
    x, totals = _as_float(counts)
    return _scale_rows(x, _total_scale(totals, target_sum), log=False)


def total_divisors(counts) -> np.ndarray:
    """Per-cell divisor of ``spage`` and ``tangram``: ``d_i = t_i / m``.

    ``t_i`` is the cell's total over the genes of ``counts`` and ``m`` the median of the non-zero
    totals, the values :func:`normalize_spage` and :func:`normalize_tangram` scale by (they
    multiply by ``m / t_i``). Cells with ``t_i = 0`` get 0. The median does not depend on the
    order of the cells.
    """
    _, totals = _as_float(counts)
    scale = _total_scale(totals, None)
    d = np.zeros_like(scale)
    d[scale > 0] = 1.0 / scale[scale > 0]
    return d


def scran_size_factors(counts, sizes: tuple[int, ...] = SCRAN_POOL_SIZES) -> np.ndarray:
    """Pooled size factors in the manner of scran's ``computeSumFactors`` (one cluster).

    What is computed, step by step:

    1. Cells with zero total get size factor 0 (they stay zero after normalisation) and take no
       further part.
    2. Each cell's counts are divided by its total, ``y_j = x_j / t_j``; the reference
       pseudo-cell is the mean of these profiles, ``a``. Genes with ``a = 0`` are not used.
    3. Cells are ordered by total on a ring (odd ranks ascending, then even ranks descending,
       as scran does), and for every pool size ``s`` in ``sizes`` (at most the number of cells)
       and every start position, the pool of ``s`` consecutive cells gets the estimate
       ``r_P = median_g (sum_{j in P} y_jg / a_g)``.
    4. The linear system ``sum_{j in P} theta_j = r_P`` over all pools, plus one low-weight
       equation ``theta_j = 1`` per cell (scran adds the same kind of rows so that the system
       has full rank), is solved by least squares. The normal equations are circulant in ring order (every window
       of the ring is a pool), so they are solved exactly with FFTs; scran uses a QR
       decomposition of the same system: same solution, different numerics.
    5. Size factor ``s_j = theta_j t_j``, scaled to a mean of 1 over the non-empty cells.

    Differences from scran, said plainly: no ``quickCluster`` pre-clustering (all cells are one
    cluster, scran's default when ``clusters`` is not given), no ``min.mean`` gene filter beyond
    dropping genes with zero mean, the low-weight equations have weight 1e-3 (scran: 1e-3 too,
    ``sqrt(1e-6)``), and non-positive solutions (rare; scran warns) are replaced by the
    library-size factor of that cell. With fewer non-empty cells than the smallest pool size,
    the factors are library sizes scaled to mean 1 (scran refuses to run there).

    Parameters
    ----------
    counts
        Raw counts, cells x genes, dense or sparse.
    sizes
        Pool sizes.

    Returns
    -------
    numpy.ndarray
        One size factor per cell (0 for empty cells).
    """
    x, totals = _as_float(counts)
    n = x.shape[0]
    sf = np.zeros(n, dtype=np.float64)
    live = np.nonzero(totals > 0)[0]
    if live.size == 0:
        return sf
    lib = totals[live]
    use_sizes = [s for s in sizes if s <= live.size]
    if not use_sizes:
        sf[live] = lib / lib.mean()
        return sf
    xl = x[live]
    y = (sp.diags(1.0 / lib) @ sp.csr_matrix(xl, dtype=np.float64)).toarray() if sp.issparse(xl) \
        else np.asarray(xl, dtype=np.float64) / lib[:, None]
    ave = y.mean(axis=0)
    keep = ave > 0
    ratio = y[:, keep] / ave[keep]  # cells x genes, each row relative to the pseudo-cell
    # ring order by library size: odd ranks going up, even ranks coming back down
    rank = np.argsort(lib, kind="stable")
    ring = np.concatenate([rank[0::2], rank[1::2][::-1]])
    m = live.size
    ring2 = np.concatenate([ring, ring])
    csum = np.vstack([np.zeros((1, ratio.shape[1])), np.cumsum(ratio[ring2], axis=0)])
    # The pools of one size are all m windows of the ring, so the normal equations are circulant
    # in ring order: (A^T A)[i, j] = number of windows holding both i and j, a function of the ring
    # distance alone, and A^T r is a circular box filter of the pool estimates. Both are solved
    # exactly with FFTs (O(m log m)) instead of a sparse QR.
    starts = np.arange(m)
    first_row = np.zeros(m)
    atr = np.zeros(m)
    for size in use_sizes:
        estimate = np.median(csum[starts + size] - csum[starts], axis=1)  # r_P of the window starting at p
        first_row += np.maximum(0, size - starts) + np.maximum(0, size - (m - starts)) * (starts > 0)
        box = np.zeros(m)
        box[:size] = 1.0
        atr += np.real(np.fft.ifft(np.fft.fft(estimate) * np.fft.fft(box)))  # sum of windows covering p
    w2 = _SCRAN_LOW_WEIGHT**2  # the low-weight rows theta_j = 1 add w^2 I and w^2 * 1
    eig = np.real(np.fft.fft(first_row)) + w2
    theta_ring = np.real(np.fft.ifft(np.fft.fft(atr + w2) / eig))
    theta = np.empty(m)
    theta[ring] = theta_ring
    est = theta * lib
    bad = ~(est > 0)
    if bad.any():  # scran warns about negative factors; fall back to this cell's library size
        est[bad] = lib[bad] * np.median(est[~bad] / lib[~bad]) if (~bad).any() else lib[bad]
    sf[live] = est / est.mean()
    return sf


def normalize_scran(counts):
    """``log1p(counts / s)`` with the pooled size factors ``s`` of :func:`scran_size_factors`.

    (scran's ``logNormCounts`` uses ``log2(x / s + 1)``; the natural log is used here so that
    all schemes share one log base.)
    """
    x, _ = _as_float(counts)
    sf = scran_size_factors(counts)
    scale = np.zeros_like(sf)
    scale[sf > 0] = 1.0 / sf[sf > 0]
    return _scale_rows(x, scale, log=True)


def normalize_raw(counts):
    """The ``raw`` scheme: the counts unchanged (float32 copy; sparse stays sparse).

    Its divisor is 1 for every cell (:func:`unit_divisors`), so its counts inverse is the identity.
    """
    x, _ = _as_float(counts)
    return x


def unit_divisors(counts) -> np.ndarray:
    """Per-cell divisor of ``raw``: 1 for every cell (the values are the counts)."""
    return np.ones(counts.shape[0], dtype=np.float64)


PREPROCESSING: dict[str, Callable] = {"spage": normalize_spage, "tangram": normalize_tangram, "scran": normalize_scran,
                                      "raw": normalize_raw}


@dataclass(frozen=True)
class CountsInverse:
    """The inverse of one scheme, ``counts = f^-1(X) * d``, given the counts ``X`` came from.

    Attributes
    ----------
    divisors
        Maps a cells x genes count matrix to the scheme's per-cell divisor ``d_i`` (0 for a cell the
        scheme leaves at zero), exactly as the forward function computes it from that matrix.
    log
        Whether the scheme applies ``log1p`` after dividing (``f = log1p``), else ``f`` is the identity.
    """

    divisors: Callable[[object], np.ndarray]
    log: bool

    def to_counts(self, values, basis) -> np.ndarray:
        """Take ``values`` (cells x any genes, on the scheme's scale) back to counts.

        Parameters
        ----------
        values
            Values on the scheme's scale, e.g. a method's prediction of genes that are not in ``basis``.
        basis
            The counts whose normalisation defined the scale (same cells, same order): the divisors
            come from them. For a task, its training-gene counts.

        Returns
        -------
        numpy.ndarray
            ``f^-1(values) * d_i`` as float64; 0 for a cell with ``d_i = 0`` (the scheme gives such
            a cell no size, so no counts).
        """
        x = np.asarray(values.toarray() if sp.issparse(values) else values, dtype=np.float64)
        d = self._checked_divisors(x, basis)
        return (np.expm1(x) if self.log else x) * d[:, None]

    def from_counts(self, counts, basis) -> np.ndarray:
        """Put ``counts`` (cells x any genes) on the scheme's scale with the divisors of ``basis``.

        The right inverse of :meth:`to_counts`: ``to_counts(from_counts(c, b), b) == c`` for every
        cell with ``d_i > 0``; cells with ``d_i = 0`` get 0, as the scheme gives them.
        """
        c = np.asarray(counts.toarray() if sp.issparse(counts) else counts, dtype=np.float64)
        d = self._checked_divisors(c, basis)
        scale = np.zeros_like(d)
        scale[d > 0] = 1.0 / d[d > 0]
        x = c * scale[:, None]
        return np.log1p(x) if self.log else x

    def _checked_divisors(self, x: np.ndarray, basis) -> np.ndarray:
        if x.ndim != 2 or x.shape[0] != basis.shape[0]:
            raise ValueError(f"values have shape {x.shape} but the counts they are normalised against have "
                             f"{basis.shape[0]} cells; the two must hold the same cells in the same order")
        return np.asarray(self.divisors(basis), dtype=np.float64)


#: The counts inverse of each scheme (see the module docstring). Every scheme of
#: :data:`PREPROCESSING` is either here or in :data:`NO_COUNTS_INVERSE`.
COUNTS_INVERSES: dict[str, CountsInverse] = {
    "spage": CountsInverse(total_divisors, log=True),
    "tangram": CountsInverse(total_divisors, log=False),
    "scran": CountsInverse(scran_size_factors, log=True),
    "raw": CountsInverse(unit_divisors, log=False),
}

#: Schemes whose values cannot be taken back to counts, with the reason (none of the built-in ones).
NO_COUNTS_INVERSE: dict[str, str] = {}


def get_counts_inverse(name: str) -> CountsInverse | None:
    """The :class:`CountsInverse` of scheme ``name``, or ``None`` if it has none (reason:
    :func:`no_counts_inverse_reason`).

    Raises
    ------
    benchmark.errors.UnknownNameError
        For a name that is not a scheme.
    """
    get_preprocessing(name)
    return COUNTS_INVERSES.get(name)


def no_counts_inverse_reason(name: str) -> str:
    """Why scheme ``name`` has no counts inverse ("" if it has one)."""
    if get_counts_inverse(name) is not None:
        return ""
    return NO_COUNTS_INVERSE.get(name, f"the preprocessing scheme {name!r} declares no inverse to counts")

#: One line per scheme, for help texts and docs.
PREPROCESSING_SUMMARY = {
    "spage": "counts / cell total x median total, log1p (the paper's, after SpaGE; default)",
    "tangram": "counts / cell total x median total, no log (Tangram's input; pp_adatas changes no values)",
    "scran": "log1p(counts / pooled size factor), scran computeSumFactors-style deconvolution, one cluster",
    "raw": "the raw counts unchanged; each method applies only its own preprocessing (SpatialBenchmarking's input)",
}


def get_preprocessing(name: str) -> Callable:
    if name not in PREPROCESSING:
        raise UnknownNameError("preprocessing", name, list(PREPROCESSING))
    return PREPROCESSING[name]
