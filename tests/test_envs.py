"""Methods in their own environments (benchmark/envs.py): build, subprocess round trip, failures.

The toy environments here inherit this suite's packages (``EnvSpec.inherit_suite``) and install
nothing, so they build in seconds without a network. The real ENVI and stDiff environments
(1.2 and 6.5 GB, minutes to build, minutes per fit on 2 cores) go through the contract checks of
tests/test_method_contracts.py only where they are already built (``python -m benchmark env build
envi stdiff``), or anywhere with ``ST_IMPUTE_BENCH_REAL_ENVS=1``: see docs/environments.md.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from benchmark import contract, envs
from benchmark.datasets.synthetic import make_synthetic_pair
from benchmark.envs import EnvMethod, EnvSpec
from benchmark.methods.base import MethodInfo
from benchmark.runner import Job, run_job
from benchmark.splits import kfold_gene_splits

from _helpers import registered

#: The toy method: each target gene's reference mean (on the task's scale), every cell the same
#: except for a seeded offset, so the parameters and seed are seen to cross into the environment.
TOY_RUNNER = '''
import numpy as np, pandas as pd, sys
def impute(task):
    ref = task.reference[:, task.target_genes].X
    ref = ref.toarray() if hasattr(ref, "toarray") else np.asarray(ref)
    values = np.tile(ref.mean(axis=0), (task.spatial.n_obs, 1)) + task.params["offset"]
    return {"expression": pd.DataFrame(values, index=task.spatial.obs_names, columns=task.target_genes),
            "info": {"python": sys.executable, "seed": task.seed, "quick": task.quick}}
'''


def _toy_folder(tmp_path: Path, runner: str = TOY_RUNNER, requirements: str | None = None) -> Path:
    folder = tmp_path / "toyenv"
    folder.mkdir(exist_ok=True)
    (folder / "run.py").write_text(runner)
    if requirements is not None:
        (folder / "requirements.txt").write_text(requirements)
    return folder


def _toy_class(folder: Path, name: str = "toyenv", **spec) -> type[EnvMethod]:
    class ToyEnv(EnvMethod):
        info = MethodInfo(name=name, summary="toy method in its own environment", package=None)
        environment = EnvSpec(folder=folder, python=sys.executable, inherit_suite=True, **spec)

        @dataclass
        class Params:
            offset: float = 0.5

    return ToyEnv


@pytest.fixture
def envs_dir(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "envs"
    monkeypatch.setenv(envs.ENVS_DIR_ENV, str(d))
    return d


@pytest.fixture(scope="module")
def prep():
    data = make_synthetic_pair(n_spatial=60, n_reference=80, n_shared=9, n_reference_only=4, n_types=3,
                               n_modules=3, seed=3, name="envs")
    return contract.prepare_pair(data)


def test_build_records_versions_and_lists(tmp_path, envs_dir, capsys):
    cls = _toy_class(_toy_folder(tmp_path))
    state = envs.build_env("toyenv", cls.environment)
    rec = state.record()
    assert state.path.parent == envs_dir and state.python.exists()
    assert rec["python"] == ".".join(map(str, sys.version_info[:3]))
    assert rec["size_bytes"] > 0 and rec["build_s"] >= 0
    # inherited from the suite: the environment sees (and records) the suite's numpy
    assert rec["packages"].get("numpy") == np.__version__
    assert cls.env_state().status == "built"
    # a second build is a no-op: the record is not rewritten
    mtime = state.record_path.stat().st_mtime_ns
    envs.build_env("toyenv", cls.environment)
    assert state.record_path.stat().st_mtime_ns == mtime


def test_spec_digest_follows_requirements(tmp_path):
    folder = _toy_folder(tmp_path, requirements="numpy\n")
    spec = EnvSpec(folder=folder)
    before = spec.digest()
    (folder / "requirements.txt").write_text("numpy==2.0.0\n")
    assert spec.digest() != before and spec.pinned("NumPy") == "2.0.0"
    (folder / "run.py").write_text(TOY_RUNNER + "\n# edited\n")
    assert spec.digest() == EnvSpec(folder=folder).digest()  # the runner is the method, not the environment


def test_round_trip_through_the_runner(tmp_path, envs_dir, prep):
    cls = _toy_class(_toy_folder(tmp_path))
    split = kfold_gene_splits(prep.shared, 3, 0)[0]
    job = Job("envs", "toyenv", {"offset": 2.0}, split, seed=4, quick=True)
    with registered(cls):
        out = run_job(job, prep, tmp_path / "cache" / "job", time_budget=120)
    assert out.ok, out.error
    targets = list(split.target_genes)
    task = prep.make_task(split, seed=4, workdir=tmp_path / "w", time_budget=None, quick=True, device="cpu")
    x = task.reference[:, targets].X
    want = np.asarray(x.toarray() if hasattr(x, "toarray") else x).mean(axis=0) + 2.0
    np.testing.assert_allclose(out.prediction.to_numpy(), np.tile(want, (out.prediction.shape[0], 1)))
    env_info = out.info["environment"]
    assert env_info["built_in_job"] is True and env_info["packages"]["numpy"] == np.__version__
    assert out.info["seed"] == 4 and out.info["quick"] is True
    assert out.info["python"].startswith(str(envs_dir))  # it ran under the environment's interpreter
    assert (tmp_path / "cache" / "job" / "job.json").is_file()


@pytest.mark.slow
def test_toy_env_method_passes_the_contract(tmp_path, envs_dir, prep):
    cls = _toy_class(_toy_folder(tmp_path))
    for name, check in contract.CHECKS.items():
        check(cls, prep, tmp_path / name)


def test_method_error_in_the_environment_is_recorded(tmp_path, envs_dir, prep):
    runner = "def impute(task):\n    raise RuntimeError('the toy method broke')\n"
    cls = _toy_class(_toy_folder(tmp_path, runner=runner))
    split = kfold_gene_splits(prep.shared, 3, 0)[0]
    jobdir = tmp_path / "cache" / "job"
    with registered(cls):
        out = run_job(Job("envs", "toyenv", {}, split, seed=0), prep, jobdir)
    assert out.status == "failed"
    assert "RuntimeError: the toy method broke" in out.error and "in the method's environment" in out.error
    assert json.loads((jobdir / "failure.json").read_text())["status"] == "failed"


def test_time_budget_kills_the_environment_process(tmp_path, envs_dir, prep):
    runner = "import time\ndef impute(task):\n    time.sleep(600)\n"
    cls = _toy_class(_toy_folder(tmp_path, runner=runner))
    envs.build_env("toyenv", cls.environment)  # built first, so the budget times the method only
    split = kfold_gene_splits(prep.shared, 3, 0)[0]
    with registered(cls):
        out = run_job(Job("envs", "toyenv", {}, split, seed=0), prep, tmp_path / "cache" / "job", time_budget=15)
    assert out.status == "timeout"
    import psutil

    stray = [p for p in psutil.process_iter(["cmdline"]) if any("env_child.py" in c for c in (p.info["cmdline"] or []))
             and str(envs_dir) in " ".join(p.info["cmdline"] or [])]
    assert not stray, "the environment's process outlived the job's time-out"


def test_broken_build_is_a_recorded_failure(tmp_path, envs_dir, prep):
    folder = _toy_folder(tmp_path, requirements=f"{tmp_path}/no-such-package-1.0-py3-none-any.whl\n")
    cls = _toy_class(folder)
    split = kfold_gene_splits(prep.shared, 3, 0)[0]
    with registered(cls):
        out = run_job(Job("envs", "toyenv", {}, split, seed=0), prep, tmp_path / "cache" / "a")
    assert out.status == "failed"
    assert "EnvBuildError" in out.error and "pip install -r requirements.txt" in out.error
    assert "no-such-package" in out.error  # pip's own reason is in the record
    state = cls.env_state()
    assert state.status == "failed" and not state.path.exists()
    # the next job reports the recorded failure instead of building again
    with registered(cls):
        again = run_job(Job("envs", "toyenv", {}, split, seed=1), prep, tmp_path / "cache" / "b")
    assert again.status == "failed" and "env build toyenv` tries again" in again.error


def test_failed_import_check_fails_the_build(tmp_path, envs_dir):
    cls = _toy_class(_toy_folder(tmp_path), check_import=("surely_not_a_module_xyz",))
    with pytest.raises(envs.EnvBuildError, match="import surely_not_a_module_xyz"):
        envs.build_env("toyenv", cls.environment)
    assert json.loads(cls.env_state().failure_path.read_text())["error"].startswith("building the environment")


def test_env_command_ls_build_rm(tmp_path, envs_dir, capsys, monkeypatch):
    cls = _toy_class(_toy_folder(tmp_path))
    monkeypatch.setattr(envs, "env_methods", lambda: {"toyenv": cls})
    from benchmark.cli import main

    assert main(["env", "ls"]) == 0
    assert "not built" in capsys.readouterr().out
    assert main(["env", "build", "toyenv"]) == 0
    assert "toyenv: built in" in capsys.readouterr().out
    assert main(["env", "ls"]) == 0
    row = [line for line in capsys.readouterr().out.splitlines() if line.startswith("toyenv")]
    assert row and row[0].split()[1:3] == ["venv", "built"]
    assert main(["env", "rm", "toyenv"]) == 0
    assert not cls.env_state().path.exists()
    assert main(["env", "build", "nope"]) == 2
    assert "has no environment of its own" in capsys.readouterr().err


def test_registered_env_methods_declare_their_environment():
    methods = envs.env_methods()
    assert {"envi", "stdiff", "imputefish", "seurat"} <= set(methods)
    assert isinstance(methods["seurat"].environment, envs.RSpec)
    for name, cls in methods.items():
        spec = cls.environment
        if isinstance(spec, envs.RSpec):
            assert spec.packages and spec.install_hint, f"{name}: an R environment names its packages and their install"
            continue
        assert (spec.folder / envs.RUNNER_FILE).is_file(), f"{name}: no run.py in {spec.folder}"
        assert spec.spec_files(), f"{name}: no requirements file in {spec.folder}"
        assert cls.info.package and spec.pinned(cls.info.package), f"{name}: its package is not pinned"
        assert cls.package_version().startswith(spec.pinned(cls.info.package) + "+env.")


def _fake_rscript(folder: Path, stdout: str, code: int = 0) -> Path:
    """An executable named Rscript that prints ``stdout`` whatever it is asked."""
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / "Rscript"
    exe.write_text(f"#!/bin/sh\nprintf '{stdout}'\nexit {code}\n")
    exe.chmod(0o755)
    return exe


@pytest.mark.parametrize("stdout, ok, why", [
    ("Seurat\\t5.1.0\\nMatrix\\t1.6-5\\nR\\t4.3.3\\n", True, ""),
    ("Seurat\\t\\nMatrix\\t1.6-5\\nR\\t4.3.3\\n", False, "R package(s) Seurat are not installed"),
])
def test_r_environment_probe(tmp_path, monkeypatch, stdout, ok, why):
    exe = _fake_rscript(tmp_path / "bin", stdout)
    monkeypatch.setenv("PATH", str(exe.parent))
    monkeypatch.setattr(envs, "_R_STATES", {})
    st = envs.RSpec(packages=("Seurat", "Matrix"), install_hint="apt-get install r-cran-seurat").probe()
    assert st.ok is ok and st.rscript == str(exe) and st.r_version == "4.3.3"
    assert st.packages.get("Matrix") == "1.6-5"
    assert why in st.reason and (ok or "apt-get install r-cran-seurat" in st.reason)
    if ok:
        assert st.record() == {"kind": "R", "rscript": str(exe), "R": "4.3.3",
                               "packages": {"Seurat": "5.1.0", "Matrix": "1.6-5"}}


def test_r_environment_without_r_and_the_env_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(envs, "_R_STATES", {})
    spec = envs.RSpec(packages=("Seurat",), install_hint="apt-get install r-cran-seurat")
    st = spec.probe()
    assert not st.ok and "Rscript (R) is not on PATH" in st.reason and "apt-get install r-cran-seurat" in st.reason

    class ToyR:
        environment = spec

    monkeypatch.setattr(envs, "env_methods", lambda: {"toyr": ToyR})
    from benchmark.cli import main

    assert main(["env", "ls"]) == 0
    row = [line for line in capsys.readouterr().out.splitlines() if line.startswith("toyr")]
    assert row and row[0].split()[1:3] == ["R", "missing"]
    assert main(["env", "build", "toyr"]) == 1
    assert "R environment missing" in capsys.readouterr().err
    assert main(["env", "rm", "toyr"]) == 0
    assert "nothing to remove" in capsys.readouterr().out
