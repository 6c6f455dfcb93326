"""Registry of imputation methods.

Every module in this folder (except ``base`` and names starting with ``_``) is imported on
first use, and every :class:`~benchmark.methods.base.Method` subclass it decorates with
:func:`register` becomes available by name. Optional dependencies are imported inside
``fit_predict``, so listing methods never needs them.
"""

from __future__ import annotations

import importlib
import pkgutil
import traceback

from benchmark.errors import MethodUnavailableError, UnknownNameError

from .base import Method, MethodInfo

_REGISTRY: dict[str, type[Method]] = {}
_BROKEN: dict[str, str] = {}  # module name -> import error, shown by `ls methods`
_DISCOVERED = False


def register(cls: type[Method]) -> type[Method]:
    """Class decorator adding a method to the registry under ``cls.info.name``."""
    name = cls.info.name
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ValueError(f"two methods are registered as {name!r}: {_REGISTRY[name]} and {cls}")
    _REGISTRY[name] = cls
    return cls


def _discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    _DISCOVERED = True
    for mod in pkgutil.iter_modules(__path__):
        if mod.name in {"base"} or mod.name.startswith("_"):
            continue
        try:
            importlib.import_module(f"{__name__}.{mod.name}")
        except Exception as exc:  # a broken method file must not break the suite
            _BROKEN[mod.name] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"


def all_methods(include_oracles: bool = True) -> dict[str, type[Method]]:
    """Registered methods by name (available or not)."""
    _discover()
    return {n: c for n, c in sorted(_REGISTRY.items()) if include_oracles or not c.info.oracle}


def broken_modules() -> dict[str, str]:
    _discover()
    return dict(_BROKEN)


def get_method_class(name: str) -> type[Method]:
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


def default_methods() -> list[str]:
    """Methods run when the user names none: those implemented in this repository (the controls
    and stImpute). Wrapped packages train for minutes to hours at their authors' settings
    (Tangram: about 15 minutes per osmFISH fold on 2 cores), so they run when named or with
    ``--methods all``; this keeps the default run to minutes whatever is installed."""
    return [n for n in available_methods() if all_methods()[n].info.package is None]


__all__ = [
    "Method",
    "MethodInfo",
    "register",
    "all_methods",
    "broken_modules",
    "get_method",
    "get_method_class",
    "default_methods",
    "available_methods",
]
