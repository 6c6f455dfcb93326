"""``stdiff``: stDiff (Li et al. 2024, package ``stdiff-sc``), run in its own environment.

stdiff-sc's wheel pins a 2021 stack (torch 1.9, numpy 1.19, pandas 1.1) that does not install for
Python 3.11 and installs top-level modules named ``model`` and ``process``; its code runs unpatched
on current torch/numpy/pandas when installed with ``--no-deps`` beside compatible versions, which
``methods/stdiff/`` pins (benchmark/envs.py, docs/environments.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.envs import EnvMethod, EnvSpec

from . import register
from ._count_scale import expected_counts_to_task_scale
from .base import MethodInfo


@register
class StdiffMethod(EnvMethod):
    """stDiff: a conditional diffusion model (DiT denoiser) over genes, trained on the reference
    with the target genes masked, then sampled for the spatial cells with their training genes fixed.

    Parameters are those of the authors' script (test-stDiff.py): lr 1.6e-4, depth 6, 900 epochs,
    1500 diffusion steps, batch 512, hidden size 1024, 16 heads, reference augmentation noise 10.
    ``run.py`` returns counts per 10^4 training-gene counts; they are put on the task's scale with
    :func:`methods._count_scale.expected_counts_to_task_scale`.
    """

    info = MethodInfo(
        name="stdiff",
        summary="stDiff (stdiff-sc): conditional diffusion model imputing genes; own environment.",
        paper_url="https://doi.org/10.1093/bib/bbae171",
        code_url="https://github.com/fdu-wangfeilab/stDiff",
        package="stdiff-sc",
        install_hint="python -m benchmark env build stdiff (built on first use otherwise; docs/environments.md)",
        deterministic=False,  # torch training on CPU, not checked bit-for-bit
        quick_note="quick_epochs (2) and quick_diffusion_steps (50) instead of 900 epochs and 1500 steps",
        cost_note="needs a GPU: on 2 shared CPU cores one sampling step over 120 cells x 20 genes took 11 s, so the "
                  "authors' 1500 steps and 900 epochs put an osmFISH fold at hundreds of hours",
    )
    environment = EnvSpec(folder=Path(__file__).with_name("stdiff"), check_import=("model", "process"))
    # 50 quick sampling steps take about 9 minutes per fit on the checks' 120 cells; 5 test the same wrapper
    contract_params = {"quick_epochs": 1, "quick_diffusion_steps": 5}

    @dataclass
    class Params:
        epochs: int = 900
        diffusion_steps: int = 1500
        quick_epochs: int = 2
        quick_diffusion_steps: int = 50
        lr: float = 0.00016046744893538737
        depth: int = 6
        hidden_size: int = 1024
        head: int = 16
        batch_size: int = 512
        noise_std: float = 10.0

    def postprocess(self, task, expression, confidence, info):
        """Counts per 10^4 training-gene counts -> the task's scale."""
        values = expected_counts_to_task_scale(np.full(expression.shape[0], 1e4),
                                               expression.loc[:, list(task.target_genes)].to_numpy(), task)
        return pd.DataFrame(values, index=expression.index, columns=list(task.target_genes)), confidence, info
