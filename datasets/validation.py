"""Checks on a paired data set before any job runs, with messages that name the problem."""

from __future__ import annotations

import dataclasses
import warnings
from collections import defaultdict

import anndata as ad
import numpy as np
import scipy.sparse as sp

from benchmark.errors import InputError

from .base import VALUE_KINDS, PairedData, check_value_kind
from .quirks import control_probes


def _values(x) -> np.ndarray:
    return x.data if sp.issparse(x) else np.asarray(x)


def check_counts(adata: ad.AnnData, what: str, values: str = "counts") -> None:
    """Non-empty, unique names, finite, non-negative; integer-valued if ``values`` is ``"counts"``.

    Parameters
    ----------
    adata
        Cells x genes.
    what
        Which data, for the messages.
    values
        What ``X`` is declared to hold (a key of :data:`~benchmark.datasets.base.VALUE_KINDS`).
        Every kind must be finite and non-negative (all kinds the suite knows are); only
        ``counts`` warns when the values are not integers.
    """
    check_value_kind(values, f"the {what} data's value kind")
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise InputError(f"the {what} data are empty ({adata.n_obs} cells x {adata.n_vars} genes)")
    for axis, names in (("gene", adata.var_names), ("cell", adata.obs_names)):
        dup = names[names.duplicated()]
        if len(dup):
            raise InputError(
                f"the {what} data have {len(dup)} duplicated {axis} name(s), e.g. {list(dup.unique()[:5])}; "
                f"{axis} names must be unique (anndata: adata.{'var' if axis == 'gene' else 'obs'}_names_make_unique())"
            )
    vals = _values(adata.X)
    if not np.issubdtype(vals.dtype, np.number):
        raise InputError(f"the {what} matrix is not numeric (dtype {vals.dtype})")
    finite = np.isfinite(vals)
    if not finite.all():
        n_nan = int(np.isnan(vals).sum())
        raise InputError(
            f"the {what} data contain {n_nan} NaN and {int((~finite).sum()) - n_nan} infinite value(s); "
            f"values must be finite (X is declared to hold {values}: {VALUE_KINDS[values]})"
        )
    if (vals < 0).any():
        raise InputError(
            f"the {what} data contain {int((vals < 0).sum())} negative value(s); "
            + ("raw counts are required (if X holds normalised or scaled data, pass the layer with counts)"
               if values == "counts" else f"X is declared to hold {values}, which cannot be negative "
               "(z-scored or centred data are not supported)")
        )
    if values == "counts" and vals.size and not np.allclose(vals[: 1_000_000], np.round(vals[: 1_000_000])):
        warnings.warn(
            f"the {what} data are not integer-valued; they are treated as counts "
            "(pass raw counts if you have them)",
            stacklevel=2,
        )


def case_insensitive_matches(spatial_genes, reference_genes) -> dict[str, str]:
    """Spatial gene -> reference gene for pairs that match only when case is ignored (uniquely)."""
    exact = set(spatial_genes) & set(reference_genes)
    by_lower: dict[str, list[str]] = defaultdict(list)
    for g in reference_genes:
        if g not in exact:
            by_lower[g.lower()].append(g)
    out = {}
    for g in spatial_genes:
        if g in exact:
            continue
        cands = by_lower.get(g.lower(), [])
        if len(cands) == 1:
            out[g] = cands[0]
    return out


def shared_genes(data: PairedData) -> list[str]:
    """Genes measured in both data sets, in the spatial data's order."""
    ref = set(data.reference.var_names)
    return [g for g in data.spatial.var_names if g in ref]


def harmonize_gene_case(data: PairedData) -> PairedData:
    """Rename reference genes to the spatial spelling where they match only case-insensitively."""
    mapping = case_insensitive_matches(list(data.spatial.var_names), list(data.reference.var_names))
    if not mapping:
        return data
    inverse = {r: s for s, r in mapping.items()}
    ref = data.reference.copy()
    ref.var_names = [inverse.get(g, g) for g in ref.var_names]
    if ref.var_names.duplicated().any():
        raise InputError("renaming reference genes to the spatial spelling would create duplicated gene names")
    return dataclasses.replace(data, reference=ref, meta=dict(data.meta))


def split_control_probes(genes: list[str], keep: bool = False) -> tuple[list[str], list[str]]:
    """Separate negative-control probes (``Blank-*``, ``NegPrb*``, ``NegControl*``) from genes.

    Parameters
    ----------
    genes
        Shared genes, in order.
    keep
        Keep the probes among the genes (they are still reported).

    Returns
    -------
    (genes, probes)
        The genes of the cross-validation (without the probes unless ``keep``) and the probes
        found, both in the input order. A probe measures background, not a gene: scoring its
        "imputation" would reward predicting noise.
    """
    probes = control_probes(genes)
    if keep or not probes:
        return list(genes), probes
    drop = set(probes)
    return [g for g in genes if g not in drop], probes


def validate_pair(
    data: PairedData,
    *,
    min_shared: int = 2,
    need_labels: bool = False,
    need_coordinates: bool = False,
) -> list[str]:
    """Validate a paired data set; return the shared genes.

    Raises
    ------
    InputError
        Naming the first problem found.
    """
    check_counts(data.spatial, f"spatial ({data.name})", data.spatial_values)
    check_counts(data.reference, f"reference ({data.name})", data.reference_values)
    genes = shared_genes(data)
    ci = case_insensitive_matches(list(data.spatial.var_names), list(data.reference.var_names))
    if ci:
        examples = ", ".join(f"{s!r}~{r!r}" for s, r in list(ci.items())[:5])
        msg = (
            f"{len(ci)} spatial gene(s) match reference genes only when case is ignored ({examples}). "
            "Rename them so the spelling agrees, or pass --harmonize-gene-case to rename the reference "
            "genes to the spatial spelling."
        )
        if len(genes) < min_shared:
            raise InputError(f"only {len(genes)} gene(s) are shared exactly; {msg}")
        warnings.warn(msg + " They are left out for now.", stacklevel=2)
    if not genes:
        raise InputError(
            f"the spatial and reference data of {data.name!r} share no gene names "
            f"(spatial e.g. {list(data.spatial.var_names[:3])}, reference e.g. {list(data.reference.var_names[:3])})"
        )
    if len(genes) < min_shared:
        raise InputError(
            f"{data.name!r}: only {len(genes)} shared gene(s), but the protocol needs at least {min_shared} "
            "(every fold must hide at least one gene and keep at least one for training)"
        )
    if need_labels:
        if not data.label_key:
            raise InputError(f"{data.name!r} has no label column; give --label-key for cluster metrics")
        if data.label_key not in data.spatial.obs:
            raise InputError(
                f"label column {data.label_key!r} is not in the spatial obs of {data.name!r}; "
                f"available columns: {list(data.spatial.obs.columns)}"
            )
        if data.spatial.obs[data.label_key].isna().all():
            raise InputError(f"label column {data.label_key!r} of {data.name!r} has no values")
    if data.spatial_key is not None or need_coordinates:
        key = data.spatial_key or "spatial"
        if key not in data.spatial.obsm:
            raise InputError(
                f"spatial coordinates {key!r} are not in obsm of the spatial data of {data.name!r}; "
                f"available obsm keys: {list(data.spatial.obsm.keys())}"
            )
        coords = np.asarray(data.spatial.obsm[key])
        if coords.ndim != 2 or coords.shape[0] != data.spatial.n_obs or coords.shape[1] < 2:
            raise InputError(f"spatial coordinates {key!r} must be cells x 2 (or x 3) (got shape {coords.shape})")
    if data.field_key is not None:
        if data.field_key not in data.spatial.obs:
            raise InputError(
                f"field column {data.field_key!r} is not in the spatial obs of {data.name!r}; "
                f"available columns: {list(data.spatial.obs.columns)}"
            )
        if data.spatial.obs[data.field_key].isna().any():
            raise InputError(f"field column {data.field_key!r} of {data.name!r} has missing values; every cell "
                             "needs its coordinate frame")
    return genes
