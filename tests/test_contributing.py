"""The CONTRIBUTING guide works as written: its example validates and runs, its commands parse,
and a method published as a plug-in (entry point) is picked up, or reported when broken."""

from __future__ import annotations

import importlib
import importlib.util
import re
import shlex
import shutil
import sys

import pytest

from benchmark import leaderboard as lbm
from benchmark import methods
from benchmark.cli import build_parser, main
from benchmark.config import repo_root
from benchmark.harness import RunConfig, run_benchmark

GUIDE = repo_root() / "CONTRIBUTING.md"
EXAMPLE = repo_root() / "docs" / "examples" / "example_method.py"


def test_guide_includes_the_example_verbatim_and_is_linked():
    guide = GUIDE.read_text()
    blocks = re.findall(r"```python\n(.*?)```", guide, flags=re.S)
    assert EXAMPLE.read_text() in blocks, "CONTRIBUTING.md must show docs/examples/example_method.py verbatim"
    assert "CONTRIBUTING.md" in (repo_root() / "README.md").read_text()


def test_guide_commands_parse_and_name_what_exists():
    guide = GUIDE.read_text()
    commands = [line for block in re.findall(r"```bash\n(.*?)```", guide, flags=re.S)
                for line in block.splitlines() if line.startswith("python -m benchmark ")]
    assert any(" validate " in c for c in commands) and any("--update-reference" in c for c in commands)
    parser = build_parser()
    for command in commands:
        args = parser.parse_args(shlex.split(command.split("#")[0])[3:])
        assert callable(args.func), command
    assert f'[project.entry-points."{methods.ENTRY_POINT_GROUP}"]' in guide
    for path in re.findall(r"\]\(((?:docs|methods|benchmark|\.github)/[^)#]+)\)", guide):
        assert (repo_root() / path).exists(), path
    assert (repo_root() / ".github" / "workflows" / "leaderboard.yml").is_file()


@pytest.fixture
def scratch_registry():
    """Methods registered (and load errors recorded) inside a test are forgotten after it."""
    with methods.REGISTRY.isolated():
        yield methods


def test_example_copied_to_a_method_folder_validates_and_runs_a_quick_benchmark(tmp_path, capsys, monkeypatch,
                                                                               scratch_registry):
    folder = tmp_path / "my_methods"
    folder.mkdir()
    shutil.copy(EXAMPLE, folder / "ridge.py")
    assert main(["validate", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "PASS  output" in out and "FAIL" not in out and "--methods example-ridge" in out

    # register it as the registry would (the file imported once), then benchmark it on built-in data
    spec = importlib.util.spec_from_file_location("contrib_ridge", folder / "ridge.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "contrib_ridge", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    assert methods.all_methods()["example-ridge"] is module.ExampleRidge
    res = run_benchmark(RunConfig(datasets=["synthetic-small"], methods=["example-ridge", "mean"], quick=True,
                                  n_folds=3, cluster=False, out=tmp_path / "run"), progress=False)
    assert not res.failures
    s = res.summary.loc["synthetic-small"]
    # the example uses the measured genes: it must recover cell-to-cell variation, which `mean` cannot
    assert s.loc["example-ridge", "gene_pcc"] > 0.2 and s.loc["mean", "gene_pcc"] == 0.0

    # ... and the leaderboard of that run ranks it
    page = lbm.render_markdown(lbm.collect([tmp_path / "run"]))
    rows = [line for line in page.split("## synthetic-small", 1)[1].splitlines() if line.startswith("| 1 ")]
    assert rows and rows[0].startswith("| 1 | `example-ridge`")


def _dist_info(root, name: str, entry_points: str) -> None:
    info = root / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)


def test_entry_point_plugins_register_methods_and_broken_ones_are_reported(tmp_path, monkeypatch, capsys,
                                                                          scratch_registry):
    pkg = tmp_path / "stib_plugin_demo"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("NOT_A_METHOD = 42\n")
    shutil.copy(EXAMPLE, pkg / "ridge.py")
    (pkg / "clash.py").write_text(
        "from benchmark.methods.base import Method, MethodInfo\n\n"
        "class Clash(Method):\n    info = MethodInfo(name='knn', summary='takes a built-in name')\n")
    (pkg / "raising.py").write_text("raise ImportError('needs libfoo.so')\n")
    _dist_info(tmp_path, "stib-plugin-demo", (
        f"[{methods.ENTRY_POINT_GROUP}]\n"
        "example-ridge = stib_plugin_demo.ridge\n"
        "broken = stib_plugin_demo.raising\n"
        "clash = stib_plugin_demo.clash:Clash\n"
        "value = stib_plugin_demo:NOT_A_METHOD\n"
        "[console_scripts]\nunrelated = stib_plugin_demo:main\n"))
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    methods.REGISTRY.load_entry_points()  # the plug-in was installed after discovery
    try:
        registry = methods.all_methods()
        broken = methods.broken_modules()
        assert registry["example-ridge"].__module__ == "stib_plugin_demo.ridge"
        assert methods.get_method("example-ridge").params.alpha == 1.0
        assert registry["knn"].__module__ == "benchmark.methods.knn"  # a plug-in cannot replace a built-in
        assert "ImportError: needs libfoo.so" in broken["entry point broken = stib_plugin_demo.raising"]
        assert "two methods are registered as 'knn'" in broken["entry point clash = stib_plugin_demo.clash:Clash"]
        assert "must name a module or a Method subclass" in broken["entry point value = stib_plugin_demo:NOT_A_METHOD"]
        assert not [k for k in broken if "unrelated" in k]  # other groups are not touched
        assert main(["ls", "methods"]) == 0
        out = capsys.readouterr().out
        assert "example-ridge" in out
        assert "entry point broken = stib_plugin_demo.raising failed to load: ImportError: needs libfoo.so" in out
    finally:
        for name in [m for m in sys.modules if m.startswith("stib_plugin_demo")]:
            del sys.modules[name]
