"""The same contract tests for every registered method, generated from the registry.

A new method file gets these tests without editing this file. A method whose optional
dependencies are missing is skipped with the reason on a user's clone; in CI (``CI=true``), which
installs every baseline (README's test command, and R with Seurat in ``.ci/run``), that is a
failure, so a broken install cannot pass as a skip. Only methods declared known-unavailable (their
package cannot be installed beside this stack, with the measured reason) are skipped everywhere.
"""

from __future__ import annotations

import os

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
        if os.environ.get("CI", "").lower() == "true" and not cls.info.known_unavailable:
            pytest.fail(f"{name} must be available in CI: {reason}")
        pytest.skip(reason)
    from benchmark.envs import EnvMethod

    # a method in its own environment is built here, in CI too, when that takes minutes
    # (ImputeFISH, ENVI: EnvSpec.build_in_tests); stDiff's (23 minutes, 6.6 GB) is checked once
    # built (docs/environments.md)
    if issubclass(cls, EnvMethod) and cls.env_state().record() is None and \
            not cls.environment.build_in_tests and os.environ.get("ST_IMPUTE_BENCH_REAL_ENVS") != "1":
        pytest.skip(f"{name}'s environment is not built (python -m benchmark env build {name}, "
                    "or ST_IMPUTE_BENCH_REAL_ENVS=1 to build it here)")
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


def test_sparse_check_catches_a_method_whose_sparse_path_differs(prep, tmp_path):
    """The sparse-input check compares with the dense prediction, so a method that silently
    computes something else from sparse X (here: drops the stored zeros' rows) fails it."""
    from dataclasses import dataclass

    import numpy as np
    import pandas as pd
    import scipy.sparse as sp

    from benchmark.methods.base import Method, MethodInfo
    from benchmark.task import Prediction

    class SparseAware(Method):
        info = MethodInfo(name="sparse-aware-toy", summary="toy", deterministic=True)

        @dataclass
        class Params:
            pass

        def fit_predict(self, task):
            x = task.reference[:, task.target_genes].X
            # the bug: a mean over non-zero entries only when X is sparse
            means = (np.asarray(x.sum(0)).ravel() / np.maximum(x.getnnz(0), 1) if sp.issparse(x)
                     else np.asarray(x).mean(0))
            values = np.tile(means, (task.n_cells, 1))
            return Prediction(pd.DataFrame(values, index=task.spatial.obs_names, columns=task.target_genes))

    with pytest.raises(AssertionError, match="sparse input changed the prediction"):
        contract.check_sparse_input(SparseAware, prep, tmp_path)
