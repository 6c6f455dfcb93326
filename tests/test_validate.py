"""`python -m benchmark validate`: what a method author sees for good and broken methods."""

from __future__ import annotations

import sys
import textwrap

from benchmark import methods
from benchmark.cli import main
from benchmark.config import repo_root
from benchmark.validate import FAIL, PASS, SKIP, WARN, validate

HEADER = """\
from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmark.methods import register
from benchmark.methods.base import Method, MethodInfo
from benchmark.task import Prediction


def _mean(task):
    x = task.reference[:, task.target_genes].X
    x = x.toarray() if hasattr(x, "toarray") else np.asarray(x)
    return np.tile(x.mean(axis=0), (task.n_cells, 1))
"""


def _write(tmp_path, name: str, body: str):
    path = tmp_path / f"{name}.py"
    path.write_text(HEADER + textwrap.dedent(body))
    return path


GOOD = """
@register
class Good(Method):
    \"\"\"Reference mean.\"\"\"
    info = MethodInfo(name="val-good", summary="reference mean of each gene")

    @dataclass
    class Params:
        k: int = 3

    def fit_predict(self, task):
        return Prediction(pd.DataFrame(_mean(task), index=task.spatial.obs_names, columns=task.target_genes))
"""

BROKEN = """
@register
class Sloppy(Method):
    info = MethodInfo(name="val-sloppy", summary="breaks the contract", requires=("numpy",))

    @dataclass
    class Params:
        k: int

    def fit_predict(self, task):
        return Prediction(pd.DataFrame(_mean(task)))


@register
class Mutating(Method):
    \"\"\"Changes its input and cannot read sparse matrices.\"\"\"
    info = MethodInfo(name="val-mutating", summary="lower-cases gene names and rejects sparse X")

    def fit_predict(self, task):
        if hasattr(task.spatial.X, "toarray"):
            raise TypeError("this method needs a dense matrix")
        task.spatial.var_names = [g.lower() for g in task.spatial.var_names]
        rng = np.random.default_rng()  # ignores task.seed
        values = _mean(task) + rng.normal(size=(task.n_cells, len(task.target_genes)))
        return Prediction(pd.DataFrame(values, index=task.spatial.obs_names, columns=task.target_genes))


class Forgotten(Method):
    \"\"\"Not decorated.\"\"\"
    info = MethodInfo(name="val-forgotten", summary="never registered")

    def fit_predict(self, task):
        return Prediction(pd.DataFrame(_mean(task), index=task.spatial.obs_names, columns=task.target_genes))
"""


def _checks(report, name):
    rep = next(m for m in report.methods if m.method_name == name)
    return {c.name: c for c in rep.checks}


def test_a_good_method_passes_and_leaves_the_registry_as_it_was(tmp_path, capsys):
    before = dict(methods.all_methods())
    path = _write(tmp_path, "good_method", GOOD)
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "PASS  output" in out and "PASS  sparse_input" in out and "PASS  deterministic" in out
    assert "FAIL" not in out and "run it with `python -m benchmark run --methods val-good`" in out
    assert methods.all_methods() == before  # validation does not register the method for good
    assert not [m for m in sys.modules if m.startswith("benchmark.methods._validate_")]


def test_broken_methods_fail_with_reasons(tmp_path, capsys):
    path = _write(tmp_path, "broken_methods", BROKEN)
    report = validate(str(path))
    assert not report.ok
    sloppy = _checks(report, "val-sloppy")
    assert sloppy["install_hint"].status == FAIL and "install_hint is empty" in sloppy["install_hint"].message
    assert sloppy["params"].status == FAIL and "['k'] have no default" in sloppy["params"].message
    assert "output" not in sloppy  # cannot be created with defaults: contract not attempted

    mutating = _checks(report, "val-mutating")
    assert mutating["registered"].status == PASS and mutating["output"].status == PASS
    assert mutating["no_input_mutation"].status == FAIL
    assert "spatial gene names were changed" in mutating["no_input_mutation"].detail
    assert mutating["deterministic"].status == FAIL and "same seed" in mutating["deterministic"].detail
    sparse = mutating["sparse_input"]
    assert sparse.status == FAIL and "TypeError: this method needs a dense matrix" in sparse.detail
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if "needs a dense matrix" in t)
    assert f"broken_methods.py, line {line}, in fit_predict" in sparse.detail  # the author's own line
    assert "how to fix:" in sparse.detail

    forgotten = _checks(report, "val-forgotten")
    assert forgotten["registered"].status == FAIL and "@register" in forgotten["registered"].detail

    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  no_input_mutation" in out and "NOT READY" in out


def test_non_deterministic_methods_skip_that_check(tmp_path):
    body = GOOD.replace('summary="reference mean of each gene"',
                        'summary="reference mean of each gene", deterministic=False').replace("val-good", "val-nondet")
    report = validate(str(_write(tmp_path, "nondet", body)))
    assert report.ok and _checks(report, "val-nondet")["deterministic"].status == SKIP


def test_folders_modules_and_relative_imports(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "my_methods"
    folder.mkdir()
    _write(folder, "first", GOOD)
    (folder / "second.py").write_text(  # written as for methods/: relative imports
        (HEADER + GOOD).replace("from benchmark.methods import register", "from . import register")
        .replace("from benchmark.methods.base import", "from .base import").replace("val-good", "val-second")
        .replace("class Good", "class Second"))
    report = validate(str(folder))
    assert report.ok and sorted(m.method_name for m in report.methods) == ["val-good", "val-second"]

    pkg = tmp_path / "mypkg_val"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    _write(pkg, "impl", GOOD.replace("val-good", "val-pkg"))
    monkeypatch.chdir(tmp_path)
    report = validate("mypkg_val")
    assert report.ok and [m.method_name for m in report.methods] == ["val-pkg"]
    report = validate("mypkg_val")  # again: the module is imported afresh, not found unregistered
    assert report.ok


def test_a_registered_method_file_validates_as_it_is(capsys):
    assert main(["validate", str(repo_root() / "methods" / "mean.py")]) == 0
    assert "PASS  registered: registered as 'mean'" in capsys.readouterr().out


def test_import_errors_name_clashes_and_bad_targets(tmp_path, capsys):
    bad = tmp_path / "bad_import.py"
    bad.write_text("import numpy\nimport not_a_module_anywhere_xyz\n")
    assert main(["validate", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "could not be imported" in out and "No module named 'not_a_module_anywhere_xyz'" in out
    assert "bad_import.py, line 2" in out

    clash = _write(tmp_path, "clash", GOOD.replace("val-good", "knn"))
    assert main(["validate", str(clash)]) == 1
    assert "two methods are registered as 'knn'" in capsys.readouterr().out
    assert methods.all_methods()["knn"].__module__ == "benchmark.methods.knn"

    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    assert main(["validate", str(empty)]) == 1
    assert "no Method subclass found" in capsys.readouterr().out

    assert main(["validate", str(tmp_path / "missing.py")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["validate", "no_such_module_xyz"]) == 2
    assert "no module named 'no_such_module_xyz'" in capsys.readouterr().err


def test_warnings_do_not_fail(tmp_path):
    body = GOOD.replace('    \"\"\"Reference mean.\"\"\"\n', "")
    report = validate(str(_write(tmp_path, "nodoc", body.replace("val-good", "val-nodoc"))))
    checks = _checks(report, "val-nodoc")
    assert checks["docstring"].status == WARN and report.ok


def test_dataset_option_runs_the_checks_on_a_registered_dataset(capsys):
    target = repo_root() / "docs" / "examples" / "example_method.py"
    assert main(["validate", str(target), "--dataset", "synthetic-small"]) == 0
    assert "contract checks run on dataset 'synthetic-small'" in capsys.readouterr().out


def test_a_method_whose_dependency_is_missing_is_not_passed(tmp_path):
    body = GOOD.replace('summary="reference mean of each gene"',
                        'summary="needs a package", requires=("not_a_module_xyz",), install_hint="pip install xyz"')
    report = validate(str(_write(tmp_path, "needs_pkg", body.replace("val-good", "val-needs"))))
    contract = _checks(report, "val-needs")["contract"]
    assert not report.ok and contract.status == FAIL
    assert "missing optional dependency not_a_module_xyz; install with: pip install xyz" in contract.message
