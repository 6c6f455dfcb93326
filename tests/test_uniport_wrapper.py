"""uniPort wrapper traps beyond the contract tests: fewer cells than one batch, and the global side
effects of ``uniport.Run`` (root-logger handlers, global RNGs, ``np.Inf``) undone afterwards."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from benchmark import contract
from benchmark.datasets.synthetic import make_synthetic_pair
from benchmark.methods import all_methods

from _helpers import predictions_by_scheme

pytest.importorskip("uniport")


def test_small_data_and_no_global_side_effects(tmp_path):
    import torch

    data = make_synthetic_pair(n_spatial=60, n_reference=80, n_shared=10, n_reference_only=4, n_types=3,
                               n_modules=3, seed=3, name="tiny")
    task = contract.make_task(contract.prepare_pair(data), tmp_path)  # 140 stacked cells < batch of 256
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    np_state, torch_state = np.random.get_state()[1].copy(), torch.get_rng_state().clone()
    had_inf = hasattr(np, "Inf")

    pred = all_methods()["uniport"]().fit_predict(task)

    assert pred.expression.shape == (60, len(task.target_genes))
    assert np.isfinite(pred.expression.to_numpy()).all()
    assert pred.info["batch_size"] == 140 and pred.info["max_iterations"] == 30  # 30 quick epochs of 1 batch
    assert root.handlers == handlers and root.level == level, "uniport's root-logger handlers were left behind"
    assert np.array_equal(np.random.get_state()[1], np_state), "NumPy's global generator was reseeded"
    assert torch.equal(torch.get_rng_state(), torch_state), "torch's global generator was reseeded"
    assert hasattr(np, "Inf") == had_inf
    assert (tmp_path / "uniport" / "checkpoint" / "model.pt").is_file()  # writes only inside the workdir


def test_output_follows_the_preprocessing_scheme(tmp_path):
    """uniPort trains on counts with its own normalisation, so the decoded expression does not
    depend on the task's scheme. Under ``tangram`` (no log) each cell's prediction must be expm1 of
    the ``spage`` one up to one factor per cell (the two schemes differ only in per-cell scaling)."""
    data = make_synthetic_pair(n_spatial=60, n_reference=80, n_shared=10, n_reference_only=4, n_types=3,
                               n_modules=3, seed=3, name="tiny")
    preds = predictions_by_scheme(all_methods()["uniport"](quick_epochs=3), data, tmp_path)
    ratio = np.expm1(preds["spage"]) / preds["tangram"]
    np.testing.assert_allclose(ratio, ratio[:, :1] * np.ones_like(ratio), rtol=1e-4)
    assert not np.allclose(ratio, 1.0)  # without the mapping both would be the same log values
