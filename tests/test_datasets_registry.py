"""Datasets registry: manifest fields, missing files, sha256 checks, HVG selection, downloads."""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest

from benchmark.cli import main
from benchmark.datasets import all_datasets, get_dataset_spec, load_dataset
from benchmark.datasets.download import ChecksumError, download_file
from benchmark.datasets.hvg import select_hvg
from benchmark.datasets.synthetic import make_synthetic_pair
from benchmark.errors import InputError, UnknownNameError


def test_every_dataset_has_a_manifest_entry():
    for name, spec in all_datasets().items():
        m = spec.manifest(Path("/nonexistent"))
        for key in ("technology", "tissue", "organism", "source", "citation", "label key", "coordinate key"):
            assert m[key], f"{name}: manifest field {key!r} is empty"
        assert spec.n_spatial_cells and spec.n_genes, name
        assert spec.kind == "spatial" or spec.n_reference_cells, name
        assert set(spec.files) == set(spec.sha256), f"{name}: every file needs a sha256"
        assert all(len(h) == 64 for h in spec.sha256.values()), name
    assert get_dataset_spec("osmfish").duplicate_key == "source_duplicate"
    assert get_dataset_spec("osmfish_full").kind == "spatial"


def test_missing_file_names_file_and_folder(tmp_path):
    with pytest.raises(InputError) as exc:
        load_dataset("osmfish_full", tmp_path)
    msg = str(exc.value)
    assert "osmfish_full.h5ad" in msg and str(tmp_path) in msg and "--data-dir" in msg


def test_wrong_sha256_is_a_clear_error(tmp_path):
    spec = get_dataset_spec("osmfish")
    for f in spec.files:
        (tmp_path / f).write_bytes(b"not the real file")
    bad = hashlib.sha256(b"not the real file").hexdigest()
    with pytest.raises(InputError) as exc:
        load_dataset("osmfish", tmp_path, verify=True)
    msg = str(exc.value)
    assert "sha256" in msg and bad in msg and spec.sha256[spec.files[0]] in msg and str(tmp_path) in msg
    # the same through the CLI: exit code 2, message on stderr, nothing written
    code = main(["run", "--datasets", "osmfish", "--data-dir", str(tmp_path), "--verify-data",
                 "--out", str(tmp_path / "o")])
    assert code == 2 and not (tmp_path / "o").exists()
    assert main(["ls", "datasets", "--data-dir", str(tmp_path), "--verify"]) == 2


def test_unknown_and_spatial_only_names(tmp_path):
    with pytest.raises(UnknownNameError, match="self:osmfish_full"):
        get_dataset_spec("nosuch")
    with pytest.raises(UnknownNameError):
        get_dataset_spec("self:nosuch")


@pytest.mark.shared_data
def test_real_files_verify_and_osmfish_full(data_dir):
    assert set(get_dataset_spec("osmfish").verify(data_dir)) == set(get_dataset_spec("osmfish").files)
    spec = get_dataset_spec("osmfish_full")  # the data_dir fixture fails in CI if the file is missing
    spec.verify(data_dir)
    with pytest.raises(InputError, match="spatial-only.*self:osmfish_full"):
        load_dataset("osmfish_full", data_dir)
    pair = load_dataset("self:osmfish_full", data_dir)
    assert pair.spatial.n_obs + pair.reference.n_obs == spec.n_spatial_cells == 4839
    assert pair.spatial.n_vars == pair.reference.n_vars == spec.n_genes
    assert pair.spatial.obs["ClusterName"].nunique() > 20 and "Excluded" not in set(pair.spatial.obs["ClusterName"])


def test_ls_datasets_long_shows_manifest(capsys):
    assert main(["ls", "datasets"]) == 0
    text = capsys.readouterr().out
    assert "synthetic (default)" in text and "osmfish_full" in text and "source_duplicate" in text
    assert main(["ls", "datasets", "osmfish"]) == 0
    text = capsys.readouterr().out
    assert get_dataset_spec("osmfish").sha256["osmfish_spatial.h5ad"] in text
    assert "citation: Codeluppi" in text and "duplicate flag: source_duplicate" in text


def test_hvg_keeps_the_variable_genes_in_order():
    data = make_synthetic_pair(n_spatial=50, n_reference=300, n_shared=30, n_reference_only=10, seed=2)
    genes = list(data.spatial.var_names)
    top = select_hvg(data.reference, genes, 10)
    assert len(top) == 10 and top == [g for g in genes if g in set(top)]
    assert select_hvg(data.reference, genes, 100) == genes
    with pytest.raises(InputError):
        select_hvg(data.reference, genes, 1)
    sc = pytest.importorskip("scanpy")  # same genes as scanpy's "seurat" flavour
    ref = data.reference.copy()
    sc.pp.normalize_total(ref, target_sum=1e4)
    sc.pp.log1p(ref)
    ref = ref[:, genes].copy()
    sc.pp.highly_variable_genes(ref, flavor="seurat", n_top_genes=10)
    norm = ref.var["dispersions_norm"]
    cut = norm.sort_values(ascending=False).iloc[9]
    # same genes up to ties at the cut-off (2-gene bins give exact ties, broken differently)
    assert set(norm.index[norm > cut]) <= set(top) <= set(norm.index[norm >= cut])


# --- downloads, against a local server: never the network -------------------------------------

class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves one payload; honours ``Range: bytes=N-`` unless ``ranges`` is off."""

    payload = b""
    ranges = True
    requests: list[str | None] = []

    def do_GET(self):  # noqa: N802 - http.server's naming
        rng = self.headers.get("Range")
        type(self).requests.append(rng)
        body, status = self.payload, 200
        if rng and self.ranges:
            start = int(rng.split("=")[1].rstrip("-"))
            body, status = self.payload[start:], 206
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _RangeHandler.payload = np.random.default_rng(0).bytes(200_000)
    _RangeHandler.requests = []
    _RangeHandler.ranges = True
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _RangeHandler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/file.bin", _RangeHandler
    httpd.shutdown()


def test_download_resumes_with_range_and_checks_sha(server, tmp_path):
    url, handler = server
    payload = handler.payload
    sha = hashlib.sha256(payload).hexdigest()
    dest = tmp_path / "file.bin"
    (tmp_path / "file.bin.part").write_bytes(payload[:70_000])  # an interrupted earlier download
    assert download_file(url, dest, sha) == dest
    assert dest.read_bytes() == payload and handler.requests == ["bytes=70000-"]
    assert not (tmp_path / "file.bin.part").exists()
    download_file(url, dest, sha)  # complete and verified: no request at all
    assert len(handler.requests) == 1


def test_download_restarts_when_server_ignores_range(server, tmp_path):
    url, handler = server
    handler.ranges = False
    (tmp_path / "f.part").write_bytes(b"x" * 1000)
    download_file(url, tmp_path / "f", hashlib.sha256(handler.payload).hexdigest())
    assert (tmp_path / "f").read_bytes() == handler.payload


def test_download_wrong_sha_removes_partial(server, tmp_path):
    url, _ = server
    with pytest.raises(ChecksumError, match="expected 0000"):
        download_file(url, tmp_path / "g", "0" * 64)
    assert not (tmp_path / "g").exists() and not (tmp_path / "g.part").exists()


def test_download_file_url_resumes(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(bytes(range(256)) * 100)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "copy.bin.part").write_bytes(src.read_bytes()[:1234])
    download_file(src.as_uri(), tmp_path / "out" / "copy.bin", hashlib.sha256(src.read_bytes()).hexdigest())
    assert (tmp_path / "out" / "copy.bin").read_bytes() == src.read_bytes()
    with pytest.raises(InputError, match="could not download"):
        download_file((tmp_path / "absent.bin").as_uri(), tmp_path / "out" / "absent.bin")


def test_download_list_and_tissue_extract(tmp_path, capsys):
    """`download --list` names every entry; the tissue-osmfish extract step turns an archive laid
    out like the tissue-sc sdist (tests/data/*.txt) into .h5ad files (a fake archive: no network)."""
    import io
    import tarfile

    import anndata as ad

    from benchmark.datasets.download import DOWNLOADS

    assert main(["download", "--list", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in DOWNLOADS) and DOWNLOADS["tissue-osmfish"].sha256 in out
    files = {
        "tests/data/Spatial_count.txt": "Gfap\tAldoc\n1\t0\n3\t2\n",
        "tests/data/Locations.txt": "X\tY\n1.5\t2.0\n3.0\t4.5\n",
        "tests/data/scRNA_count.txt": "\tc1\tc2\tc3\nGfap\t5\t0\t1\nAldoc\t0\t7\t2\nMbp\t1\t1\t1\n",
    }
    archive = tmp_path / "fake.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"tissue_sc-1.0.1/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    sp_path, ref_path = DOWNLOADS["tissue-osmfish"].extract(archive, tmp_path / "x")
    sp, ref = ad.read_h5ad(sp_path), ad.read_h5ad(ref_path)
    assert sp.shape == (2, 2) and list(sp.var_names) == ["Gfap", "Aldoc"] and sp.X[1, 0] == 3
    assert np.allclose(sp.obsm["spatial"], [[1.5, 2.0], [3.0, 4.5]])
    assert ref.shape == (3, 3) and list(ref.obs_names) == ["c1", "c2", "c3"] and ref.X[1, 1] == 7
