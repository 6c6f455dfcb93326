"""A published method that cannot run beside this stack (``MethodInfo.known_unavailable``) is
listed, with the reason, and never run: not by ``--methods all``, and naming one stops the run
before any work. ENVI and stDiff were such methods until they got environments of their own
(benchmark/envs.py); a test-only method stands in for them here."""

from __future__ import annotations

import pytest

from benchmark.cli import main
from benchmark.errors import MethodUnavailableError
from benchmark.harness import RunConfig, resolve_methods
from benchmark.methods import all_methods, available_methods, get_method
from benchmark.methods.base import Method, MethodInfo

from _helpers import registered


class _Listed(Method):
    info = MethodInfo(name="listed-only", summary="a published method that does not install here",
                      package="listed-pkg", known_unavailable="listed-pkg 1.0 pins torch==1.9.0, which has no wheel "
                      "for Python 3.11")


KNOWN = {"listed-only": ("listed-pkg", "torch==1.9.0")}


@pytest.fixture(autouse=True)
def _listed():
    with registered(_Listed):
        yield


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_listed_unavailable_with_reason(name, capsys):
    cls = all_methods()[name]
    ok, reason = cls.availability()
    assert not ok and reason.startswith("known unavailable:")
    assert all(word in reason for word in KNOWN[name])
    assert main(["ls", "methods"]) == 0
    text = capsys.readouterr().out
    line = next(ln for ln in text.splitlines() if ln.startswith(name + " "))
    assert " no " in line and "known unavailable" in line and KNOWN[name][0] in line


def test_never_run_by_all():
    listed = set(available_methods())
    assert not listed & set(KNOWN)
    names = resolve_methods(RunConfig(methods=["all"]))
    assert not set(names) & set(KNOWN)
    assert "mean" in names  # 'all' still expands to the available methods


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_naming_one_stops_before_any_work(name, tmp_path):
    with pytest.raises(MethodUnavailableError, match="known unavailable"):
        resolve_methods(RunConfig(methods=["mean", name]))
    with pytest.raises(MethodUnavailableError, match=name):
        get_method(name)
    code = main(["run", "--methods", name, "--out", str(tmp_path / "o"), "--quiet"])
    assert code != 0 and not (tmp_path / "o").exists()


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_fit_predict_raises_clearly(name):
    method = all_methods()[name]()
    with pytest.raises(MethodUnavailableError, match=KNOWN[name][0]):
        method.fit_predict(None)  # never reached by the harness; the task is not even looked at


def test_cost_note_is_shown_by_ls_methods(capsys):
    """A method that runs but costs hours on a CPU (CellPin) says so where a user picks methods."""
    note = all_methods()["cellpin"].info.cost_note
    assert "GPU" in note and "per osmFISH fold" in note
    assert main(["ls", "methods"]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("cellpin "))
    assert "[cost: needs a GPU" in line
