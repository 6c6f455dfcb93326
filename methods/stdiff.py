"""``stdiff``: stDiff (Li et al. 2024, package ``stdiff-sc``), listed as known-unavailable."""

from __future__ import annotations

from . import register
from .base import Method, MethodInfo

#: Why stDiff cannot run here (checked in a fresh venv with this suite's pins; ../shared/INSTALL-NOTES.md).
REASON = (
    "stdiff-sc 1.1.4, the only stDiff on PyPI, pins torch==1.9.0, numpy==1.19.5, pandas==1.1.5, anndata==0.7.8, "
    "scanpy==1.7.2 and ray==2.4.0; pip tries to build pandas 1.1.5 from source for Python 3.11 and fails "
    "(no pkg_resources), and its wheel would install top-level modules named `model` and `process`"
)


@register
class StdiffMethod(Method):
    """stDiff: a conditional diffusion model over genes that imputes spatial expression from the
    scRNA-seq reference.

    Listed so that it is visibly not run rather than silently left out: its PyPI wheel pins a
    2021 stack (torch 1.9, numpy 1.19, pandas 1.1) that cannot be installed for Python 3.11
    beside this suite (see :data:`REASON`). The registry reports it as unavailable with that
    reason, ``--methods all`` skips it and naming it stops the run before any work.
    """

    info = MethodInfo(
        name="stdiff",
        summary="stDiff (stdiff-sc): conditional diffusion model imputing genes; not installable beside this stack.",
        paper_url="https://doi.org/10.1093/bib/bbae171",
        code_url="https://github.com/fdu-wangfeilab/stDiff",
        package="stdiff-sc",
        requires=("stDiff",),
        install_hint="none that works here: stdiff-sc pins torch 1.9 / numpy 1.19 / pandas 1.1",
        known_unavailable=REASON,
    )
