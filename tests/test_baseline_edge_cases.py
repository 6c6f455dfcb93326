"""Edge cases of particular baselines that the generated contract tests do not reach."""

from __future__ import annotations

import numpy as np

from benchmark import contract
from benchmark.datasets.synthetic import make_synthetic_pair

from _helpers import installed_method_class, predictions_by_scheme


def test_stplus_runs_when_reference_has_no_extra_genes(tmp_path):
    """The osmFISH reference has exactly the spatial genes; stPlus's gene selection must not crash."""
    cls = installed_method_class("stplus")
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


def test_gimvi_output_follows_the_preprocessing_scheme(tmp_path):
    """gimVI trains on counts, so its expected counts do not depend on the scheme; only the final
    mapping does: under ``tangram`` (no log) the prediction is expm1 of the ``spage`` one."""
    cls = installed_method_class("gimvi")
    data = make_synthetic_pair(n_spatial=60, n_reference=80, n_shared=8, n_reference_only=2, n_types=3,
                               n_modules=3, seed=5, name="gimvi-scale")
    preds = predictions_by_scheme(cls(quick_epochs=2), data, tmp_path)
    np.testing.assert_allclose(preds["tangram"], np.expm1(preds["spage"]), rtol=1e-6, atol=1e-8)
    assert not np.allclose(preds["tangram"], preds["spage"])  # the scale did change
