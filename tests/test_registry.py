"""The generic registry (benchmark/registry.py): registering, looking up, lazy discovery of a
package's modules and of entry points, load errors, and snapshot/restore, on a scratch package,
plus the method and dataset registries built on it."""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass

import pytest

from benchmark import datasets, methods
from benchmark.errors import UnknownNameError
from benchmark.registry import Registry


@dataclass(frozen=True)
class Thing:
    name: str
    value: int = 0


def _things(**kw) -> Registry[Thing]:
    return Registry("thing", key=lambda t: t.name, accepts=lambda o: isinstance(o, Thing),
                    accepts_what="a module or a Thing", **kw)


def test_register_get_and_unknown_names():
    reg = _things()
    a = reg.register(Thing("alpha", 1))
    assert reg.get("alpha") is a and "alpha" in reg and len(reg) == 1 and reg.names() == ["alpha"]
    reg.register(Thing("alpha", 1))  # the same (equal) object again: allowed, as a module re-run would
    with pytest.raises(ValueError, match="two things are registered as 'alpha'"):
        reg.register(Thing("alpha", 2))
    with pytest.raises(UnknownNameError, match="alpah") as err:
        reg.get("alpah")
    assert "alpha" in str(err.value)  # the close match is suggested
    assert reg.unregister("alpha") == a and "alpha" not in reg


def test_order_sorted_or_as_registered():
    sorted_reg, ordered = _things(), _things(sort=False)
    for reg in (sorted_reg, ordered):
        for name in ("b", "c", "a"):
            reg.register(Thing(name))
    assert sorted_reg.names() == ["a", "b", "c"] and ordered.names() == ["b", "c", "a"]
    with ordered.isolated():
        ordered.unregister("c")
    assert ordered.names() == ["b", "c", "a"]  # restored in its order


def _non_negative(t: Thing) -> None:
    if t.value < 0:
        raise ValueError("value must be at least 0")


def test_replace_and_validate_options():
    reg = _things(replace=True, validate=_non_negative)
    reg.register(Thing("a", 1))
    reg.register(Thing("a", 2))
    assert reg.get("a").value == 2
    with pytest.raises(ValueError, match="at least 0"):
        reg.register(Thing("b", -1))
    assert "b" not in reg


def test_snapshot_restore_and_isolated():
    reg = _things()
    reg.register(Thing("kept"))
    snap = reg.snapshot()
    reg.register(Thing("added"))
    reg.unregister("kept")
    reg.restore(snap)
    assert reg.names() == ["kept"]
    with reg.isolated():
        reg.register(Thing("temporary"))
        assert "temporary" in reg
    assert reg.names() == ["kept"]
    other = Registry("other", key=lambda t: t.name)
    with pytest.raises(ValueError, match="snapshot of the thing registry"):
        other.restore(snap)


@pytest.fixture
def scratch_package(tmp_path, monkeypatch):
    """A package ``regdemo`` whose modules register Things in ``regdemo.REG`` (a registry of that
    package), one module that fails to import, one helper that is skipped; and a distribution
    declaring entry points of group ``regdemo.things``."""
    pkg = tmp_path / "regdemo"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "from benchmark.registry import Registry\n"
        "from tests.test_registry import Thing\n"
        "REG = Registry('thing', key=lambda t: t.name, package='regdemo', skip_modules={'helper'},\n"
        "               entry_point_group='regdemo.things', accepts=lambda o: isinstance(o, Thing),\n"
        "               accepts_what='a module or a Thing')\n")
    (pkg / "one.py").write_text("from regdemo import REG\nfrom tests.test_registry import Thing\n"
                                "REG.register(Thing('one'))\n")
    (pkg / "helper.py").write_text("raise RuntimeError('a helper must not be imported by discovery')\n")
    (pkg / "_private.py").write_text("raise RuntimeError('nor a private module')\n")
    (pkg / "bad.py").write_text("raise ImportError('needs libfoo.so')\n")
    plug = tmp_path / "regdemo_plugin.py"
    plug.write_text("from regdemo import REG\nfrom tests.test_registry import Thing\n"
                    "REG.register(Thing('from-module'))\nOBJ = Thing('from-object')\nNOT_A_THING = 42\n"
                    "CLASH = Thing('one', value=9)\n")
    info = tmp_path / "regdemo_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: regdemo-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[regdemo.things]\nmod = regdemo_plugin\nobj = regdemo_plugin:OBJ\nbad = regdemo_plugin:NOT_A_THING\n"
        "clash = regdemo_plugin:CLASH\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield
    for name in [m for m in sys.modules if m.startswith("regdemo")]:
        del sys.modules[name]


def test_lazy_discovery_of_modules_and_entry_points(scratch_package):
    reg = importlib.import_module("regdemo").REG
    assert "not yet discovered" in repr(reg)
    assert reg.names() == ["from-module", "from-object", "one"]
    broken = reg.broken()
    assert "ImportError: needs libfoo.so" in broken["bad"]
    assert "must name a module or a Thing, not a int" in broken["entry point bad = regdemo_plugin:NOT_A_THING"]
    # entry points load after the package: a plug-in cannot take a built-in name
    assert "two things are registered as 'one'" in broken["entry point clash = regdemo_plugin:CLASH"]
    assert reg.get("one").value == 0
    assert not [k for k in broken if "helper" in k or "private" in k]


def test_snapshot_discovers_first(scratch_package):
    """A snapshot taken before discovery must not restore an empty registry afterwards."""
    reg = importlib.import_module("regdemo").REG
    snap = reg.snapshot()
    reg.restore(snap)
    assert "one" in reg


def test_untolerated_import_error_propagates(scratch_package):
    reg = Registry("thing", key=lambda t: t.name, package="regdemo", skip_modules={"helper"},
                   tolerate_broken=False)
    with pytest.raises(ImportError, match="libfoo"):
        reg.discover()


def test_method_and_dataset_registries_use_it():
    from benchmark.methods.base import Method, MethodInfo

    assert set(methods.all_methods()) == set(methods.REGISTRY.names())
    assert {"mean", "knn", "stimpute"} <= set(methods.REGISTRY.names())
    assert set(datasets.all_datasets()) == set(datasets.REGISTRY.names()) and "synthetic" in datasets.REGISTRY

    class Scratch(Method):
        info = MethodInfo(name="scratch-registry-test", summary="registered for one test")

    with methods.REGISTRY.isolated():
        methods.register(Scratch)
        assert methods.get_method_class("scratch-registry-test") is Scratch
    assert "scratch-registry-test" not in methods.all_methods()
    spec = datasets.get_dataset_spec("synthetic")
    with pytest.raises(ValueError, match="kind must be 'paired' or 'spatial'"):
        datasets.register_dataset(type(spec)(**{**spec.__dict__, "name": "odd", "kind": "other"}))
    assert "odd" not in datasets.all_datasets()


def test_a_broken_dataset_plugin_is_listed_by_ls(tmp_path, monkeypatch, capsys):
    from benchmark.cli import main

    (tmp_path / "regdemo_datasets.py").write_text("NOT_A_SPEC = 'osmfish'\n")
    info = tmp_path / "regdemo_datasets-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: regdemo-datasets\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{datasets.ENTRY_POINT_GROUP}]\nodd = regdemo_datasets:NOT_A_SPEC\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    before = datasets.REGISTRY.broken()
    try:
        with datasets.REGISTRY.isolated():
            datasets.REGISTRY.load_entry_points()  # installed after discovery
            assert main(["ls", "datasets"]) == 0
            out = capsys.readouterr().out
            assert "synthetic" in out
            assert ("entry point odd = regdemo_datasets:NOT_A_SPEC failed to load: TypeError: "
                    "regdemo_datasets:NOT_A_SPEC must name a module or a DatasetSpec, not a str") in out
        assert datasets.REGISTRY.broken() == before
    finally:
        sys.modules.pop("regdemo_datasets", None)
