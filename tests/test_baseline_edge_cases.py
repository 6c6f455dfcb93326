"""Edge cases of particular baselines that the generated contract tests do not reach."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark import contract
from benchmark.datasets.synthetic import make_synthetic_pair
from benchmark.methods import get_method_class


def test_stplus_runs_when_reference_has_no_extra_genes(tmp_path):
    """The osmFISH reference has exactly the spatial genes; stPlus's gene selection must not crash."""
    cls = get_method_class("stplus")
    ok, reason = cls.availability()
    if not ok:
        pytest.skip(reason)
    data = make_synthetic_pair(n_spatial=80, n_reference=100, n_shared=10, n_reference_only=0, n_types=3,
                               n_modules=3, seed=3, name="no-extra")
    prep = contract.prepare_pair(data)
    task = contract.make_task(prep, tmp_path)
    task.quick = True
    assert set(task.reference.var_names) == set(task.genes)  # no reference-only gene
    pred = cls().fit_predict(task)
    pred.check(task)
    assert pred.info["top_k"] == 0
    assert np.isfinite(pred.expression.to_numpy()).all()
