"""The ``run`` option table (benchmark/run_config.py): every option survives the trip from a
configuration to the reproducing command (and to YAML) and back; the table covers every
RunConfig field; old and RunConfig names of a YAML key are both read."""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path

import pytest

from benchmark.cli import build_parser
from benchmark.errors import InputError
from benchmark.harness import RunConfig, UserData
from benchmark.leaderboard import _cli_command
from benchmark.metrics import ClusterParams
from benchmark.run_config import (
    ALIASES,
    FIELDS,
    OPTIONS,
    build_run_config,
    command_args,
    parse_config,
    to_run_config,
)

#: RunConfig settings that are not run options, with the reason.
NOT_OPTIONS = {"cluster_params.scale": "an internal switch of the cluster metrics, not exposed on purpose"}


def _everything_changed() -> RunConfig:
    """A configuration in which every option has a value other than its default."""
    return RunConfig(
        datasets=["synthetic-small", "self:osmfish_full"], methods=["mean", "knn"], exclude_methods=["cellpin"],
        # "10" must stay a string and [1, 2] a list through --method-param's YAML reading
        method_params={"knn": {"k": 7, "metric": "10"}, "mean": {"grid": [1, 2], "flag": True}},
        protocol="cellsplit", n_folds=4, holdout_fraction=0.8, repeats=2, seeds=[1, 2], out=Path("o"),
        cache_dir=Path("c"), data_dir=Path("d"), quick=True, time_budget=60.0, isolate=False, retry_failed=True,
        device="auto", preprocessing="scran", scoring_space="counts", cluster=False,
        cluster_params=ClusterParams(n_neighbors=10, n_pcs=20, resolution=0.5),
        user_data=[UserData(Path("sp.h5ad"), Path("ref.h5ad"), "mine", "ct", "xy", "counts", Path("emb.csv"))],
        harmonize_gene_case=True, hvg=12, verify_data=True, self_pair_seed=3, self_pair_fraction=0.4,
        executor="dask", scheduler="tcp://host:8786", dask_workers=2, keep_control_probes=True, tune=True,
        tune_budget=2, tune_folds=4, tune_cells=500, tuned_only=True,
    )


def _settings(cfg) -> dict[str, object]:
    """Every leaf setting of a RunConfig: ``{"n_folds": 5, "cluster_params.resolution": 1.0, ...}``."""
    out = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            out.update({f"{f.name}.{k}": v for k, v in dataclasses.asdict(value).items()})
        else:
            out[f.name] = value
    return out


def test_the_table_covers_every_runconfig_setting():
    covered = {o.attr.split(".")[0] if o.kind == "user" else o.attr for o in OPTIONS if o.attr is not None}
    missing = set(_settings(RunConfig())) - covered - set(NOT_OPTIONS)
    assert not missing, f"RunConfig settings without an entry in run_config.OPTIONS: {sorted(missing)}"
    # ... and the test configuration changes each of them, so the round trips below test them all
    default, changed = _settings(RunConfig()), _settings(_everything_changed())
    assert [k for k in default if k not in NOT_OPTIONS and default[k] == changed[k]] == []
    flags = [o.flag for o in OPTIONS]
    assert len(flags) == len(set(flags)) and len(FIELDS) == len({o.yaml_key for o in OPTIONS if o.attr
                                                                  and o.kind != "user"}) + 1


def test_every_option_round_trips_through_the_reproducing_command():
    cfg = _everything_changed()
    command = _cli_command({"command": ["python"], "config": cfg.to_json()})  # a run started from Python
    argv = shlex.split(command)
    assert argv[:4] == ["python", "-m", "benchmark", "run"]
    again = build_run_config(build_parser().parse_args(argv[3:]))
    assert again == cfg
    # the options the command rebuilt by hand used to drop
    for flag in ("--folds 4", "--hvg 12", "--cluster-resolution 0.5", "--cluster-neighbors 10", "--cluster-pcs 20",
                 "--time-budget 60.0", "--device auto", "--self-pair-seed 3", "--self-pair-fraction 0.4"):
        assert f" {flag}" in command, flag


def test_every_option_round_trips_through_yaml():
    cfg = _everything_changed()
    recorded = cfg.to_json()
    raw = {}
    for opt in OPTIONS:
        if opt.attr is None or opt.kind == "user":
            continue
        value = recorded
        for part in opt.attr.split("."):
            value = value[part]
        raw[opt.yaml_key] = value
    raw["user_data"] = recorded["user_data"]
    assert to_run_config(parse_config(raw)) == cfg


def test_a_default_run_rebuilds_the_bare_command():
    assert command_args(RunConfig().to_json()) == []
    assert _cli_command({"config": RunConfig().to_json()}) == "python -m benchmark run"
    assert command_args({}) == []  # a run.json recorded before any option: the defaults
    # one option changed, one written: nothing else leaks into the command
    assert command_args(RunConfig(protocol="cellsplit", n_folds=3).to_json()) == ["--protocol", "cellsplit",
                                                                                  "--folds", "3"]


def test_runconfig_names_are_read_as_aliases_of_the_yaml_keys():
    assert {"n_folds": "folds", "isolate": "isolation", "method_params": "params",
            "dask_workers": "workers"}.items() <= ALIASES.items()
    by_alias = to_run_config(parse_config({"n_folds": 3, "isolate": False, "method_params": {"knn": {"k": 3}},
                                           "dask_workers": 2}))
    by_key = to_run_config(parse_config({"folds": 3, "isolation": False, "params": {"knn": {"k": 3}}, "workers": 2}))
    assert by_alias == by_key
    assert (by_key.n_folds, by_key.isolate, by_key.method_params, by_key.dask_workers) == (3, False, {"knn": {"k": 3}},
                                                                                           2)
    with pytest.raises(InputError, match="'folds' and 'n_folds' are the same option"):
        parse_config({"folds": 3, "n_folds": 4})
    with pytest.raises(InputError, match="config field 'n_folds': must be at least 2"):
        parse_config({"n_folds": 1})  # errors name the key as written


def test_a_run_json_config_block_reads_as_a_config_file():
    """``run.json`` records RunConfig names; every recorded option is a valid key (paths and
    cluster parameters aside, which it records nested)."""
    recorded = _everything_changed().to_json()
    flat = {k: v for k, v in recorded.items() if k != "cluster_params"}
    cfg = to_run_config(parse_config(flat))
    assert cfg == dataclasses.replace(_everything_changed(), cluster_params=ClusterParams())


def test_help_shows_the_runconfig_defaults():
    text = build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    d = RunConfig()
    for shown in (f"(default: {d.n_folds})", f"default: {d.holdout_fraction})", f"(default: {d.tune_budget})",
                  f"(default: {d.cluster_params.resolution})", f"(default: {d.out})", f"(default: {d.device})"):
        assert shown in " ".join(text.split()), shown
