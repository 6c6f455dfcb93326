"""The shipped ``li2022`` preset (Li et al. 2022's setup) loads and gives the intended run config.

Fast: nothing is trained; method classes are only constructed with the preset's parameters (the
check ``run`` makes before any work). What each value reproduces: docs/reconciliation.md.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from benchmark.datasets import preprocessing as pp
from benchmark.errors import InputError
from benchmark.methods import get_method_class
from benchmark.presets import PRESETS_DIR, preset_names, preset_path, resolve_config_path
from benchmark.run_config import load_config_file, to_run_config

#: The methods Li et al. ran on Dataset 15 that the suite wraps (scripts/reconcile_li2022.py).
LI2022_METHODS = ("spage", "gimvi", "seurat", "stplus", "liger", "novosparc", "tangram")


@pytest.fixture(scope="module")
def cfg():
    return to_run_config(load_config_file(preset_path("li2022")))


def test_preset_is_shipped_and_found_by_name():
    assert "li2022" in preset_names()
    assert preset_path("li2022") == PRESETS_DIR / "li2022.yaml"
    assert resolve_config_path("li2022") == PRESETS_DIR / "li2022.yaml"
    with pytest.raises(InputError, match="li2022"):  # the error lists the presets there are
        preset_path("li2021")


def test_a_path_is_not_taken_for_a_preset(tmp_path):
    """A file of the same name, or anything that looks like a path, is read as a file."""
    own = tmp_path / "li2022"
    own.write_text("folds: 3\n")
    assert resolve_config_path(own) == own
    assert resolve_config_path("somewhere/li2022") == Path("somewhere/li2022")
    assert str(resolve_config_path("missing.yaml")) == "missing.yaml"


def test_their_input_scoring_space_and_folds(cfg):
    assert cfg.preprocessing == "raw"  # raw counts in; each method's own preprocessing
    assert cfg.scoring_space == "counts"  # raw-count truth
    assert cfg.protocol == "kfold" and cfg.n_folds == 10  # their 10-fold gene CV


def test_their_method_parameters(cfg):
    p = cfg.method_params
    assert p["tangram"]["mode"] == "clusters" and p["tangram"]["input_scaling"] == "li2022"
    assert p["novosparc"]["alpha_linear"] == 0.5 and p["novosparc"]["epsilon"] == 5e-3
    assert p["liger"]["value_lambda"] == 20 and p["liger"]["impute_k"] == 30
    assert p["gimvi"]["max_epochs"] == 200
    assert p["spage"]["n_pv"] == 15


def test_every_parameter_is_one_the_wrapper_has(cfg):
    assert set(cfg.method_params) <= set(LI2022_METHODS)
    for method, params in cfg.method_params.items():
        cls = get_method_class(method)
        known = {f.name for f in fields(cls.Params)}
        assert set(params) <= known, (method, set(params) - known)
        cls(**params)  # the construction `run` does before any work; rejects bad values


def test_raw_scheme_is_the_counts_and_scores_predictions_as_returned():
    counts = np.array([[0, 3, 1], [5, 0, 2], [0, 0, 0]], dtype=np.float64)
    for given in (counts, sp.csr_matrix(counts)):
        x = pp.get_preprocessing("raw")(given)
        np.testing.assert_array_equal(x.toarray() if sp.issparse(x) else x, counts)
    inverse = pp.get_counts_inverse("raw")
    prediction = np.array([[0.5, 1.0], [2.0, 0.0], [1.0, 1.0]])
    # divisor 1 for every cell, whatever the training genes: the prediction is scored as returned
    np.testing.assert_array_equal(inverse.to_counts(prediction, counts), prediction)
    np.testing.assert_array_equal(inverse.to_counts(prediction, counts[:, :1]), prediction)


def test_run_config_li2022_by_name_with_flags_overriding():
    """``run --config li2022``: the preset by name; a flag overrides it; the preset's parameters of
    methods the run leaves out are dropped, while a flag's parameter of an absent method still fails."""
    from benchmark.cli import build_parser
    from benchmark.run_config import build_run_config

    args = build_parser().parse_args(["run", "--config", "li2022", "--methods", "spage", "knn", "--folds", "5"])
    cfg = build_run_config(args)
    assert cfg.preprocessing == "raw" and cfg.scoring_space == "counts"
    assert cfg.n_folds == 5  # the flag wins
    assert cfg.method_params == {"spage": {"n_pv": 15}}
    full = build_run_config(build_parser().parse_args(["run", "--config", "li2022"]))
    assert set(full.method_params) == {"spage", "gimvi", "novosparc", "liger", "tangram"}
    typo = build_run_config(build_parser().parse_args(
        ["run", "--config", "li2022", "--methods", "spage", "--method-param", "knn.k=3"]))
    from benchmark.harness import resolve_methods

    with pytest.raises(InputError, match="knn"):
        resolve_methods(typo)


def test_tangram_maps_onto_the_raw_scale_without_a_log():
    """Under ``raw`` the task's X has no log: Tangram's log-normalised (``li2022``) projection is
    taken back with expm1 and its total-count-scaled (``normalized``) one is left as it is."""
    from benchmark.methods.tangram import _to_task_scale

    v = np.array([[0.0, 0.5], [1.0, 2.0]])
    np.testing.assert_allclose(_to_task_scale(v, "li2022", "raw"), np.expm1(v))
    np.testing.assert_array_equal(_to_task_scale(v, "normalized", "raw"), v)
    np.testing.assert_array_equal(_to_task_scale(v, "li2022", "spage"), v)  # a log scheme keeps the log
