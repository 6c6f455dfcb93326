"""Reading user files into AnnData with errors that say what is wrong."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import pandas as pd

from benchmark.errors import InputError


def read_anndata(path: str | Path, what: str = "data file") -> ad.AnnData:
    """Read an ``.h5ad`` file.

    Raises
    ------
    InputError
        If the file does not exist or is not an AnnData file.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{what} {path} does not exist")
    if path.is_dir():
        raise InputError(f"{what} {path} is a directory, not an .h5ad file")
    try:
        adata = ad.read_h5ad(path)
    except Exception as exc:  # h5py/anndata raise many kinds; the user needs one message
        raise InputError(
            f"{what} {path} could not be read as AnnData (.h5ad): {type(exc).__name__}: {exc}"
        ) from None
    return adata


def read_embeddings(path: str | Path) -> pd.DataFrame:
    """Read a genes x dimensions embedding table (parquet or csv, genes as the index)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"gene embedding file {path} does not exist")
    try:
        if path.suffix == ".parquet":
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(path, index_col=0)
    except Exception as exc:
        raise InputError(f"gene embedding file {path} could not be read: {type(exc).__name__}: {exc}") from None
    df.index = df.index.astype(str)
    return df
