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


def test_neighbour_average_in_batches_matches_one_pass():
    """The kNN wrappers average neighbours in batches of cells to bound memory at a million
    cells; the result must be the same as one pass, weighted or not."""
    from methods._util import neighbour_average

    rng = np.random.default_rng(0)
    values = rng.normal(size=(40, 7))
    idx = rng.integers(0, 40, size=(23, 5))
    w = rng.random((23, 5))
    w /= w.sum(axis=1, keepdims=True)
    for weights, expected in ((None, values[idx].mean(axis=1)),
                              (w, np.einsum("ck,ckg->cg", w, values[idx]))):
        one_pass = neighbour_average(values, idx, weights, batch_cells=1000)
        np.testing.assert_array_equal(one_pass, expected)
        for batch in (1, 4, 22):
            np.testing.assert_array_equal(neighbour_average(values, idx, weights, batch_cells=batch), one_pass)
    # a hand-computed cell: neighbours 0 and 2 with weights 0.25 / 0.75
    v = np.array([[1.0, 0.0], [5.0, 5.0], [3.0, 4.0]])
    got = neighbour_average(v, np.array([[0, 2]]), np.array([[0.25, 0.75]]))
    np.testing.assert_allclose(got, [[2.5, 3.0]])


def test_standardize_inplace_matches_standardize_on_row_blocks():
    """Harmony-kNN z-scores each data set's row block of one stacked matrix in place, to save
    copies at a million cells; the values must be those of the copying ``standardize``."""
    from methods._util import standardize, standardize_inplace

    rng = np.random.default_rng(1)
    a, b = rng.normal(3.0, 2.0, size=(30, 6)), rng.normal(-1.0, 0.5, size=(50, 6))
    a[:, 2] = 4.0  # a constant gene becomes 0, not NaN
    joint = np.vstack([a, b])
    standardize_inplace(joint[:30])
    standardize_inplace(joint[30:])
    np.testing.assert_array_equal(joint, np.vstack([standardize(a), standardize(b)]))
    assert np.all(joint[:30, 2] == 0.0)
