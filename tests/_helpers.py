"""Helpers shared by test modules."""

from __future__ import annotations

import contextlib
import os


@contextlib.contextmanager
def registered(*classes):
    """Register test-only method classes for the duration of a block."""
    from benchmark import methods

    with methods.REGISTRY.isolated():
        for cls in classes:
            methods.register(cls)
        yield


def predictions_by_scheme(method, data, workdir, schemes=("spage", "tangram")):
    """``method``'s prediction (a cells x target genes array) on the first of 3 gene folds of
    ``data`` under each preprocessing scheme, in quick mode."""
    from benchmark import contract

    out = {}
    for scheme in schemes:
        task = contract.make_task(contract.prepare_pair(data, scheme), workdir / scheme)
        assert task.preprocessing == scheme
        pred = method.fit_predict(task)
        pred.check(task)
        out[scheme] = pred.expression.to_numpy()
    return out


def installed_method_class(name):
    """The registered class of method ``name``. Its optional package missing skips the test on a
    user's clone, but fails it in CI, which installs every baseline (README's test command)."""
    import pytest

    from benchmark.methods import get_method_class

    cls = get_method_class(name)
    ok, reason = cls.availability()
    if not ok:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{name} must be installed in CI: {reason}")
        pytest.skip(reason)
    return cls


def require_module(name: str, reason: str):
    """Import ``name``; if it is missing, skip on a user's clone but fail in CI, which installs
    the test extra (README's test command), so a broken install cannot pass as a skip."""
    import importlib

    import pytest

    try:
        return importlib.import_module(name)
    except ImportError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{name} must be importable in CI ({reason}): {exc}")
        pytest.skip(f"{reason}: {exc}", allow_module_level=True)
