"""``python -m benchmark validate PATH_OR_MODULE``: check a method before it is registered.

A method author points this at a ``.py`` file, a folder or a dotted module name. The code is
imported, every :class:`~benchmark.methods.base.Method` subclass it defines is found, and each
one gets

* metadata checks: name, summary, install hint when ``requires`` is set, a ``Params``
  dataclass whose every field has a default, an implemented ``fit_predict``, ...;
* the contract checks of :mod:`benchmark.contract` (the same ones ``tests/test_method_contracts.py``
  runs on every registered method), on a small built-in data set.

The report says, in words, what passed, what failed and why (the exception message and the
line of the author's code that raised it). Exit status 0 when everything passed, 1 otherwise.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import importlib.util
import inspect
import pkgutil
import re
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from .errors import InputError

#: Statuses of one check. ``warn`` is advice and does not fail validation.
PASS, FAIL, SKIP, WARN = "pass", "fail", "skip", "warn"

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")

#: What each contract check protects, and what to do when it fails (shown with the failure).
CHECK_TEXT: dict[str, tuple[str, str]] = {
    "output": (
        "returns one row per spatial cell and one column per target gene, in order, without NaN",
        "return Prediction(pd.DataFrame(values, index=task.spatial.obs_names, columns=task.target_genes))",
    ),
    "no_input_mutation": (
        "leaves the task's AnnData objects (values, gene and cell names) unchanged",
        "work on copies (e.g. task.spatial.copy(), or new arrays); never lower-case or reorder var_names in place",
    ),
    "deterministic": (
        "gives identical output when run twice with the same seed",
        "draw every random number from task.seed (np.random.default_rng(task.seed), torch.manual_seed(task.seed)), "
        "or set deterministic=False in MethodInfo and say why in the docstring",
    ),
    "sparse_input": (
        "accepts scipy sparse X as well as dense X",
        "convert with X.toarray() when scipy.sparse.issparse(X), or use benchmark.methods._util.dense(X)",
    ),
}


@dataclass
class CheckResult:
    """Outcome of one check on one method."""

    name: str
    status: str
    message: str = ""
    detail: str = ""  # exception message, where in the author's code it was raised, a hint
    seconds: float | None = None


@dataclass
class MethodReport:
    """Every check of one method class."""

    class_name: str
    method_name: str
    source: str
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.status != FAIL for c in self.checks)


@dataclass
class ValidationReport:
    """What ``validate`` found in a target: load problems and one report per method class."""

    target: str
    load_errors: list[CheckResult] = field(default_factory=list)
    methods: list[MethodReport] = field(default_factory=list)
    data_description: str = ""

    @property
    def ok(self) -> bool:
        return not self.load_errors and bool(self.methods) and all(m.ok for m in self.methods)

    def counts(self) -> dict[str, int]:
        out = {PASS: 0, FAIL: len(self.load_errors), SKIP: 0, WARN: 0}
        for m in self.methods:
            for c in m.checks:
                out[c.status] += 1
        return out


# -- loading the author's code ---------------------------------------------------------------

def _methods_dir() -> Path:
    from . import methods

    return Path(methods.__file__).resolve().parent


def _load_file(path: Path) -> ModuleType:
    """Import one ``.py`` file.

    A file inside this repository's ``methods/`` folder is imported under its real name (it is
    already registered). Any other file is imported as a sub-module of ``benchmark.methods``
    under a private name, so both ``from benchmark.methods import register`` and the relative
    ``from . import register`` of a file written for ``methods/`` work.
    """
    path = path.resolve()
    if path.parent == _methods_dir():
        return importlib.import_module(f"benchmark.methods.{path.stem}")
    name = f"benchmark.methods._validate_{re.sub(r'[^0-9a-zA-Z_]', '_', path.stem)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InputError(f"{path} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _load_package(folder: Path) -> list[ModuleType]:
    """Import a package folder (with ``__init__.py``) and all its sub-modules."""
    folder = folder.resolve()
    if folder.parent == _methods_dir():
        root = importlib.import_module(f"benchmark.methods.{folder.name}")
    else:
        sys.path.insert(0, str(folder.parent))
        try:
            root = importlib.import_module(folder.name)
        finally:
            sys.path.remove(str(folder.parent))
    mods = [root]
    for info in pkgutil.walk_packages(root.__path__, prefix=root.__name__ + "."):
        mods.append(importlib.import_module(info.name))
    return mods


def _targets(target: str) -> list[tuple[str, object]]:
    """What to import: ``[("file", Path) | ("package", Path) | ("module", name)]``."""
    path = Path(target)
    if path.is_file():
        if path.suffix != ".py":
            raise InputError(f"{target} is not a .py file; give a Python file, a folder or a dotted module name")
        return [("file", path)]
    if path.is_dir():
        if (path / "__init__.py").is_file():
            return [("package", path)]
        files = sorted(p for p in path.glob("*.py") if not p.name.startswith("_"))
        if not files:
            raise InputError(f"folder {target} holds no .py file (names starting with '_' are skipped)")
        return [("file", p) for p in files]
    if target.endswith(".py") or "/" in target or "\\" in target:
        raise InputError(f"{target} does not exist")
    if not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*", target):
        raise InputError(f"{target!r} is neither an existing path nor a dotted module name")
    return [("module", target)]


def _import_error(what: str, exc: BaseException) -> CheckResult:
    tb = traceback.extract_tb(exc.__traceback__)
    # the innermost frame outside importlib is the author's line that failed
    frames = [f for f in tb if "importlib" not in f.filename]
    where = f"{frames[-1].filename}, line {frames[-1].lineno}" if frames else ""
    return CheckResult(
        "import", FAIL, f"{what} could not be imported",
        f"{type(exc).__name__}: {exc}" + (f"\n(raised at {where})" if where else ""),
    )


def _method_classes(modules: list[ModuleType]):
    from .methods.base import Method

    found = []
    names = {m.__name__ for m in modules}
    for mod in modules:
        for _, obj in inspect.getmembers(mod, inspect.isclass):
            if issubclass(obj, Method) and obj is not Method and obj.__module__ in names and obj not in found:
                found.append(obj)
    return found


# -- checks ----------------------------------------------------------------------------------

def check_metadata(cls) -> list[CheckResult]:
    """Metadata checks that need no data: registration, ``info``, ``Params`` and ``fit_predict``."""
    from .methods import all_methods
    from .methods.base import Method, MethodInfo

    out: list[CheckResult] = []
    info = getattr(cls, "info", None)
    if not isinstance(info, MethodInfo):
        out.append(CheckResult("info", FAIL, "the class has no `info = MethodInfo(...)` attribute",
                               "how to fix: add info = MethodInfo(name='...', summary='...') to the class body"))
        return out
    name = info.name
    registry = all_methods()
    if registry.get(name) is cls:
        out.append(CheckResult("registered", PASS, f"registered as {name!r}"))
    elif name in registry:
        other = registry[name]
        out.append(CheckResult("registered", FAIL,
                               f"the name {name!r} is already taken by {other.__module__}.{other.__name__}",
                               "how to fix: choose another info.name"))
    else:
        out.append(CheckResult("registered", FAIL, "the class is not registered, so the benchmark would never run it",
                               "how to fix: decorate it with @register (from benchmark.methods import register)"))

    if isinstance(name, str) and _NAME_RE.match(name):
        out.append(CheckResult("name", PASS, f"name {name!r} is lower case without spaces"))
    else:
        out.append(CheckResult("name", FAIL, f"name {name!r} must be lower case letters, digits, '-', '_' or '.', "
                               "without spaces", "how to fix: e.g. name='my-method'"))

    summary = info.summary or ""
    if not summary.strip():
        out.append(CheckResult("summary", FAIL, "info.summary is empty",
                               "how to fix: one line saying what the method does"))
    elif "\n" in summary or len(summary) >= 200:
        out.append(CheckResult("summary", FAIL, f"info.summary must be one line under 200 characters "
                               f"(it has {len(summary)} characters)",
                               "how to fix: move the details into the class docstring"))
    else:
        out.append(CheckResult("summary", PASS, f"summary is one line ({len(summary)} characters)"))

    if not info.preprocessing:
        out.append(CheckResult("preprocessing", FAIL, "info.preprocessing is empty",
                               "how to fix: leave the default 'spage'"))

    if info.requires:
        if info.install_hint:
            out.append(CheckResult("install_hint", PASS, f"optional dependencies {list(info.requires)} come with an "
                                   f"install hint: {info.install_hint}"))
        else:
            out.append(CheckResult("install_hint", FAIL, f"info.requires lists {list(info.requires)} but "
                                   "info.install_hint is empty, so a user who lacks them is not told what to install",
                                   "how to fix: e.g. install_hint='pip install mypkg'"))
    else:
        out.append(CheckResult("install_hint", PASS, "no optional dependencies declared"))

    if info.package:
        ok, _ = cls.availability()
        # the class's own package_version(), so a method wrapping a non-pip package (Seurat in R)
        # can say how its version is found
        version = cls.package_version()
        if version:
            out.append(CheckResult("package", PASS, f"wrapped package {info.package!r} is installed "
                                   f"(version {version} goes into provenance)"))
        else:
            status = FAIL if ok else SKIP
            out.append(CheckResult("package", status,
                                   f"info.package={info.package!r} is not an installed distribution, "
                                   "so its version cannot be recorded",
                                   "how to fix: use the name pip installs (e.g. 'tangram-sc'), or override "
                                   "package_version() for a package pip does not manage"))

    if info.variant_of is not None and info.variant_of not in registry:
        out.append(CheckResult("variant_of", FAIL, f"info.variant_of={info.variant_of!r} is not a registered method"))

    params = getattr(cls, "Params", None)
    if params is None or not dataclasses.is_dataclass(params):
        out.append(CheckResult("params", FAIL, "Params must be a dataclass nested in the class",
                               "how to fix: @dataclass\nclass Params:\n    k: int = 10"))
    else:
        no_default = [f.name for f in dataclasses.fields(params)
                      if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        if no_default:
            out.append(CheckResult("params", FAIL, f"parameter(s) {no_default} have no default; every parameter needs "
                                   "one (the authors' published setting)", "how to fix: e.g. k: int = 10"))
        else:
            try:
                defaults = cls().param_dict()
                shown = ", ".join(f"{k}={v!r}" for k, v in defaults.items()) or "none"
                out.append(CheckResult("params", PASS, f"Params has a default for every parameter ({shown})"))
            except Exception as exc:  # noqa: BLE001 - reported to the author
                out.append(CheckResult("params", FAIL, "the method cannot be created with its default parameters",
                                       f"{type(exc).__name__}: {exc}"))

    if cls.fit_predict is Method.fit_predict:
        out.append(CheckResult("fit_predict", FAIL, "fit_predict is not implemented",
                               "how to fix: def fit_predict(self, task: ImputationTask) -> Prediction: ..."))
    else:
        out.append(CheckResult("fit_predict", PASS, "fit_predict is implemented"))

    if not (cls.__doc__ or "").strip() or cls.__doc__ == Method.__doc__:
        out.append(CheckResult("docstring", WARN, "the class has no docstring; say there what the method does and "
                               "how it departs from the authors' code"))
    if not info.control and not info.paper_url and not info.code_url and info.package:
        out.append(CheckResult("urls", WARN, "info.paper_url and info.code_url are empty; readers of the leaderboard "
                               "look for them"))
    return out


def _shown_path(path: str) -> str:
    """A path relative to the working directory when it lies below it (shorter to read)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path


def _short(text: str, max_lines: int = 4) -> str:
    """The first lines of an exception message (numpy's array comparisons print dozens)."""
    lines = [line for line in text.rstrip().splitlines() if line.strip()]
    return "\n".join(lines[:max_lines] + (["..."] if len(lines) > max_lines else []))


def _where(exc: BaseException, source: str) -> str:
    """The innermost line of the author's file in the traceback (if any)."""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if source and Path(f.filename).resolve() == Path(source).resolve()]
    if mine:
        f = mine[-1]
        return f"{f.filename}, line {f.lineno}, in {f.name}: {f.line}"
    return ""


def run_contract(cls, data=None, workdir: Path | None = None) -> list[CheckResult]:
    """The checks of :data:`benchmark.contract.CHECKS` on ``cls``, each one's failure explained."""
    from . import contract

    source = inspect.getsourcefile(cls) or ""
    out: list[CheckResult] = []
    if cls.info.oracle:
        return [CheckResult("contract", SKIP, "oracle methods (given the held-out truth) are not contract-tested")]
    ok, reason = cls.availability()
    if not ok:
        return [CheckResult("contract", FAIL, f"the method is unavailable here, so it could not be run: {reason}",
                            "how to fix: install its dependencies, then validate again")]
    data = data if data is not None else contract_data()
    prep = contract.prepare_pair(data)
    with tempfile.TemporaryDirectory(prefix="st-impute-validate-") as tmp:
        base = Path(workdir) if workdir is not None else Path(tmp)
        for name, check in contract.CHECKS.items():
            what, hint = CHECK_TEXT.get(name, ((check.__doc__ or name).strip().splitlines()[0], ""))
            if name == "deterministic" and not cls.info.deterministic:
                out.append(CheckResult(name, SKIP, f"{what}: not checked, the method declares deterministic=False"))
                continue
            t0 = time.perf_counter()
            try:
                check(cls, prep, base / name)
            except Exception as exc:  # noqa: BLE001 - reported to the method author
                where = _where(exc, source)
                detail = _short(f"{type(exc).__name__}: {exc}")
                if where:
                    detail += f"\n(raised at {where})"
                if hint:
                    detail += f"\nhow to fix: {hint}"
                out.append(CheckResult(name, FAIL, what, detail, time.perf_counter() - t0))
            else:
                out.append(CheckResult(name, PASS, what, "", time.perf_counter() - t0))
    return out


def contract_data():
    """The small seeded pair the contract checks run on (as in tests/test_method_contracts.py)."""
    from .datasets.synthetic import make_synthetic_pair

    return make_synthetic_pair(n_spatial=120, n_reference=150, n_shared=12, n_reference_only=8, n_types=3,
                               n_modules=3, seed=7, name="contract")


def validate(target: str, *, dataset: str | None = None, data_dir: Path | None = None,
             keep_registered: bool = False) -> ValidationReport:
    """Import ``target`` (file, folder or module), find its methods and check each.

    Parameters
    ----------
    target
        Path of a ``.py`` file, a folder of method files or a package folder, or a dotted
        module name importable from the current directory.
    dataset
        Registered dataset to run the contract checks on (default: a tiny built-in pair, seconds).
    data_dir
        Where real datasets are read from.
    keep_registered
        Leave the imported methods in the registry (default: remove those this call added, so a
        validation leaves the process as it found it).

    Returns
    -------
    ValidationReport
        ``report.ok`` is true when every method passed every check.
    """
    from . import methods as registry

    before = registry.REGISTRY.snapshot()
    modules_before = set(sys.modules)
    cwd = str(Path.cwd())
    added_cwd = cwd not in sys.path
    if added_cwd:  # `python -m` has it; a console script may not
        sys.path.insert(0, cwd)
    report = ValidationReport(target)
    loaded: list[ModuleType] = []
    try:
        for kind, what in _targets(target):
            try:
                if kind == "file":
                    loaded.append(_load_file(what))
                elif kind == "package":
                    loaded.extend(_load_package(what))
                else:
                    mod = importlib.import_module(what)
                    loaded.append(mod)
                    if hasattr(mod, "__path__"):
                        loaded.extend(importlib.import_module(i.name)
                                      for i in pkgutil.walk_packages(mod.__path__, prefix=mod.__name__ + "."))
            except ModuleNotFoundError as exc:
                if kind == "module" and exc.name == what.split(".")[0]:
                    raise InputError(f"no module named {what!r} (and no such file or folder)") from None
                report.load_errors.append(_import_error(str(what), exc))
            except Exception as exc:  # noqa: BLE001 - the author's code failed on import
                report.load_errors.append(_import_error(str(what), exc))
        classes = _method_classes(loaded)
        if not classes and not report.load_errors:
            report.load_errors.append(CheckResult(
                "methods", FAIL, f"no Method subclass found in {target}",
                "how to fix: define a class deriving from benchmark.methods.base.Method and decorate it "
                "with @register"))
        data = None
        if classes:
            if dataset:
                from .datasets import load_dataset

                data = load_dataset(dataset, data_dir)
                report.data_description = f"dataset {dataset!r}"
            else:
                data = contract_data()
                report.data_description = "a small built-in synthetic pair (120 spatial cells x 12 genes)"
        for cls in classes:
            info = getattr(cls, "info", None)
            rep = MethodReport(cls.__name__, getattr(info, "name", "?"), _shown_path(inspect.getsourcefile(cls) or ""))
            rep.checks.extend(check_metadata(cls))
            if not any(c.status == FAIL and c.name in {"info", "params"} for c in rep.checks):
                rep.checks.extend(run_contract(cls, data))
            report.methods.append(rep)
    finally:
        if added_cwd:
            sys.path.remove(cwd)
        if not keep_registered:
            registry.REGISTRY.restore(before)
            # forget the author's modules too, so that validating again (after an edit) re-imports them
            mine = {m.__name__ for m in loaded}
            mine |= {n for n in sys.modules if n.startswith("benchmark.methods._validate_")}
            for name in mine - modules_before:
                sys.modules.pop(name, None)
    return report


# -- the words a method author reads ----------------------------------------------------------

_MARK = {PASS: "PASS", FAIL: "FAIL", SKIP: "SKIP", WARN: "WARN"}


def format_report(report: ValidationReport) -> str:
    """The report as plain text, one line per check, failures with their reason."""
    lines = [f"Validating {report.target}"]
    for err in report.load_errors:
        lines.append(f"  {_MARK[err.status]}  {err.message}")
        lines.extend(f"        {line}" for line in err.detail.splitlines())
    if report.methods:
        lines.append(f"  found {len(report.methods)} method class(es); contract checks run on "
                     f"{report.data_description}")
    for m in report.methods:
        lines.append("")
        lines.append(f"{m.method_name} (class {m.class_name}, {m.source})")
        for c in m.checks:
            took = f" ({c.seconds:.1f} s)" if c.seconds is not None else ""
            lines.append(f"  {_MARK[c.status]}  {c.name}: {c.message}{took}")
            lines.extend(f"        {line}" for line in c.detail.splitlines())
    n = report.counts()
    lines.append("")
    summary = f"{n[PASS]} passed, {n[FAIL]} failed, {n[SKIP]} skipped, {n[WARN]} warning(s)"
    if report.ok:
        names = " ".join(m.method_name for m in report.methods)
        lines.append(f"OK: {summary}. Ready: put the file in methods/ (or publish it as a plug-in, see "
                     f"CONTRIBUTING.md) and run it with `python -m benchmark run --methods {names}`.")
    else:
        lines.append(f"NOT READY: {summary}. Fix the FAIL lines above and run validate again.")
    return "\n".join(lines)


def cmd_validate(args) -> int:
    """Entry of ``python -m benchmark validate``; 0 if everything passed, 1 otherwise."""
    report = validate(args.target, dataset=args.dataset, data_dir=args.data_dir)
    print(format_report(report))
    return 0 if report.ok else 1


__all__ = ["CheckResult", "MethodReport", "ValidationReport", "validate", "check_metadata", "run_contract",
           "format_report", "cmd_validate"]
