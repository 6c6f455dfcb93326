"""The real osmFISH pair from the data directory (skipped on a clone without it, required in CI)."""

from __future__ import annotations

import hashlib

import pytest

from benchmark.datasets import get_dataset_spec, load_dataset
from benchmark.datasets.validation import validate_pair
from benchmark.harness import RunConfig, run_benchmark

pytestmark = pytest.mark.shared_data


def test_osmfish_files_match_manifest(data_dir):
    spec = get_dataset_spec("osmfish")
    for name, sha in spec.sha256.items():
        assert hashlib.sha256((data_dir / name).read_bytes()).hexdigest() == sha, name


def test_osmfish_loads_and_validates(data_dir):
    data = load_dataset("osmfish", data_dir)
    genes = validate_pair(data, min_shared=5, need_labels=True)
    assert data.spatial.shape == (3405, 33) and data.reference.shape == (5613, 33)
    assert len(genes) == 33
    assert data.spatial.obs["ClusterName"].nunique() == 31
    assert set(genes) <= set(data.gene_embeddings.index)


def test_osmfish_benchmark_controls(data_dir, tmp_path):
    res = run_benchmark(RunConfig(datasets=["osmfish"], methods=["mean", "knn"], data_dir=data_dir,
                                  out=tmp_path / "run"), progress=False)
    assert res.failures == []
    s = res.summary.loc["osmfish"]
    assert s.loc["knn", "gene_pcc"] > 0.15 > s.loc["mean", "gene_pcc"]
    assert s.loc["knn", "cluster_ari"] > s.loc["mean", "cluster_ari"]


def test_stimpute_beats_the_knn_control_on_osmfish(data_dir, tmp_path):
    """stImpute's claim on real data, checked in quick mode (its AE and GNN epochs shortened).

    Measured on 2026-12-05 (5 gene folds, seed 0, --quick): gene PCC stImpute 0.269, knn 0.199;
    the full setting gives 0.276 (leaderboard). The margin asked for, 0.03, is under half the
    measured gap, so seed noise cannot flip the test, but a regression to the control's level does.
    """
    res = run_benchmark(RunConfig(datasets=["osmfish"], methods=["knn", "stimpute"], data_dir=data_dir,
                                  out=tmp_path / "run", quick=True, cluster=False), progress=False)
    assert res.failures == []
    s = res.summary.loc["osmfish"]
    assert s.loc["stimpute", "gene_pcc"] > s.loc["knn", "gene_pcc"] + 0.03
    assert s.loc["stimpute", "cell_css"] > s.loc["knn", "cell_css"]
