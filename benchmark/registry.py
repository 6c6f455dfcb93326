"""One registry class for methods, datasets and metrics.

A :class:`Registry` maps names to registered objects (a method class, a dataset spec, a metric)
and fills itself on first use:

1. every module of its package folder (except those it is told to skip and names starting
   with ``_``) is imported, and each registers what it defines by calling :meth:`Registry.register`;
2. every entry point of its group (packages installed outside this repository) is loaded: an
   entry point names a module, whose import registers its objects, or an object itself, which is
   registered. Entry points load after the folder, so a plug-in cannot take a built-in name.

A module or plug-in that fails to load is recorded in :meth:`Registry.broken` (and listed by
``ls``) instead of stopping the suite, unless the registry is told to raise.

Tests and ``validate`` register objects for a while and then put the registry back as it was
with :meth:`Registry.snapshot` / :meth:`Registry.restore` (or the :meth:`Registry.isolated`
context manager) instead of editing private dictionaries.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import inspect
import pkgutil
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Iterator, TypeVar

from .errors import UnknownNameError

T = TypeVar("T")


@dataclass(frozen=True)
class RegistrySnapshot(Generic[T]):
    """The state of a :class:`Registry` at one moment (see :meth:`Registry.snapshot`)."""

    kind: str
    entries: dict[str, T] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)


class Registry(Generic[T]):
    """Named objects of one kind, discovered lazily from a package folder and entry points.

    Parameters
    ----------
    kind
        What is registered, in messages (``"method"``, ``"dataset"``, ``"metric"``).
    key
        The name an object is registered under (e.g. ``lambda cls: cls.info.name``).
    package
        Import name of the package whose modules are imported on first use (``None``: none).
    skip_modules
        Modules of ``package`` that define no entries (helpers); names starting with ``_`` are
        always skipped.
    entry_point_group
        Entry-point group whose entry points are loaded after the package's modules (``None``:
        none).
    accepts
        Whether an object loaded from an entry point (other than a module) is an entry of this
        registry; a rejected object is reported as broken with ``accepts_what`` in the message.
    accepts_what
        What an entry point must name, in that message (``"a module or a Method subclass"``).
    validate
        Called with each object before it is registered; raises ``ValueError`` for a bad one.
    replace
        Whether registering another object under a taken name replaces it (``False``: raises
        ``ValueError``, so that two modules cannot silently claim one name).
    tolerate_broken
        Record a package module that fails to import in :meth:`broken` (``True``) or let the
        error propagate (``False``, for registries whose modules need nothing optional).
    sort
        List entries sorted by name (``True``) or in registration order (``False``, for a
        registry whose order means something, such as the columns of a results table).
    """

    def __init__(
        self,
        kind: str,
        key: Callable[[T], str],
        *,
        package: str | None = None,
        skip_modules: frozenset[str] | set[str] | tuple[str, ...] = (),
        entry_point_group: str | None = None,
        accepts: Callable[[Any], bool] | None = None,
        accepts_what: str = "a module",
        validate: Callable[[T], None] | None = None,
        replace: bool = False,
        tolerate_broken: bool = True,
        sort: bool = True,
    ) -> None:
        self.kind = kind
        self._key = key
        self.package = package
        self.skip_modules = frozenset(skip_modules)
        self.entry_point_group = entry_point_group
        self._accepts = accepts
        self._accepts_what = accepts_what
        self._validate = validate
        self._replace = replace
        self._tolerate_broken = tolerate_broken
        self._sort = sort
        self._entries: dict[str, T] = {}
        self._broken: dict[str, str] = {}
        self._discovered = False
        self._discovering = False

    def __repr__(self) -> str:
        state = f"{len(self._entries)} entries" if self._discovered else "not yet discovered"
        return f"Registry({self.kind!r}, {state})"

    # -- registering ---------------------------------------------------------------------------

    def register(self, obj: T) -> T:
        """Add ``obj`` under its key; returns ``obj`` (so it works as a class decorator).

        Raises
        ------
        ValueError
            If ``validate`` rejects it, or (unless the registry replaces) another object is
            already registered under the same name.
        """
        if self._validate is not None:
            self._validate(obj)
        name = self._key(obj)
        old = self._entries.get(name)
        if old is not None and not self._replace and not (old is obj or old == obj):
            both = f": {old} and {obj}" if inspect.isclass(old) and inspect.isclass(obj) else ""
            raise ValueError(f"two {self.kind}s are registered as {name!r}{both}")
        self._entries[name] = obj
        return obj

    def unregister(self, name: str) -> T | None:
        """Remove ``name``; returns what was registered under it (``None`` if nothing)."""
        return self._entries.pop(name, None)

    # -- looking up ----------------------------------------------------------------------------

    def all(self) -> dict[str, T]:
        """Every registered object by name (a copy), sorted by name or in registration order."""
        self.discover()
        return dict(sorted(self._entries.items())) if self._sort else dict(self._entries)

    def names(self) -> list[str]:
        """Registered names, in the order of :meth:`all`."""
        return list(self.all())

    def get(self, name: str) -> T:
        """The object registered as ``name``.

        Raises
        ------
        benchmark.errors.UnknownNameError
            Naming the closest registered names.
        """
        self.discover()
        if name not in self._entries:
            raise UnknownNameError(self.kind, name, sorted(self._entries))
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        self.discover()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self.discover()
        return len(self._entries)

    def broken(self) -> dict[str, str]:
        """Modules and entry points that failed to load: ``{module name or 'entry point N = V': error}``."""
        self.discover()
        return dict(self._broken)

    # -- discovery -----------------------------------------------------------------------------

    def discover(self) -> None:
        """Import the package's modules and load the entry points, once per process."""
        if self._discovered or self._discovering:
            return  # _discovering: a module being imported looks the registry up
        self._discovering = True
        try:
            if self.package is not None:
                self._import_package()
            if self.entry_point_group is not None:
                self.load_entry_points()
            self._discovered = True
        finally:
            self._discovering = False

    def _import_package(self) -> None:
        pkg = importlib.import_module(self.package)
        for mod in pkgutil.iter_modules(pkg.__path__):
            if mod.name in self.skip_modules or mod.name.startswith("_"):
                continue
            try:
                importlib.import_module(f"{self.package}.{mod.name}")
            except Exception as exc:  # a broken module must not break the suite
                if not self._tolerate_broken:
                    raise
                self._broken[mod.name] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"

    def load_entry_points(self) -> None:
        """Load the installed entry points of :attr:`entry_point_group`.

        Called by :meth:`discover`; call it again after installing a plug-in in a running
        process (an entry point already loaded registers the same object again, which is allowed).
        """
        group = self.entry_point_group
        if group is None:
            return
        try:
            eps = sorted(importlib.metadata.entry_points(group=group), key=lambda e: (e.name, e.value))
        except Exception as exc:  # a corrupt installed distribution must not break the suite either
            self._broken[f"entry points {group}"] = f"{type(exc).__name__}: {exc}"
            return
        for ep in eps:
            where = f"entry point {ep.name} = {ep.value}"
            try:
                obj = ep.load()
                if inspect.ismodule(obj):
                    continue  # importing it registered its objects
                if self._accepts is None or not self._accepts(obj):
                    raise TypeError(f"{ep.value} must name {self._accepts_what}, not {_describe(obj)}")
                self.register(obj)
            except Exception as exc:  # noqa: BLE001 - reported by `ls`, like a broken module
                self._broken[where] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"

    # -- snapshot / restore --------------------------------------------------------------------

    def snapshot(self) -> RegistrySnapshot[T]:
        """The registry's current entries and load errors, for :meth:`restore`.

        Discovers first: a snapshot of an undiscovered registry, restored after its modules
        were imported, would leave it empty (a module is imported, and registers, only once).
        """
        self.discover()
        return RegistrySnapshot(self.kind, dict(self._entries), dict(self._broken))

    def restore(self, snapshot: RegistrySnapshot[T]) -> None:
        """Put back the entries and load errors of ``snapshot``: objects registered since are
        forgotten and objects removed since come back."""
        if snapshot.kind != self.kind:
            raise ValueError(f"a snapshot of the {snapshot.kind} registry cannot restore the {self.kind} registry")
        self._entries = dict(snapshot.entries)
        self._broken = dict(snapshot.broken)
        self._discovered = True

    @contextlib.contextmanager
    def isolated(self) -> Iterator[Registry[T]]:
        """A block whose registrations (and removals) are undone when it ends."""
        snap = self.snapshot()
        try:
            yield self
        finally:
            self.restore(snap)


def _describe(obj: Any) -> str:
    if inspect.isclass(obj):
        return f"the class {obj.__module__}.{obj.__qualname__}"
    return f"a {type(obj).__name__}"


__all__ = ["Registry", "RegistrySnapshot"]
