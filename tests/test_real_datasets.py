"""The real datasets added with issue 19, their quirk repairs, value kinds, user-file self-pairing
and negative-control probes.

Tests marked ``shared_data`` read the data directory: skipped on a user's clone without the
files, failed in CI (``CI=true``), as ``tests/test_real_data.py``. The others build their data.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings

import anndata as ad
import numpy as np
import pytest

from benchmark.cli import main
from benchmark.datasets import get_dataset_spec, load_dataset
from benchmark.datasets.base import VALUE_KINDS, is_normalizable, is_raw_counts
from benchmark.datasets.quirks import (
    control_probes,
    fix_mangled_names,
    mouse_symbol_case,
    strip_quotes,
    tile_fields,
)
from benchmark.datasets.self_pair import duplicate_groups, make_self_pair
from benchmark.datasets.synthetic import make_synthetic_pair
from benchmark.datasets.validation import check_counts, validate_pair
from benchmark.errors import InputError
from benchmark.harness import RunConfig, load_and_validate, run_benchmark

NEW_DATASETS = ["osmfish_gpsfish_zeisel", "osmfish_full_zeisel", "seqfish_cortex_tasic", "bdtnp_drosophila",
                "molecular_cartography_cortex", "seqfish_hippocampus", "merfish_nucleus_accumbens"]


@pytest.fixture(scope="module")
def new_data_dir(data_dir):
    """The data directory with every file of the new datasets (skip on a clone, fail in CI)."""
    missing = sorted({f for n in NEW_DATASETS for f in get_dataset_spec(n).files if not (data_dir / f).is_file()})
    if missing:
        msg = f"new real data files not found in {data_dir}: {missing} (set $ST_IMPUTE_BENCH_DATA)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return data_dir


def _load(name, data_dir):
    spec = get_dataset_spec(name)
    return load_dataset(("self:" if spec.kind == "spatial" else "") + name, data_dir), spec


def _loaded_whole(name, data_dir):
    """The loader's output before any self-pair split."""
    return get_dataset_spec(name).loader(data_dir)


# --- every new dataset: manifest counts = what loads ---------------------------------------------

@pytest.mark.shared_data
@pytest.mark.parametrize("name", NEW_DATASETS)
def test_manifest_counts_match_the_loaded_data(new_data_dir, name):
    spec = get_dataset_spec(name)
    data = _loaded_whole(name, new_data_dir)
    assert data.spatial.n_obs == spec.n_spatial_cells
    assert data.spatial.n_vars == spec.n_genes
    if spec.kind == "paired":
        assert data.reference.n_obs == spec.n_reference_cells
        genes = validate_pair(data, min_shared=5, need_labels=data.label_key is not None)
        assert len(genes) == spec.n_genes  # every panel gene is in the reference, spelled the same
    else:
        assert data.reference is None
    assert (data.label_key, data.spatial_key, data.field_key, data.duplicate_key) == (
        spec.label_key, spec.spatial_key, spec.field_key, spec.duplicate_key)
    assert data.meta["values"] == {"spatial": spec.spatial_values, "reference": spec.reference_values}
    assert np.asarray(data.spatial.obsm[spec.spatial_key]).shape == (spec.n_spatial_cells, spec.coordinate_dims)
    assert data.spatial.var_names.is_unique and data.spatial.obs_names.is_unique


@pytest.mark.shared_data
def test_files_match_manifest_sha256(new_data_dir):
    for name in NEW_DATASETS:
        get_dataset_spec(name).verify(new_data_dir)  # raises, naming the file, on a mismatch


# --- quirks, per dataset --------------------------------------------------------------------------

@pytest.mark.shared_data
def test_osmfish_zeisel_pairs(new_data_dir):
    data = _loaded_whole("osmfish_gpsfish_zeisel", new_data_dir)
    assert data.reference.shape == (550, 17_894)
    # the 2,078 all-zero reference genes are gone, and only those
    assert (np.asarray((data.reference.X != 0).sum(axis=0)).ravel() > 0).all()
    assert set(data.spatial.obs["cell_type"]) == set(data.reference.obs["cell_type"])
    assert data.spatial.obs["cell_type"].nunique() == 11
    # duplicated cells of the release are flagged by the loader: 18 pairs with equal coordinates and counts
    flagged = data.spatial.obs["source_duplicate"].to_numpy()
    assert flagged.sum() == 36
    groups = duplicate_groups(data.spatial, "spatial", "source_duplicate")
    assert sorted(np.bincount(groups[flagged])[np.unique(groups[flagged])]) == [2] * 18
    full = _loaded_whole("osmfish_full_zeisel", new_data_dir)
    assert full.spatial.shape == (4839, 33) and full.spatial.obs["Valid"].eq(1).all()
    assert list(full.reference.var_names) == list(data.reference.var_names)


@pytest.mark.shared_data
def test_seqfish_cortex_names_capitalised_and_rank_values(new_data_dir):
    data = _loaded_whole("seqfish_cortex_tasic", new_data_dir)
    for adata in (data.spatial, data.reference):
        assert {"Tbr1", "Sox2", "Gm6377"} <= set(adata.var_names)
        assert not any(g == g.lower() and g[0].isalpha() for g in adata.var_names)
        assert list(adata.var["source_name"][:2]) == ["abca15", "abca9"]
    assert data.spatial_values == data.reference_values == "rank"
    assert not is_normalizable("rank") and not is_raw_counts("rank")
    assert data.spatial.X.max() == 101


@pytest.mark.shared_data
def test_bdtnp_not_counts_3d_and_case_kept(new_data_dir):
    data = _loaded_whole("bdtnp_drosophila", new_data_dir)
    assert (data.spatial_values, data.reference_values) == ("intensity", "lognorm")
    assert data.spatial.obsm["spatial"].shape == (3039, 3)
    assert {"eve", "Kr", "E(spl)m5-HLH"} <= set(data.spatial.var_names)  # FlyBase case is part of the symbol
    assert data.label_key is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # declared non-count values: no "not integer-valued" warning
        validate_pair(data, min_shared=5)


@pytest.mark.shared_data
def test_seqfish_hippocampus_quotes_case_and_fields(new_data_dir):
    data = _loaded_whole("seqfish_hippocampus", new_data_dir)
    names = list(data.spatial.var_names)
    assert not any("'" in g for g in names)
    assert {"Tal1", "Sst", "Gad1", "Palvb"} <= set(names)  # quotes off, lower case capitalised, typo kept
    src = dict(zip(names, data.spatial.var["source_name"]))
    assert src["Tal1"] == "'Tal1'" and src["Sst"] == "'sst'"
    assert data.field_key == "field" and data.spatial.obs["field"].nunique() == 21
    _assert_fields_tiled(data, k=10)


@pytest.mark.shared_data
def test_molecular_cartography_sections(new_data_dir):
    data = _loaded_whole("molecular_cartography_cortex", new_data_dir)
    assert data.field_key == "sample"
    assert data.spatial.obs["sample"].value_counts().to_dict() == {"B1": 4459, "A2": 3794, "A1": 3522}
    _assert_fields_tiled(data, k=15)
    # the self-pair split is stratified by section: each gives half its cells (rounded) to the reference
    pair = make_self_pair(data, seed=3)
    ref_counts = pair.reference.obs["sample"].value_counts()
    for section, n in data.spatial.obs["sample"].value_counts().items():
        assert ref_counts[section] == round(n / 2)
    assert pair.field_key == "sample" and pair.meta["self_pair"]["stratified_by"] == "sample"


def _assert_fields_tiled(data, k):
    """Per-field coordinates are kept, tiles do not overlap, and every cell's k nearest neighbours
    in the tiled frame lie in its own field (in the raw per-field frame many do not)."""
    from scipy.spatial import cKDTree

    fields = data.spatial.obs[data.field_key].astype(str).to_numpy()
    raw = np.asarray(data.spatial.obsm["spatial_field"])
    tiled = np.asarray(data.spatial.obsm["spatial"])
    for f in np.unique(fields):
        m = fields == f
        shift = tiled[m] - raw[m]
        assert np.allclose(shift, shift[0])  # a pure translation within a field

    def cross_field_fraction(coords):
        _, idx = cKDTree(coords).query(coords, k=k + 1)
        return float((fields[idx[:, 1:]] != fields[:, None]).mean())

    assert cross_field_fraction(tiled) == 0.0
    assert cross_field_fraction(raw) > 0.1  # the repair is needed: raw frames overlap


@pytest.mark.shared_data
def test_merfish_mangled_name_restored_and_values_declared(new_data_dir):
    data = _loaded_whole("merfish_nucleus_accumbens", new_data_dir)
    assert "3/1/2018" not in data.spatial.var_names and "March1" in data.spatial.var_names
    assert data.spatial.var.loc["March1", "source_name"] == "3/1/2018"
    assert data.meta["dropped_all_zero_genes"] == ["Chrna3", "Tacr1", "Tmem212", "Penk", "Sst"]
    assert data.spatial_values == "normalized" and is_normalizable("normalized") and not is_raw_counts("normalized")
    assert data.spatial.obs["CellType"].nunique() == 8
    pair = load_dataset("self:merfish_nucleus_accumbens", new_data_dir)
    assert pair.reference_values == "normalized"  # the reference half is the same measurement


# --- value kinds, quirk helpers (no data directory needed) ----------------------------------------

def test_value_kinds_are_checked_and_recorded(tiny_pair):
    assert set(VALUE_KINDS) == {"counts", "normalized", "lognorm", "intensity", "rank"}
    with pytest.raises(InputError, match="spatial_values must be one of"):
        dataclasses.replace(tiny_pair, spatial_values="tpm")
    d = dataclasses.replace(tiny_pair, reference_values="lognorm")
    assert d.meta["values"] == {"spatial": "counts", "reference": "lognorm"}
    x = ad.AnnData(np.array([[0.5, 1.2], [2.0, 0.1]], dtype=np.float32))
    with pytest.warns(UserWarning, match="not integer-valued"):
        check_counts(x, "spatial")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_counts(x, "spatial", "intensity")
    x.X[0, 0] = -1
    with pytest.raises(InputError, match="declared to hold lognorm"):
        check_counts(x, "spatial", "lognorm")


def test_quirk_helpers_refuse_to_guess():
    assert strip_quotes(["'Tal1'", '"Sst"', "Gad1"]) == ["Tal1", "Sst", "Gad1"]
    with pytest.raises(InputError, match="would both become 'Tal1'"):
        strip_quotes(["'Tal1'", "Tal1"])
    assert mouse_symbol_case(["gad1", "Gad2", "4930452B06Rik", "e(spl)"]) == ["Gad1", "Gad2", "4930452B06Rik",
                                                                              "E(spl)"]
    with pytest.raises(InputError, match="unique"):
        mouse_symbol_case(["sst", "Sst"])
    assert fix_mangled_names(["3/1/2018", "Adk"], {"3/1/2018": "March1"}) == ["March1", "Adk"]
    with pytest.raises(InputError, match="look like dates"):
        fix_mangled_names(["3/1/2018", "9/1/2018"], {"3/1/2018": "March1"})
    with pytest.raises(InputError, match="source release changed"):
        fix_mangled_names(["Adk"], {"3/1/2018": "March1"})
    with pytest.raises(InputError, match="sqrt"):
        tile_fields(np.zeros((2, 2)), ["a", "b"], gap_factor=1.0)


def test_control_probe_pattern():
    names = ["Blank-0001", "Blank_12", "NegPrb12", "NegControlProbe_00042", "NegControlCodeword_0500", "Gad1",
             "Blnk", "Blankenship"]
    assert control_probes(names) == names[:5]


# --- runs through run_benchmark -------------------------------------------------------------------

@pytest.mark.shared_data
@pytest.mark.parametrize("name", ["osmfish_gpsfish_zeisel", "self:seqfish_hippocampus"])
def test_tiny_run_on_a_new_dataset(new_data_dir, tmp_path, name):
    cfg = RunConfig(datasets=[name], methods=["mean", "knn"], n_folds=2, cluster=False, data_dir=new_data_dir,
                    out=tmp_path / "run")
    res = run_benchmark(cfg, progress=False)
    assert res.failures == []
    s = res.summary.loc[name]
    assert s.loc["knn", "gene_pcc"] > s.loc["mean", "gene_pcc"] + 0.1
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    meta = run["datasets"][name]["meta"]
    assert meta["values"] == {"spatial": "counts", "reference": "counts"}
    if name.startswith("self:"):
        assert meta["field_key"] == "field" and meta["self_pair"]["stratified_by"] == "field"


# --- a user's single spatial file -----------------------------------------------------------------

@pytest.fixture
def spatial_file(tmp_path):
    pair = make_synthetic_pair(n_spatial=300, n_reference=50, n_shared=12, n_reference_only=0, n_types=3,
                               n_modules=3, seed=4)
    assert "spatial" in pair.spatial.obsm
    path = tmp_path / "mine.h5ad"
    pair.spatial.write_h5ad(path)
    return path, pair


def test_spatial_file_alone_is_self_paired(spatial_file, tmp_path, capsys):
    path, pair = spatial_file
    out = tmp_path / "out"
    code = main(["run", "--spatial", str(path), "--methods", "mean", "knn", "--folds", "2", "--no-cluster",
                 "--self-pair-seed", "7", "--out", str(out), "--quiet"])
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    notes = [line for line in captured.err.splitlines() if "self-pairing" in line]
    assert len(notes) == 1 and "seed 7" in notes[0] and str(path) in notes[0]
    run = json.loads((out / "run.json").read_text())
    info = run["datasets"]["self:mine"]
    # the same split as self:NAME with the same options
    expected = make_self_pair(dataclasses.replace(pair, name="mine", spatial_key="spatial"), seed=7)
    assert info["n_spatial_cells"] == expected.spatial.n_obs and info["n_reference_cells"] == expected.reference.n_obs
    assert info["meta"]["self_pair"]["seed"] == 7
    # --spatial-key defaulted to the scverse 'spatial': the grid SSIM was computed, not skipped
    import pandas as pd

    res = pd.read_parquet(out / "results.parquet")
    ssim = res[(res["metric"] == "ssim_grid") & (res["dataset"] == "self:mine")]
    assert len(ssim) and not (ssim["stat"] == "skipped").any()


def test_spatial_key_default_needs_well_formed_coordinates(spatial_file, tmp_path):
    from benchmark.harness import UserData, _load_user_data

    path, pair = spatial_file
    sp_ = pair.spatial.copy()
    sp_.obsm["spatial"] = np.zeros((sp_.n_obs, 1))
    bad = tmp_path / "bad.h5ad"
    sp_.write_h5ad(bad)
    ref = tmp_path / "ref.h5ad"
    pair.reference.write_h5ad(ref)
    assert _load_user_data(UserData(path, ref)).spatial_key == "spatial"
    assert _load_user_data(UserData(bad, ref)).spatial_key is None


def test_reference_without_spatial_is_an_error(spatial_file, tmp_path, capsys):
    path, _ = spatial_file
    code = main(["run", "--reference", str(path), "--methods", "mean", "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 2 and "--reference needs --spatial" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


# --- negative-control probes ----------------------------------------------------------------------

def _with_probes():
    pair = make_synthetic_pair(n_spatial=200, n_reference=250, n_shared=12, n_reference_only=5, n_types=3,
                               n_modules=3, seed=5, name="probes")
    rename = {pair.spatial.var_names[0]: "Blank-0001", pair.spatial.var_names[1]: "NegPrb3",
              pair.spatial.var_names[2]: "NegControlProbe_00007"}
    for a in (pair.spatial, pair.reference):
        a.var_names = [rename.get(g, g) for g in a.var_names]
    return pair, list(rename.values())


def test_control_probes_leave_the_gene_cv_by_default(tmp_path):
    pair, probes = _with_probes()
    cfg = RunConfig(methods=["mean"], n_folds=3, cluster=False, out=tmp_path / "o")
    [(data, genes)] = load_and_validate(cfg, [pair])
    assert not set(probes) & set(genes) and len(genes) == 9
    assert data.meta["control_probes"] == {"names": probes, "in_gene_cv": False}
    res = run_benchmark(cfg, [_with_probes()[0]], progress=False)
    scored = set(res.results.query("scope == 'gene' and stat == 'value'")["item"])
    assert scored and not set(probes) & scored


def test_control_probes_kept_on_request(tmp_path):
    pair, probes = _with_probes()
    from benchmark.cli import build_parser
    from benchmark.run_config import build_run_config, parse_config, to_run_config

    cfg = RunConfig(methods=["mean"], n_folds=3, cluster=False, out=tmp_path / "o", keep_control_probes=True)
    assert build_run_config(build_parser().parse_args(["run", "--keep-control-probes"])).keep_control_probes
    assert to_run_config(parse_config({"keep_control_probes": True})).keep_control_probes
    [(data, genes)] = load_and_validate(cfg, [pair])
    assert set(probes) <= set(genes) and len(genes) == 12
    assert data.meta["control_probes"]["in_gene_cv"] is True


def test_self_pair_without_fields_is_unchanged(tiny_pair):
    """No field key: the split is the one the earlier code drew (same seed, same cells)."""
    pair = make_self_pair(tiny_pair, seed=0)
    groups = duplicate_groups(tiny_pair.spatial, tiny_pair.spatial_key, tiny_pair.duplicate_key)
    n_groups = int(groups.max()) + 1
    ref_groups = np.random.default_rng(0).permutation(n_groups)[: int(round(0.5 * n_groups))]
    assert list(pair.reference.obs_names) == list(tiny_pair.spatial.obs_names[np.isin(groups, ref_groups)])
    assert pair.meta["self_pair"]["stratified_by"] is None
