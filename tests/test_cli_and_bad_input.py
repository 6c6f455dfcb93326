"""The CLI, and clear errors (exit code 2, no files left behind) for each kind of bad input."""

from __future__ import annotations

import subprocess
import sys

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from benchmark.cli import main
from benchmark.datasets.synthetic import make_synthetic_pair
from benchmark.methods.base import Method, MethodInfo

from _helpers import registered


@pytest.fixture
def files(tmp_path):
    pair = make_synthetic_pair(n_spatial=150, n_reference=200, n_shared=10, n_reference_only=10, n_types=3,
                               n_modules=3, seed=2)
    return tmp_path, pair.spatial, pair.reference


def _write(tmp_path, spatial, reference):
    sp_path, ref_path = tmp_path / "sp.h5ad", tmp_path / "ref.h5ad"
    spatial.write_h5ad(sp_path)
    reference.write_h5ad(ref_path)
    return sp_path, ref_path


def _run(capsys, tmp_path, *extra, spatial=None, reference=None):
    out = tmp_path / "out"
    argv = ["run", "--methods", "mean", "--folds", "3", "--out", str(out), "--quiet"]
    if spatial is not None:
        argv += ["--spatial", str(spatial), "--reference", str(reference)]
    code = main(argv + list(extra))
    captured = capsys.readouterr()
    return code, captured.out + captured.err, out


def test_user_files_run(files, capsys):
    tmp_path, sp, ref = files
    s, r = _write(tmp_path, sp, ref)
    code, text, out = _run(capsys, tmp_path, "--label-key", "cell_type", spatial=s, reference=r)
    assert code == 0, text
    assert "mean" in text and "cell_css" in text and (out / "results.parquet").is_file()


def _bad_cases():
    def no_shared(sp, ref):
        ref.var_names = [f"Other{i}" for i in range(ref.n_vars)]

    def too_few(sp, ref):
        keep = list(sp.var_names[:2]) + [g for g in ref.var_names if g not in set(sp.var_names)]
        return sp, ref[:, keep].copy()

    def dup_genes(sp, ref):
        sp.var_names = [sp.var_names[0]] + list(sp.var_names[1:-1]) + [sp.var_names[0]]

    def dup_cells(sp, ref):
        sp.obs_names = ["c0"] * 2 + list(sp.obs_names[2:])

    def nan(sp, ref):
        sp.X[0, 0] = np.nan

    def inf(sp, ref):
        ref.X[3, 1] = np.inf

    def negative(sp, ref):
        sp.X[1, 1] = -3

    def empty(sp, ref):
        return sp[:0].copy(), ref

    def case_only(sp, ref):
        ref.var_names = [g.upper() for g in ref.var_names]

    def missing_labels(sp, ref):
        pass

    def missing_coords(sp, ref):
        del sp.obsm["spatial"]

    return {
        "no_shared": (no_shared, [], "share no gene names"),
        "too_few": (too_few, [], "only 2 shared gene"),
        "dup_genes": (dup_genes, [], "duplicated gene name"),
        "dup_cells": (dup_cells, [], "duplicated cell name"),
        "nan": (nan, [], "NaN"),
        "inf": (inf, [], "infinite"),
        "negative": (negative, [], "negative value"),
        "empty": (empty, [], "empty"),
        "case_only": (case_only, [], "--harmonize-gene-case"),
        "missing_labels": (missing_labels, ["--label-key", "celltype_missing"], "label column 'celltype_missing'"),
        "missing_coords": (missing_coords, ["--spatial-key", "spatial"], "spatial coordinates 'spatial'"),
    }


@pytest.mark.parametrize("case", list(_bad_cases()))
def test_bad_input_gives_clear_error_and_no_files(files, capsys, case):
    tmp_path, sp, ref = files
    mutate, extra, message = _bad_cases()[case]
    changed = mutate(sp, ref)
    if changed is not None:
        sp, ref = changed
    s, r = _write(tmp_path, sp, ref)
    code, text, out = _run(capsys, tmp_path, *extra, spatial=s, reference=r)
    assert code == 2
    assert message in text, text
    assert "Traceback" not in text
    assert not out.exists()  # nothing is written for bad input


def test_case_mismatch_can_be_harmonised(files, capsys):
    tmp_path, sp, ref = files
    ref.var_names = [g.upper() for g in ref.var_names]
    s, r = _write(tmp_path, sp, ref)
    code, text, _ = _run(capsys, tmp_path, "--harmonize-gene-case", spatial=s, reference=r)
    assert code == 0, text


def test_missing_and_non_anndata_files(tmp_path, capsys):
    code, text, out = _run(capsys, tmp_path, spatial=tmp_path / "nope.h5ad", reference=tmp_path / "nope2.h5ad")
    assert code == 2 and "does not exist" in text and not out.exists()
    bogus = tmp_path / "bogus.h5ad"
    bogus.write_text("cell,gene\n1,2\n")
    code, text, out = _run(capsys, tmp_path, spatial=bogus, reference=bogus)
    assert code == 2 and "could not be read as AnnData" in text and "Traceback" not in text


def test_folds_larger_than_genes(files, capsys):
    tmp_path, sp, ref = files
    s, r = _write(tmp_path, sp, ref)
    code, text, out = _run(capsys, tmp_path, "--folds", "50", spatial=s, reference=r)
    assert code == 2 and "shared gene" in text and not out.exists()


def test_unknown_names_list_valid_ones(tmp_path, capsys):
    code = main(["run", "--methods", "nosuchmethod", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "unknown method 'nosuchmethod'" in err and "knn" in err and "mean" in err
    code = main(["run", "--datasets", "nosuchdata", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "unknown dataset 'nosuchdata'" in err and "synthetic" in err
    code = main(["run", "--methods", "knn", "--method-param", "knn.nope=3", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "no parameter(s) ['nope']" in err and "n_pcs" in err
    assert not (tmp_path / "o").exists()


def test_missing_data_directory_file_is_named(tmp_path, capsys):
    code = main(["run", "--datasets", "osmfish", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "osmfish_spatial.h5ad" in err and str(tmp_path) in err


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["ls", "--help"]])
def test_help(argv):
    res = subprocess.run([sys.executable, "-m", "benchmark", *argv], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "usage:" in res.stdout


def test_ls(capsys):
    class NeedsMissing(Method):
        info = MethodInfo(name="needs-missing", summary="needs a package that is not installed",
                          requires=("surely_not_installed_pkg_xyz",), install_hint="pip install surely-not")

    with registered(NeedsMissing):
        assert main(["ls", "methods"]) == 0
        text = capsys.readouterr().out
    assert "knn" in text and "mean" in text
    line = next(ln for ln in text.splitlines() if ln.startswith("needs-missing"))
    assert " no " in line and "pip install surely-not" in line
    assert main(["ls", "datasets"]) == 0
    text = capsys.readouterr().out
    assert "synthetic (default)" in text and "osmfish" in text
    assert main(["ls", "metrics"]) == 0
    text = capsys.readouterr().out
    assert "css" in text and "completeness" in text and "lower" in text


def test_run_prints_summary(tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "benchmark", "run", "--datasets", "synthetic-small", "--methods", "mean", "knn",
         "--out", str(tmp_path / "o"), "--quiet"], capture_output=True, text=True, timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert "knn" in res.stdout and "mean" in res.stdout and "cluster_ari" in res.stdout
    df = pd.read_csv(tmp_path / "o" / "summary.csv")
    assert set(df["method"]) == {"knn", "mean"}


def test_user_anndata_in_memory_api(files, tmp_path):
    """The Python API takes AnnData objects directly."""
    from benchmark.datasets import PairedData
    from benchmark.harness import RunConfig, run_benchmark

    _, sp, ref = files
    res = run_benchmark(RunConfig(methods=["knn"], n_folds=3, out=tmp_path / "api"),
                        [PairedData("mine", sp, ref, label_key="cell_type")], progress=False)
    assert ("mine", "knn") in res.summary.index
    assert isinstance(sp, ad.AnnData) and "counts" not in sp.layers  # the caller's objects are untouched


def test_methods_all_expands_to_every_available_method():
    from benchmark.harness import RunConfig, resolve_methods
    from benchmark.methods import available_methods

    from benchmark.methods import _env_unbuilt

    assert set(resolve_methods(RunConfig(methods=["all"]))) == {m for m in available_methods() if not _env_unbuilt(m)}
    assert resolve_methods(RunConfig(methods=["knn", "all"]))[0] == "knn"


def test_exclude_methods_from_the_command_line_and_config(tmp_path):
    from benchmark.cli import build_parser
    from benchmark.errors import InputError, UnknownNameError
    from benchmark.harness import RunConfig, resolve_methods
    from benchmark.methods import available_methods
    from benchmark.run_config import build_run_config

    args = build_parser().parse_args(["run", "--methods", "all", "--exclude-methods", "knn", "mean"])
    cfg = build_run_config(args)
    assert cfg.exclude_methods == ["knn", "mean"]
    names = resolve_methods(cfg)
    from benchmark.methods import _env_unbuilt

    assert set(names) == {m for m in available_methods() if not _env_unbuilt(m)} - {"knn", "mean"}
    yaml_file = tmp_path / "run.yaml"
    yaml_file.write_text("methods: [mean, knn]\nexclude_methods: [knn]\n")
    assert resolve_methods(build_run_config(build_parser().parse_args(["run", "--config", str(yaml_file)]))) == ["mean"]
    with pytest.raises(UnknownNameError, match="knnn"):  # a typo must not silently exclude nothing
        resolve_methods(RunConfig(methods=["all"], exclude_methods=["knnn"]))
    with pytest.raises(InputError, match="no method left"):
        resolve_methods(RunConfig(methods=["knn"], exclude_methods=["knn"]))
    from benchmark.scale import ScaleConfig, resolve_scale_methods

    scale_args = build_parser().parse_args(["scale", "--methods", "mean", "knn", "--exclude-methods", "knn"])
    assert resolve_scale_methods(ScaleConfig(methods=scale_args.methods,
                                             exclude_methods=scale_args.exclude_methods)) == ["mean"]


def test_rebuilt_command_keeps_the_exclusions():
    """A run started from Python is reproduced by a command rebuilt from its configuration."""
    from benchmark.leaderboard import _cli_command

    cmd = _cli_command({"command": ["python"], "config": {"methods": ["all"], "exclude_methods": ["cellpin"]}})
    assert "--methods all --exclude-methods cellpin" in cmd
