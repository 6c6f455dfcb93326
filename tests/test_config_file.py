"""`run --config FILE.yaml`: every run option, validation errors naming the field, CLI overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.cli import build_parser, main
from benchmark.errors import InputError
from benchmark.run_config import build_run_config, load_config_file

FULL = """
datasets: [synthetic-small, self:osmfish_full]
methods: [mean, knn]
params: {knn: {k: 7}}
seeds: [1, 2]
quick: true
protocol: cellsplit
folds: 4
holdout_fraction: 0.8
repeats: 2
preprocessing: scran
hvg: 12
cluster: false
cluster_resolution: 0.5
cluster_neighbors: 10
cluster_pcs: 20
user_data:
  - {spatial: sp.h5ad, reference: /abs/ref.h5ad, name: mine, label_key: ct, spatial_key: xy, layer: counts}
harmonize_gene_case: true
self_pair_seed: 3
self_pair_fraction: 0.4
verify_data: true
out: results
cache_dir: null
data_dir: data
time_budget: 60
retry_failed: true
isolation: false
device: cpu
executor: dask
workers: 2
"""


def _cfg(tmp_path: Path, text: str, *argv: str):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    args = build_parser().parse_args(["run", "--config", str(path), *argv])
    return build_run_config(args)


def test_every_option_from_yaml(tmp_path):
    cfg = _cfg(tmp_path, FULL)
    assert cfg.datasets == ["synthetic-small", "self:osmfish_full"] and cfg.methods == ["mean", "knn"]
    assert cfg.method_params == {"knn": {"k": 7}} and cfg.seeds == [1, 2] and cfg.quick
    assert (cfg.protocol, cfg.n_folds, cfg.holdout_fraction, cfg.repeats) == ("cellsplit", 4, 0.8, 2)
    assert cfg.preprocessing == "scran" and cfg.hvg == 12 and cfg.cluster is False
    cp = cfg.cluster_params
    assert (cp.resolution, cp.n_neighbors, cp.n_pcs) == (0.5, 10, 20)
    (u,) = cfg.user_data
    assert u.spatial == tmp_path / "sp.h5ad" and u.reference == Path("/abs/ref.h5ad")  # relative to the file
    assert (u.name, u.label_key, u.spatial_key, u.layer) == ("mine", "ct", "xy", "counts")
    assert cfg.harmonize_gene_case and cfg.verify_data and cfg.retry_failed and not cfg.isolate
    assert (cfg.self_pair_seed, cfg.self_pair_fraction) == (3, 0.4)
    assert cfg.out == tmp_path / "results" and cfg.data_dir == tmp_path / "data" and cfg.cache_dir is None
    assert cfg.time_budget == 60.0 and cfg.device == "cpu"
    assert (cfg.executor, cfg.dask_workers, cfg.scheduler) == ("dask", 2, None)


def test_flags_override_the_file(tmp_path):
    cfg = _cfg(tmp_path, FULL, "--seeds", "5", "--method-param", "knn.n_pcs=3", "--protocol", "kfold",
               "--label-key", "other", "--no-cluster", "--out", "elsewhere")
    assert cfg.seeds == [5] and cfg.protocol == "kfold" and cfg.out == Path("elsewhere")
    assert cfg.method_params == {"knn": {"k": 7, "n_pcs": 3}}  # merged per parameter
    assert cfg.user_data[0].label_key == "other" and cfg.user_data[0].name == "mine"
    assert cfg.repeats == 2  # not given on the command line: the file's value
    cfg = _cfg(tmp_path, FULL, "--spatial", "a.h5ad", "--reference", "b.h5ad")
    assert [(u.spatial, u.reference) for u in cfg.user_data] == [(Path("a.h5ad"), Path("b.h5ad"))]


def test_no_file_gives_runconfig_defaults():
    from benchmark.harness import RunConfig

    cfg = build_run_config(build_parser().parse_args(["run"]))
    assert cfg == RunConfig()


@pytest.mark.parametrize("text, field, what", [
    ("folds: 5\nseedz: [1]\n", "seedz", "did you mean 'seeds'"),
    ("folds: five\n", "folds", "an integer"),
    ("folds: 1\n", "folds", "at least 2"),
    ("quick: yes please\n", "quick", "true or false"),
    ("protocol: bootstrap\n", "protocol", "kfold, holdout, cellsplit"),
    ("holdout_fraction: 1.5\n", "holdout_fraction", "between 0.0 and 1.0"),
    ("seeds: [0, one]\n", "seeds[1]", "an integer"),
    ("params: {knn: 3}\n", "params.knn", "mapping"),
    ("user_data: [{reference: b.h5ad}]\n", "user_data[0]", "'spatial' is required"),  # a reference alone
    ("user_data: [{spatial: a.h5ad, reference: b.h5ad, labelkey: x}]\n", "user_data[0].labelkey",
     "did you mean 'label_key'"),
    ("device: tpu\n", "device", "cpu, cuda, auto"),
    ("executor: slurm\n", "executor", "serial, dask"),
    ("time_budget: -1\n", "time_budget", "at least 0.0"),
    ("- a\n- b\n", None, "mapping of run options"),
])
def test_validation_errors_name_the_field(tmp_path, text, field, what):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as exc:
        load_config_file(path)
    msg = str(exc.value)
    assert str(path) in msg and what in msg
    if field:
        assert repr(field) in msg


def test_bad_yaml_missing_file_and_bad_scheme(tmp_path, capsys):
    with pytest.raises(InputError, match="does not exist"):
        load_config_file(tmp_path / "none.yaml")
    (tmp_path / "broken.yaml").write_text("folds: [1, 2\n")
    with pytest.raises(InputError, match="not valid YAML"):
        load_config_file(tmp_path / "broken.yaml")
    with pytest.raises(InputError, match="'preprocessing': must be one of spage, tangram, scran, raw, got 'rpkm'"):
        _cfg(tmp_path, "preprocessing: rpkm\n")
    with pytest.raises(InputError, match="--label-key"):
        build_run_config(build_parser().parse_args(["run", "--label-key", "x"]))
    assert main(["run", "--config", str(tmp_path / "broken.yaml")]) == 2
    assert "not valid YAML" in capsys.readouterr().err


def test_user_data_run_from_yaml(tmp_path, tiny_pair):
    tiny_pair.spatial.write_h5ad(tmp_path / "sp.h5ad")
    tiny_pair.reference.write_h5ad(tmp_path / "ref.h5ad")
    (tmp_path / "run.yaml").write_text(
        "methods: [mean]\nfolds: 3\ncluster: false\nisolation: false\nout: out\n"
        "user_data:\n  - {spatial: sp.h5ad, reference: ref.h5ad, name: mine, label_key: cell_type,"
        " spatial_key: spatial}\n")
    assert main(["run", "--config", str(tmp_path / "run.yaml"), "--quiet"]) == 0
    assert (tmp_path / "out" / "summary.csv").is_file()
