"""``imputefish``: ImputeFISH (Swain et al.; package ``imputefish``), run in its own environment.

The package works with scikit-learn 1.7 but not with this suite's 1.9 (``methods/imputefish/``
says why), so it runs in a small environment of its own (benchmark/envs.py, docs/environments.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmark.envs import EnvMethod, EnvSpec

from . import register
from .base import MethodInfo


@register
class ImputeFISHMethod(EnvMethod):
    """ImputeFISH: spatial-neighbourhood features, a joint SVD, then ridge regression.

    What it does (``ImputeFISH.GeneEnhancement``, unchanged): both data sets are scaled gene by
    gene to unit variance (no centring) over the shared genes; each spatial cell gets the mean of
    its 5 nearest cells in space (itself included) as extra features, and each reference cell the
    same features predicted from its expression by a 10-nearest-neighbour regression trained on
    the spatial cells; a ``TruncatedSVD`` (50 components) is fitted on equal-sized random samples
    (with replacement) of reference and spatial cells; a ridge regression, its penalty chosen by
    ``RidgeCV`` among 1 to 1e5, maps the reference cells' SVD scores to their target genes and
    predicts the spatial cells; negative predictions are set to 0.

    Input: the task's ``X`` (the shared SpaGE-style log-normalised input; the package does not
    prescribe a normalisation) with the original gene names; coordinates: the first two columns
    of ``obsm["spatial"]``, the two the package's API takes (on the 3-D BDTNP embryo a
    projection). Fields of view are tiled apart in ``obsm["spatial"]`` (datasets/quirks.py), so
    the 5 spatial neighbours stay within a field.

    Settings: the package's defaults; one deviation only where the package cannot run: with fewer
    than 25 shared genes its 50 SVD components exceed the features and scikit-learn raises, so
    they are capped at ``2 x genes - 1`` (``info["svd_components"]``).

    Output: ridge predictions of the reference's target genes, on the task's scale, returned as
    they are. Deterministic: the global NumPy generator is seeded with the task's seed.
    """

    info = MethodInfo(
        name="imputefish",
        summary="ImputeFISH: spatial-neighbourhood features, joint SVD of reference and spatial cells, ridge; own env.",
        paper_url="https://github.com/swainasish/ImputeFISH (the package README names no paper)",
        code_url="https://github.com/swainasish/ImputeFISH",
        package="imputefish",
        install_hint="python -m benchmark env build imputefish (built on first use otherwise; docs/environments.md)",
    )

    environment = EnvSpec(folder=Path(__file__).with_name("imputefish"), check_import=("ImputeFISH",),
                          build_in_tests=True)

    @dataclass
    class Params:
        #: SVD components; the package fixes 50. Capped at ``2 x shared genes - 1``.
        n_components: int = 50
