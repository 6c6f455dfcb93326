"""Registry of imputation methods.

Every module in this folder (except ``base`` and names starting with ``_``) is imported on
first use, and every :class:`~benchmark.methods.base.Method` subclass it decorates with
:func:`register` becomes available by name. Optional dependencies are imported inside
``fit_predict``, so listing methods never needs them.

Packages outside this repository add methods without a pull request through the entry-point
group ``st_impute_bench.methods`` (see CONTRIBUTING.md): each entry point names a module, whose
import registers its methods with :func:`register`, or a :class:`Method` subclass, which is
registered. A plug-in that fails to load is reported by ``ls methods`` like a broken method
file and never stops the suite; a plug-in cannot replace a method of this repository.
"""

from __future__ import annotations

import inspect

from benchmark.errors import MethodUnavailableError, UnknownNameError
from benchmark.registry import Registry

from .base import Method, MethodInfo

#: Entry-point group through which installed packages register methods.
ENTRY_POINT_GROUP = "st_impute_bench.methods"

#: The method registry: this folder's modules, then the entry points of :data:`ENTRY_POINT_GROUP`.
REGISTRY: Registry[type[Method]] = Registry(
    "method",
    key=lambda cls: cls.info.name,
    package=__name__,
    skip_modules={"base"},
    entry_point_group=ENTRY_POINT_GROUP,
    accepts=lambda obj: inspect.isclass(obj) and issubclass(obj, Method),
    accepts_what="a module or a Method subclass",
)


def register(cls: type[Method]) -> type[Method]:
    """Class decorator adding a method to the registry under ``cls.info.name``."""
    return REGISTRY.register(cls)


def all_methods(include_oracles: bool = True) -> dict[str, type[Method]]:
    """Registered methods by name (available or not)."""
    return {n: c for n, c in REGISTRY.all().items() if include_oracles or not c.info.oracle}


def broken_modules() -> dict[str, str]:
    """Method files and plug-ins that failed to load: ``{module name or entry point: error}``."""
    return REGISTRY.broken()


def get_method_class(name: str) -> type[Method]:
    """The class of a registered method, or of the method behind a tuned label (``knn+tuned``)."""
    from benchmark.tuning import base_name

    name = base_name(name)
    methods = all_methods()
    if name not in methods:
        raise UnknownNameError("method", name, list(methods))
    return methods[name]


def get_method(name: str, **params) -> Method:
    """Instantiate a registered method; raises if it is unavailable."""
    cls = get_method_class(name)
    ok, reason = cls.availability()
    if not ok:
        raise MethodUnavailableError(f"method {name!r} is unavailable: {reason}")
    return cls(**params)


def available_methods() -> list[str]:
    """Every available method that is not an oracle or a variant (``--methods all``)."""
    return [n for n, c in all_methods(include_oracles=False).items()
            if c.info.variant_of is None and c.availability()[0]]


def _env_unbuilt(name: str) -> bool:
    """A method with its own environment that is not built yet: ``"all"`` leaves it out, since
    building it costs gigabytes and many minutes (docs/environments.md); naming it builds it."""
    cls = get_method_class(name)
    state = getattr(cls, "env_state", None)
    return state is not None and state().record() is None


def select_methods(names: list[str], exclude: list[str] = ()) -> list[str]:
    """The methods of a run: ``names`` with ``"all"`` expanded to :func:`available_methods` (the
    named ones first, in their order; methods whose own environment is not built yet only when
    named), minus ``exclude``.

    Raises
    ------
    benchmark.errors.UnknownNameError
        For an excluded name that is not registered (a typo would otherwise exclude nothing).
    benchmark.errors.InputError
        If no method is left.
    """
    from benchmark.errors import InputError

    names = list(names)
    if "all" in names:
        names = [n for n in names if n != "all"] + [n for n in available_methods()
                                                   if n not in names and not _env_unbuilt(n)]
    excluded = set(exclude)
    for name in exclude:  # in the given order, so the first typo is the one named
        get_method_class(name)
    out = [n for n in names if n not in excluded]
    if not out:
        raise InputError(f"no method left to run after excluding {sorted(excluded)}")
    return out


def default_methods() -> list[str]:
    """Methods run when the user names none: those implemented in this repository (the controls
    and stImpute). Wrapped packages train for minutes to hours at their authors' settings
    (Tangram: about 15 minutes per osmFISH fold on 2 cores), so they run when named or with
    ``--methods all``; this keeps the default run to minutes whatever is installed."""
    return [n for n in available_methods() if all_methods()[n].info.package is None]


__all__ = [
    "Method",
    "MethodInfo",
    "REGISTRY",
    "ENTRY_POINT_GROUP",
    "register",
    "all_methods",
    "broken_modules",
    "get_method",
    "get_method_class",
    "default_methods",
    "available_methods",
    "select_methods",
]
