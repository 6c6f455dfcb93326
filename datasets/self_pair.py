"""Self-paired data: a spatial data set split by cells into a "reference" half and a "spatial" half.

A spatial atlas with enough genes but no scRNA-seq partner still yields a benchmark: the
reference half keeps every gene, the spatial half plays the imaging experiment, and genes are
hidden from the spatial half as usual. Both halves come from the same experiment, so this is a
**proxy without a platform effect** (no capture-efficiency or chemistry difference between the
reference and the spatial data): scores are optimistic compared with a real scRNA-seq reference.

Cells that the source release duplicated (same coordinates and counts, e.g. osmFISH's
``source_duplicate``) are kept together on one side, so the reference never holds an exact copy
of a spatial cell.

A data set with several imaging fields or sections (``PairedData.field_key``) is split within each
field: every field gives the same fraction of its cells to the reference, so both halves cover
every section and the spatial half keeps whole-field neighbourhoods thinned at one rate, rather
than losing entire fields.
"""

from __future__ import annotations

import dataclasses

import anndata as ad
import numpy as np
import scipy.sparse as sp

from benchmark.errors import InputError

from .base import PairedData


def duplicate_groups(adata: ad.AnnData, spatial_key: str | None = None, duplicate_key: str | None = None,
                     decimals: int = 1) -> np.ndarray:
    """Group id per cell: cells with identical counts and the same coordinates share a group.

    Parameters
    ----------
    adata
        Cells x genes, raw counts in ``X``.
    spatial_key
        ``obsm`` key of the coordinates. Without coordinates no cells are grouped (identical
        count vectors alone, e.g. two empty cells, are not evidence of duplication).
    duplicate_key
        Boolean ``obs`` column flagging duplicated cells; if given, only flagged cells are grouped.
    decimals
        Coordinates are compared after rounding to this many decimals.

    Returns
    -------
    numpy.ndarray
        ``int64`` group ids, ``0..n_groups-1``, in order of first appearance.
    """
    n = adata.n_obs
    if spatial_key is None or spatial_key not in adata.obsm:
        return np.arange(n, dtype=np.int64)
    x = adata.X.toarray() if sp.issparse(adata.X) else np.asarray(adata.X)
    # rounded to 0.1 coordinate units: one osmFISH duplicate pair differs by 0.02 pixels (float noise
    # of the release), and the data directory's MANIFEST matched duplicates at this precision too
    coords = np.round(np.asarray(adata.obsm[spatial_key], dtype=np.float64), decimals)
    flagged = np.ones(n, dtype=bool)
    if duplicate_key is not None:
        if duplicate_key not in adata.obs:
            raise InputError(f"duplicate flag column {duplicate_key!r} is not in the spatial obs")
        flagged = adata.obs[duplicate_key].to_numpy(dtype=bool)
    keys: dict[bytes, int] = {}
    out = np.empty(n, dtype=np.int64)
    next_id = 0
    for i in range(n):
        if flagged[i]:
            k = coords[i].tobytes() + np.ascontiguousarray(x[i], dtype=np.float64).tobytes()
        else:
            k = b"cell" + i.to_bytes(8, "little")  # unflagged: its own group
        g = keys.get(k)
        if g is None:
            g = keys[k] = next_id
            next_id += 1
        out[i] = g
    return out


def grouped_permutation(groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Cell indices in a random order in which the cells of each group are adjacent."""
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    rank = np.empty(n_groups, dtype=np.int64)
    rank[rng.permutation(n_groups)] = np.arange(n_groups)
    return np.argsort(rank[groups], kind="stable")


def make_self_pair(data: PairedData, *, seed: int = 0, reference_fraction: float = 0.5,
                   min_genes: int = 10) -> PairedData:
    """Split the spatial cells of ``data`` into a reference half (all genes) and a spatial half.

    Parameters
    ----------
    data
        A data set with spatial counts; its ``reference`` (if any) is ignored.
    seed
        Seed of the cell split; the same seed gives the same halves.
    reference_fraction
        Fraction of the cells (counted by duplicate groups) that go to the reference.
    min_genes
        Fewest genes for a useful pair.

    Returns
    -------
    PairedData
        Named ``self:<name>``; the reference half without coordinates, ``meta["self_pair"]``
        records the seed, fraction and cell counts. With a ``field_key`` the split is stratified
        by field (see the module docstring); the reference half declares the spatial data's
        value kind (it is the same measurement).
    """
    spatial = data.spatial
    if not 0.0 < reference_fraction < 1.0:
        raise InputError(f"self-pair reference fraction must be between 0 and 1 (got {reference_fraction})")
    if spatial.n_vars < min_genes:
        raise InputError(
            f"{data.name!r} has {spatial.n_vars} genes; self-pairing needs at least {min_genes} "
            "(the reference half must have genes to learn from)"
        )
    groups = duplicate_groups(spatial, data.spatial_key, data.duplicate_key)
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    if n_groups < 4:
        raise InputError(f"{data.name!r} has too few cells ({spatial.n_obs}) to split into a reference and a spatial half")
    rng = np.random.default_rng(seed)
    if data.field_key is None:
        ref_groups = rng.permutation(n_groups)[: int(round(reference_fraction * n_groups))]
    else:
        ref_groups = _stratified_groups(spatial, groups, data.field_key, reference_fraction, rng)
    in_ref = np.isin(groups, ref_groups)
    reference = spatial[in_ref].copy()
    reference.obsm = {}  # a scRNA-seq reference has no coordinates
    target = spatial[~in_ref].copy()
    name = data.name if data.name.startswith("self:") else f"self:{data.name}"
    meta = dict(data.meta)
    meta["self_pair"] = {
        "source_dataset": data.name, "seed": seed, "reference_fraction": reference_fraction,
        "n_reference_cells": int(in_ref.sum()), "n_spatial_cells": int((~in_ref).sum()),
        "n_duplicate_copies_kept_with_their_group": int(len(groups) - n_groups),
        "stratified_by": data.field_key,
        "note": "proxy without a platform effect: reference and spatial halves come from the same experiment",
    }
    return dataclasses.replace(data, name=name, spatial=target, reference=reference, meta=meta,
                               reference_values=data.spatial_values)


def _stratified_groups(adata: ad.AnnData, groups: np.ndarray, field_key: str, fraction: float,
                       rng: np.random.Generator) -> np.ndarray:
    """Duplicate groups drawn for the reference: ``fraction`` of the groups of each field, rounded."""
    if field_key not in adata.obs:
        raise InputError(f"field column {field_key!r} is not in the spatial obs; columns: {list(adata.obs.columns)}")
    fields = adata.obs[field_key]
    if fields.isna().any():
        raise InputError(f"field column {field_key!r} has {int(fields.isna().sum())} missing value(s)")
    fields = fields.astype(str).to_numpy()
    n_groups = int(groups.max()) + 1
    field_of_group = np.empty(n_groups, dtype=object)
    field_of_group[groups] = fields  # a duplicate group shares coordinates, hence its field
    chosen = []
    for f in sorted(set(fields)):  # sorted: the draw must not depend on the file's cell order
        members = np.flatnonzero(field_of_group == f)
        chosen.append(rng.permutation(members)[: int(round(fraction * len(members)))])
    return np.concatenate(chosen) if chosen else np.empty(0, dtype=np.int64)
