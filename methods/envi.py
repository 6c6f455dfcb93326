"""``envi``: ENVI (Haviv et al. 2024, package ``scenvi``), run in its own environment.

scenvi cannot be installed beside this suite's pins (it downgrades flax and brings
tensorflow-probability 0.22, which fails to import with the jax that moscot needs here), so it
runs in the environment that ``methods/envi/`` defines (benchmark/envs.py, docs/environments.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.envs import EnvMethod, EnvSpec

from . import register
from ._count_scale import expected_counts_to_task_scale
from .base import MethodInfo


@register
class EnviMethod(EnvMethod):
    """ENVI: a conditional VAE integrating spatial and scRNA-seq data that imputes genes and
    predicts spatial context (covariance environments, COVET).

    ENVI models counts (Poisson for the spatial data, negative binomial for the reference) and
    needs cell coordinates (``obsm["spatial"]``). Its imputation, the decoder's expected counts
    on the reference's scale, is put on the task's scale as for gimVI: each cell's predicted
    target counts are divided by its predicted training-gene total and normalised like the
    task's ``X`` (:func:`methods._count_scale.expected_counts_to_task_scale`).

    Parameters are scenvi 0.4.6's defaults (``ENVI.__init__`` and ``ENVI.train``).
    """

    info = MethodInfo(
        name="envi",
        summary="ENVI (scenvi): conditional VAE of spatial and reference counts with niche covariance; own environment.",
        paper_url="https://doi.org/10.1038/s41587-024-02193-4",
        code_url="https://github.com/dpeerlab/ENVI",
        package="scenvi",
        install_hint="python -m benchmark env build envi (built on first use otherwise; docs/environments.md)",
        deterministic=False,  # jax on CPU; not checked bit-for-bit across runs
        quick_note="quick_training_steps (200) gradient steps instead of training_steps (10000)",
        needs_counts=True,
        cost_note="10000 training steps per fold (authors' default); about 1.7 steps/s measured on 2 shared CPU cores, "
                  "so roughly 1.5 hours per fold",
    )
    # about 4 minutes and 1.2 GB to build: CI builds it for the contract checks
    environment = EnvSpec(folder=Path(__file__).with_name("envi"), check_import=("scenvi",), build_in_tests=True)
    # 200 quick steps take about 2 minutes per fit on the checks' 120 cells; 20 test the same wrapper
    contract_params = {"quick_training_steps": 20}

    @dataclass
    class Params:
        training_steps: int = 10000
        quick_training_steps: int = 200
        batch_size: int = 128
        num_HVG: int = 2048
        k_nearest: int = 8
        num_layers: int = 3
        num_neurons: int = 1024
        latent_dim: int = 512

    def postprocess(self, task, expression, confidence, info):
        """Expected counts (training + target genes) -> the targets on the task's scale."""
        train = list(task.spatial.var_names)
        mass = expression.loc[:, train].to_numpy(dtype=np.float64).sum(axis=1)
        values = expected_counts_to_task_scale(mass, expression.loc[:, list(task.target_genes)].to_numpy(), task)
        import pandas as pd

        return pd.DataFrame(values, index=expression.index, columns=list(task.target_genes)), confidence, info
