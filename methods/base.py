"""The method interface: metadata, parameters and ``fit_predict``.

A method is one class in one file under ``methods/``::

    @register
    class MyMethod(Method):
        info = MethodInfo(name="mine", summary="...", requires=("mypkg",))

        @dataclass
        class Params:
            k: int = 10

        def fit_predict(self, task: ImputationTask) -> Prediction:
            import mypkg  # optional dependencies are imported here, never at module level
            ...

Nothing else needs editing: the registry discovers the file.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import importlib.util
from dataclasses import dataclass, field
from typing import Any, ClassVar

from benchmark.task import ImputationTask, Prediction


@dataclass(frozen=True)
class MethodInfo:
    """Metadata every method carries.

    Attributes
    ----------
    name
        Registry name (lower case, no spaces).
    summary
        One line saying what the method does.
    paper_url, code_url
        Where the method is described and implemented.
    package
        PyPI distribution the method wraps (its installed version goes into provenance),
        or ``None`` for methods implemented in this repository.
    preprocessing
        Input the method expects in ``task.*.X``: ``"spage"`` (the shared default) or the name
        of its own scheme.
    returns_confidence
        Whether :class:`Prediction` carries per-gene confidence scores.
    requires
        Importable module names of optional dependencies; missing ones make the method unavailable.
    install_hint
        What to run to install those dependencies.
    control
        A control method (calibrates metrics) rather than an imputation method.
    oracle
        Perfect-information control: receives the held-out truth. Tests only; never run by default.
    deterministic
        Whether the same seed gives identical output (used by contract tests).
    quick_note
        What ``--quick`` changes for this method (fewer epochs, ...).
    variant_of
        For an ablation or variant, the method it derives from; variants are not run by default.
    preload
        Modules the harness may import once, before it forks a process per job, to spare each
        job the import time. Only modules that are safe to import before ``fork`` (not jax).
    known_unavailable
        Why a published method cannot run beside this suite's pinned stack (e.g. its package
        does not install or import here). Such a method is listed, always unavailable, with this
        reason, rather than silently left out.
    cost_note
        What running the method with its authors' settings costs, where that keeps it out of a
        reference run on a CPU (e.g. hours per fold); the leaderboard shows it for a method
        that has no row there.
    needs_counts
        The method models raw counts (reads ``layers["counts"]`` as molecule counts: a count
        likelihood, NMF of counts, ...). On a dataset whose values are not counts (log-normalised,
        intensities, ranks; ``PairedData.spatial_values`` / ``reference_values``) its jobs are
        recorded with status ``not_applicable`` and the reason, instead of running on a surrogate.
    expected_flags
        Quality flags (:mod:`benchmark.quality`) that this method raises by design and that
        therefore say nothing about a failure, e.g. ``("constant_prediction",)`` for the
        ``mean`` control, which predicts the same value in every cell. They are not recorded.
    """

    name: str
    summary: str
    paper_url: str = ""
    code_url: str = ""
    package: str | None = None
    preprocessing: str = "spage"
    returns_confidence: bool = False
    requires: tuple[str, ...] = ()
    install_hint: str = ""
    control: bool = False
    oracle: bool = False
    deterministic: bool = True
    quick_note: str = ""
    variant_of: str | None = None
    preload: tuple[str, ...] = ()
    known_unavailable: str = ""
    cost_note: str = ""
    expected_flags: tuple[str, ...] = ()
    needs_counts: bool = False


class Method:
    """Base class of all imputation methods.

    Subclasses set :attr:`info`, may define a nested dataclass ``Params`` holding their
    parameters with the authors' defaults, and implement :meth:`fit_predict`.
    """

    info: ClassVar[MethodInfo]

    #: Values to try under ``run --tune`` for the parameters the method's authors say matter,
    #: ``{parameter: (value, ...)}``, the default among them (benchmark/tuning.py). Empty: the
    #: method has nothing to tune and gets no tuned row.
    search_space: ClassVar[dict[str, tuple]] = {}

    #: Parameters the contract checks (benchmark/contract.py, run in CI on every method) use
    #: instead of the defaults. Only for a method whose ``--quick`` fit still takes minutes on the
    #: checks' 120-cell data: the checks test the wrapper (shapes, order, inputs left alone), not
    #: its accuracy, so fewer training steps test the same code.
    contract_params: ClassVar[dict[str, Any]] = {}

    @dataclass
    class Params:
        pass

    def __init__(self, **params: Any):
        names = {f.name for f in dataclasses.fields(self.Params)}
        unknown = sorted(set(params) - names)
        if unknown:
            from benchmark.errors import InputError

            raise InputError(
                f"method {self.info.name!r} has no parameter(s) {unknown}; "
                f"its parameters are: {sorted(names) or '(none)'}"
            )
        self.params = self.Params(**params)

    # -- what subclasses implement -------------------------------------------------
    def fit_predict(self, task: ImputationTask) -> Prediction:
        if self.info.known_unavailable:  # a listed-only method: say why instead of NotImplementedError
            from benchmark.errors import MethodUnavailableError

            raise MethodUnavailableError(f"method {self.info.name!r} is unavailable: {self.info.known_unavailable}")
        raise NotImplementedError  # pragma: no cover - abstract

    # -- helpers shared by all methods ---------------------------------------------
    def param_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.params)

    @classmethod
    def missing_requirements(cls) -> list[str]:
        """Optional dependencies that cannot be imported (checked without importing them)."""
        missing = []
        for mod in cls.info.requires:
            try:
                found = importlib.util.find_spec(mod) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                missing.append(mod)
        return missing

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        """``(True, "")`` or ``(False, reason with install hint)``."""
        if cls.info.known_unavailable:
            return False, f"known unavailable: {cls.info.known_unavailable}"
        missing = cls.missing_requirements()
        if not missing:
            return True, ""
        hint = f"; install with: {cls.info.install_hint}" if cls.info.install_hint else ""
        return False, f"missing optional dependency {', '.join(missing)}{hint}"

    @classmethod
    def package_version(cls) -> str | None:
        """Installed version of the wrapped package, if any."""
        if not cls.info.package:
            return None
        try:
            return importlib.metadata.version(cls.info.package)
        except importlib.metadata.PackageNotFoundError:
            return None


def method_params_schema(cls: type[Method]) -> dict[str, Any]:
    """Default parameters of a method class, for listings and provenance."""
    return {f.name: (f.default if f.default is not dataclasses.MISSING else None) for f in dataclasses.fields(cls.Params)}


__all__ = ["Method", "MethodInfo", "method_params_schema", "field"]
