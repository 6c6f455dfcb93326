"""``envi``: ENVI (Haviv et al. 2024, package ``scenvi``), listed as known-unavailable."""

from __future__ import annotations

from . import register
from .base import Method, MethodInfo

#: Why ENVI cannot run here (checked in a fresh venv with this suite's pins; ../shared/INSTALL-NOTES.md).
REASON = (
    "scenvi 0.4.6 does not install beside this suite's pinned stack: it downgrades flax 0.12.8 to 0.10.7 and "
    "adds tensorflow-probability 0.22.1, after which `import scenvi` fails with AttributeError: "
    "jax.interpreters.xla has no attribute 'pytype_aval_mappings' (tfp 0.22 vs jax 0.10)"
)


@register
class EnviMethod(Method):
    """ENVI: a conditional VAE integrating spatial and scRNA-seq data that imputes genes and
    predicts spatial context (covariance environments).

    Listed so that it is visibly not run rather than silently left out: its only PyPI
    distribution, ``scenvi``, cannot be installed together with the jax/flax versions that
    moscot needs here (see :data:`REASON`). The registry reports it as unavailable with that
    reason, ``--methods all`` skips it, naming it stops the run before any work, and the inherited
    ``fit_predict`` raises MethodUnavailableError with the reason.
    """

    info = MethodInfo(
        name="envi",
        summary="ENVI (scenvi): conditional VAE of spatial and reference data; not installable beside this stack.",
        paper_url="https://doi.org/10.1038/s41587-024-02193-4",
        code_url="https://github.com/dpeerlab/ENVI",
        package="scenvi",
        requires=("scenvi",),
        install_hint="none that works here: scenvi conflicts with this suite's jax/flax pins",
        known_unavailable=REASON,
    )
