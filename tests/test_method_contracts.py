"""The same contract tests for every registered method, generated from the registry.

A new method file gets these tests without editing this file. Methods whose optional
dependencies are missing are skipped with the reason.
"""

from __future__ import annotations

import pytest

from benchmark import contract
from benchmark.datasets.synthetic import make_synthetic_pair
from benchmark.methods import all_methods

# variants (ablations) share their parent's code and are exercised by their own tests
METHODS = [name for name, cls in all_methods(include_oracles=False).items() if cls.info.variant_of is None]


@pytest.fixture(scope="module")
def prep():
    data = make_synthetic_pair(n_spatial=120, n_reference=150, n_shared=12, n_reference_only=8, n_types=3,
                               n_modules=3, seed=7, name="contract")
    return contract.prepare_pair(data)


def _cls(name):
    cls = all_methods()[name]
    ok, reason = cls.availability()
    if not ok:
        pytest.skip(reason)
    return cls


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("check", list(contract.CHECKS))
def test_method_contract(name, check, prep, tmp_path):
    cls = _cls(name)
    if check == "deterministic" and not cls.info.deterministic:
        pytest.skip(f"{name} declares itself non-deterministic")
    contract.CHECKS[check](cls, prep, tmp_path)


@pytest.mark.parametrize("name", METHODS)
def test_method_metadata(name):
    cls = all_methods()[name]
    info = cls.info
    assert info.name == name and info.summary and len(info.summary) < 200
    assert info.preprocessing
    if info.requires:
        assert info.install_hint, "a method with optional dependencies must say how to install them"


def test_controls_are_registered():
    methods = all_methods()
    assert {"mean", "knn", "truth"} <= set(methods)
    assert methods["truth"].info.oracle and not methods["mean"].info.oracle
    from benchmark.methods import default_methods

    assert "truth" not in default_methods()
    assert not [m for m in default_methods() if methods[m].info.variant_of]  # ablations only when named
    # the default run is the methods implemented here; wrapped packages run when named or with 'all'
    assert {"mean", "knn"} <= set(default_methods())
    assert all(methods[m].info.package is None for m in default_methods())
    from benchmark.methods import available_methods

    assert set(default_methods()) <= set(available_methods())


def test_a_method_with_a_missing_dependency_is_listed_unavailable():
    from benchmark.methods.base import Method, MethodInfo

    class NeedsMissing(Method):
        info = MethodInfo(name="needs-missing", summary="x", requires=("surely_not_installed_pkg_xyz",),
                          install_hint="pip install surely-not")

    ok, reason = NeedsMissing.availability()
    assert not ok and "surely_not_installed_pkg_xyz" in reason and "pip install surely-not" in reason
