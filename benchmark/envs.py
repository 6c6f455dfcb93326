"""Methods in their own Python environments (``python -m benchmark env build|ls|rm METHOD``).

Some published methods cannot be installed beside this suite's pinned stack (ENVI needs an old
jax, stDiff a 2021 torch stack). Such a method declares an environment: a folder beside its
module, ``methods/<name>/``, holding

``requirements.txt``
    Pinned requirements, installed by pip with their dependencies (and with
    ``constraints.txt`` from the same folder, if there is one).
``requirements-nodeps.txt`` (optional)
    Packages installed afterwards with ``--no-deps``: a package whose metadata pins versions
    that do not install (or do not work) for Python 3.11, installed beside the versions that do.
``run.py``
    The method itself, as the environment's interpreter runs it: a function
    ``impute(task) -> dict`` (see :func:`benchmark.env_child.main`).

The suite builds the environment on first use (or with ``env build``) in a cache folder,
``$ST_IMPUTE_BENCH_ENVS`` or ``~/.cache/st-impute-bench/envs``, one sub-folder per method and
specification digest, so that editing a requirements file builds a new environment instead of
changing an old one. A build that fails is recorded beside it with its reason; the job that
needed it is recorded as failed with that reason, and later jobs report the recorded failure
without building again until ``env build METHOD`` (or ``env rm``) is run.

The method class derives from :class:`EnvMethod`. Its ``fit_predict`` runs inside the job's
process like any other method's (same time and memory budgets, failure records, cache and
resume: benchmark/runner.py), and does three things: writes the task into the job's scratch
folder as h5ad files plus a JSON file, runs ``run.py`` in a subprocess of the environment's
interpreter, and reads the prediction back (a ``.npy`` file plus JSON). The subprocess belongs
to the job's process group, so the runner's time-out kills it, and its memory counts towards
the job's. The environment's package versions go into the prediction's ``info`` (and so into
the job record, ``job.json``), and :meth:`EnvMethod.package_version` names the environment's
digest, so a changed environment invalidates the method's cached jobs.
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Iterator

from .errors import BenchmarkError, InputError
from .methods.base import Method

#: Environment variable naming the folder that holds the methods' environments.
ENVS_DIR_ENV = "ST_IMPUTE_BENCH_ENVS"
#: Files of a method's environment folder that define the environment (their digest names it).
SPEC_FILES = ("requirements.txt", "constraints.txt", "requirements-nodeps.txt")
#: The script that the method's environment runs (not part of the digest: editing it changes
#: the method, not its environment; the job cache still sees it through ``package_version``).
RUNNER_FILE = "run.py"
#: Written into a built environment; its presence means the build finished.
ENV_RECORD = "env.json"
#: Lines of a failed command's output kept in its failure record.
TAIL_LINES = 30


class EnvBuildError(BenchmarkError):
    """A method's environment could not be built; the message says which step failed and why."""


class EnvMethodError(BenchmarkError):
    """The method failed inside its environment; the message carries its error and traceback."""


def envs_root() -> Path:
    """The folder holding every method's environment: ``$ST_IMPUTE_BENCH_ENVS`` or
    ``~/.cache/st-impute-bench/envs``."""
    given = os.environ.get(ENVS_DIR_ENV)
    return Path(given).expanduser() if given else Path.home() / ".cache" / "st-impute-bench" / "envs"


@dataclass(frozen=True)
class EnvSpec:
    """Where a method's environment is defined and how it is built.

    Attributes
    ----------
    folder
        The method's environment folder (``methods/<name>/``) with the files of :data:`SPEC_FILES`
        that it uses and :data:`RUNNER_FILE`.
    python
        The interpreter that creates the virtual environment (``python3.11``: the wheels the
        requirements pin are for it).
    check_import
        Modules imported once after installing, so that an environment that installs but cannot
        import its method fails at build time, with the import error as the reason.
    inherit_suite
        Let the environment see this suite's installed packages, after its own (a ``.pth``
        file naming the suite's site-packages): pip then installs only what the requirements
        add or change. For a method that needs one package the suite lacks, or another version
        of one; a method whose stack conflicts with the suite's keeps it off (the default),
        because an inherited package can still be imported where the environment lacks it.
    build_in_tests
        The environment builds in minutes (ImputeFISH: about 50 s and 0.5 GB; ENVI: about 4
        minutes and 1.2 GB), so the contract tests build it and check the method, in CI too;
        stDiff's (23 minutes, 6.6 GB) is checked only once built (``ST_IMPUTE_BENCH_REAL_ENVS=1``
        builds it). A test policy, not part of the environment's digest.
    """

    folder: Path
    python: str = "python3.11"
    check_import: tuple[str, ...] = ()
    inherit_suite: bool = False
    build_in_tests: bool = False

    def spec_files(self) -> list[Path]:
        return [self.folder / f for f in SPEC_FILES if (self.folder / f).is_file()]

    def digest(self) -> str:
        """Hash of what defines the environment: its requirement files, the creating
        interpreter's name and the build options."""
        from .provenance import stable_hash

        fields = {"files": {p.name: p.read_text() for p in self.spec_files()}, "python": self.python,
                  "check_import": list(self.check_import)}
        if self.inherit_suite:  # the suite's own site-packages are part of such an environment
            fields["inherit"] = suite_site_packages()
        return stable_hash(fields, length=12)

    def pinned(self, distribution: str) -> str | None:
        """The version that the requirement files pin (``name==version``) for ``distribution``."""
        want = _canonical(distribution)
        for path in self.spec_files():
            if path.name == "constraints.txt":
                continue
            for line in path.read_text().splitlines():
                m = re.match(r"\s*([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*==\s*([^\s;#]+)", line)
                if m and _canonical(m.group(1)) == want:
                    return m.group(2)
        return None


def suite_site_packages() -> list[str]:
    """The site-packages folders of the interpreter running this suite."""
    import site

    return [p for p in site.getsitepackages() if Path(p).is_dir()]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class EnvState:
    """A method's environment on disk: where it is and whether it is built, failed or absent."""

    method: str
    spec: EnvSpec
    path: Path

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def record_path(self) -> Path:
        return self.path / ENV_RECORD

    @property
    def failure_path(self) -> Path:
        return self.path.with_name(self.path.name + ".failed.json")

    @property
    def log_path(self) -> Path:
        return self.path.with_name(self.path.name + ".build.log")

    def record(self) -> dict[str, Any] | None:
        """The build record of a finished build, or ``None``."""
        try:
            rec = json.loads(self.record_path.read_text())
        except (OSError, ValueError):
            return None
        return rec if isinstance(rec, dict) and self.python.exists() else None

    def failure(self) -> dict[str, Any] | None:
        """The record of the last failed build (since the last successful one), or ``None``."""
        try:
            rec = json.loads(self.failure_path.read_text())
        except (OSError, ValueError):
            return None
        return rec if isinstance(rec, dict) else None

    @property
    def status(self) -> str:
        if self.record() is not None:
            return "built"
        if self.failure() is not None:
            return "failed"
        return "not built"


@dataclass(frozen=True)
class RSpec:
    """Environment kind "R via Rscript with these packages" (Seurat).

    An R method runs ``Rscript`` in a subprocess of its job, like an :class:`EnvMethod` runs its
    environment's Python. Unlike a Python environment, this suite cannot build it: R packages come
    from CRAN or the system's package manager, not PyPI. So ``env build`` checks it (is
    ``Rscript`` on ``PATH``, does each package load, which versions) and, where something is
    missing, says what to install; ``env ls`` shows its state beside the Python environments, and
    ``env rm`` removes nothing.

    Attributes
    ----------
    packages
        R packages the method needs; each is looked up with ``system.file`` (without loading it).
    install_hint
        What to run where something is missing.
    rscript
        The executable, looked up on ``PATH``.
    """

    packages: tuple[str, ...]
    install_hint: str = ""
    rscript: str = "Rscript"

    def probe(self) -> "RState":
        """The state of this R environment (cached per ``Rscript`` path and package list)."""
        path = shutil.which(self.rscript)
        key = (path, self.packages)
        if key not in _R_STATES:
            _R_STATES[key] = _probe_r(path, self)
        return _R_STATES[key]


@dataclass(frozen=True)
class RState:
    """What :meth:`RSpec.probe` found: ``ok``, the reason when not, R's and the packages' versions."""

    ok: bool
    reason: str
    rscript: str | None
    r_version: str | None = None
    packages: dict[str, str] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0

    def record(self) -> dict[str, Any]:
        """The provenance of a job that ran in this environment (``info["environment"]``)."""
        return {"kind": "R", "rscript": self.rscript, "R": self.r_version, "packages": dict(self.packages)}


_R_STATES: dict[tuple, RState] = {}


def _probe_r(path: str | None, spec: RSpec) -> RState:
    hint = f"; install with: {spec.install_hint}" if spec.install_hint else ""
    if path is None:
        return RState(False, f"{spec.rscript} (R) is not on PATH{hint}", None)
    # one line per package: name, tab, version or nothing; then R's own version
    code = ("for (p in commandArgs(trailingOnly = TRUE)) { d <- system.file(package = p); "
            "cat(p, if (nzchar(d)) as.character(utils::packageDescription(p, fields = 'Version')) else '', "
            "sep = '\\t'); cat('\\n') }; cat('R\\t', paste(R.version$major, R.version$minor, sep = '.'), '\\n', sep = '')")
    t0 = time.perf_counter()
    try:
        res = subprocess.run([path, "--vanilla", "-e", code, "--args", *spec.packages], capture_output=True,
                             text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return RState(False, f"{path} could not be run ({type(exc).__name__}: {exc}){hint}", path)
    seconds = round(time.perf_counter() - t0, 1)
    if res.returncode != 0:
        return RState(False, f"{path} failed (exit {res.returncode}): {res.stderr.strip()[-300:]}{hint}", path,
                      seconds=seconds)
    found = dict(line.split("\t", 1) for line in res.stdout.splitlines() if "\t" in line)
    r_version = found.pop("R", None)
    versions = {p: found.get(p, "").strip() for p in spec.packages}
    missing = [p for p, v in versions.items() if not v]
    if missing:
        return RState(False, f"the R package(s) {', '.join(missing)} are not installed for {path}{hint}", path,
                      r_version, {p: v for p, v in versions.items() if v}, seconds)
    return RState(True, "", path, r_version, versions, seconds)


def env_state(method: str, spec: EnvSpec, root: Path | None = None) -> EnvState:
    """Where ``method``'s environment of this specification lives (built or not)."""
    return EnvState(method, spec, Path(root or envs_root()) / f"{method}-{spec.digest()}")


@contextmanager
def _build_lock(state: EnvState) -> Iterator[None]:
    """Hold the environment's build lock: two jobs (or runs) needing it build it once."""
    state.path.parent.mkdir(parents=True, exist_ok=True)
    with open(state.path.with_name(state.path.name + ".lock"), "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _tail(text: str, n: int = TAIL_LINES) -> str:
    return "\n".join(text.rstrip().splitlines()[-n:])


def _dir_size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


#: Run by the environment's interpreter: its distributions and Python version, as JSON.
_VERSIONS_SNIPPET = (
    "import importlib.metadata as m, json, platform; "
    "print(json.dumps({'python': platform.python_version(), 'packages': dict(sorted("
    "(d.metadata['Name'], d.version) for d in m.distributions() if d.metadata['Name']))}))"
)


def _clean_env() -> dict[str, str]:
    """The process environment for the method's interpreter: without this suite's PYTHONPATH
    or PYTHONHOME (its packages must not leak into the method's environment)."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}}
    env["PYTHONNOUSERSITE"] = "1"
    env.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    return env


def build_env(method: str, spec: EnvSpec, *, force: bool = False, root: Path | None = None,
              log=None) -> EnvState:
    """Build ``method``'s environment unless it is built (``force``: build it again).

    A previous failed build is not retried unless ``force`` is set: the recorded failure is
    raised again, so the folds of a run do not each spend minutes on a build that fails.

    Returns
    -------
    EnvState
        The built environment.

    Raises
    ------
    EnvBuildError
        When a step fails (creating the venv, a pip install, the import check): the message
        names the step, its exit code and the last lines of its output. The same is written to
        ``<env>.failed.json``.
    """
    state = env_state(method, spec, root)
    with _build_lock(state):
        if not force:
            if state.record() is not None:
                return state
            failed = state.failure()
            if failed is not None:
                raise EnvBuildError(f"{failed.get('error', 'the environment build failed')} (recorded "
                                    f"{failed.get('when', '')}; `python -m benchmark env build {method}` tries again)")
        _build_locked(state, log)
        return state


def _build_locked(state: EnvState, log) -> None:
    spec = state.spec
    if shutil.which(spec.python) is None:
        _fail(state, f"cannot build the environment of {state.method!r}: interpreter {spec.python!r} not found", "", 0.0)
    shutil.rmtree(state.path, ignore_errors=True)  # debris of an interrupted build
    state.failure_path.unlink(missing_ok=True)
    t0 = time.perf_counter()
    logged: list[str] = []

    def step(what: str, cmd: list[str]) -> str:
        if log is not None:
            log(f"{state.method}: {what}")
        proc = subprocess.run(cmd, capture_output=True, text=True, env=_clean_env(), cwd=spec.folder)
        out = proc.stdout + proc.stderr
        logged.append(f"$ {' '.join(map(str, cmd))}\n{out}")
        state.log_path.write_text("\n".join(logged))
        if proc.returncode != 0:
            _fail(state, f"building the environment of {state.method!r} failed at {what} (exit code "
                         f"{proc.returncode}):\n{_tail(out)}", "\n".join(logged), time.perf_counter() - t0)
        return proc.stdout

    req, cons, nodeps = (spec.folder / f for f in SPEC_FILES)
    # an environment with nothing to install needs no pip (ensurepip alone takes seconds)
    venv = [spec.python, "-m", "venv"] + ([] if req.is_file() or nodeps.is_file() else ["--without-pip"])
    step("creating the virtual environment", venv + [str(state.path)])
    if spec.inherit_suite:
        purelib = subprocess.run([str(state.python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 capture_output=True, text=True, env=_clean_env()).stdout.strip()
        Path(purelib, "_st_impute_bench_suite.pth").write_text("\n".join(suite_site_packages()) + "\n")
    pip = [str(state.python), "-m", "pip", "install", "--no-input", "--progress-bar", "off"]
    if req.is_file():
        step(f"pip install -r {req.name}", pip + (["-c", str(cons)] if cons.is_file() else []) + ["-r", str(req)])
    if nodeps.is_file():
        step(f"pip install --no-deps -r {nodeps.name}", pip + ["--no-deps", "-r", str(nodeps)])
    for mod in spec.check_import:
        step(f"import {mod}", [str(state.python), "-c", f"import {mod}"])
    versions = json.loads(step("reading the installed versions", [str(state.python), "-c", _VERSIONS_SNIPPET]))
    record = {"method": state.method, "digest": spec.digest(), "python": versions["python"],
              "packages": versions["packages"], "build_s": round(time.perf_counter() - t0, 1),
              "size_bytes": _dir_size(state.path), "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "spec_folder": str(spec.folder), "inherit_suite": spec.inherit_suite}
    tmp = state.record_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, state.record_path)


def _fail(state: EnvState, error: str, log_text: str, seconds: float) -> None:
    """Record a failed build (and remove its partial environment), then raise it."""
    shutil.rmtree(state.path, ignore_errors=True)
    state.path.parent.mkdir(parents=True, exist_ok=True)
    rec = {"method": state.method, "digest": state.spec.digest(), "error": error, "seconds": round(seconds, 1),
           "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "log": str(state.log_path)}
    state.failure_path.write_text(json.dumps(rec, indent=1))
    raise EnvBuildError(error)


def remove_env(method: str, spec: EnvSpec, root: Path | None = None) -> list[Path]:
    """Remove every environment of ``method`` (all digests) with its records; return what was removed."""
    base = Path(root or envs_root())
    removed = []
    if not base.is_dir():
        return removed
    for p in sorted(base.iterdir()):
        if re.fullmatch(re.escape(method) + r"-[0-9a-f]{12}(\.failed\.json|\.build\.log|\.lock)?", p.name):
            shutil.rmtree(p) if p.is_dir() else p.unlink()
            removed.append(p)
    return removed


# -- the method side ---------------------------------------------------------------------------

class EnvMethod(Method):
    """Base class of a method that runs in its own environment (see the module docstring).

    A subclass sets :attr:`environment` and, like any method, :attr:`info` and ``Params``; it
    does not implement ``fit_predict``: that is the environment's ``run.py``.
    """

    environment: ClassVar[EnvSpec]

    @classmethod
    def env_state(cls) -> EnvState:
        return env_state(cls.info.name, cls.environment)

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        """Available when the environment can be built (its interpreter exists) or is built.

        A failed build does not make the method unavailable: its jobs are recorded as failed
        with the build's reason, which is the evidence a user needs.
        """
        if cls.info.known_unavailable:
            return False, f"known unavailable: {cls.info.known_unavailable}"
        if cls.env_state().record() is None and shutil.which(cls.environment.python) is None:
            return False, (f"its environment needs {cls.environment.python!r} to build "
                           f"(python -m benchmark env build {cls.info.name})")
        return True, ""

    @classmethod
    def package_version(cls) -> str | None:
        """The version of the wrapped package that the environment pins, with the environment's
        digest as a local label (``0.4.6+env.<digest>``): changing the environment or its runner
        changes the method's cache key."""
        if not cls.info.package:
            return None
        version = cls.environment.pinned(cls.info.package) or "unpinned"
        import hashlib

        runner = cls.environment.folder / RUNNER_FILE
        code = hashlib.sha256(runner.read_bytes() if runner.is_file() else b"").hexdigest()[:6]
        return f"{version}+env.{cls.environment.digest()[:8]}.{code}"

    def postprocess(self, task, expression, confidence, info):
        """Turn what ``run.py`` returned into the prediction, in this suite's process (e.g. put
        counts on the task's scale with the suite's own helpers); by default unchanged."""
        return expression, confidence, info

    def fit_predict(self, task):
        """Build the environment if needed, run ``run.py`` in it on the task, return its prediction."""
        if self.info.known_unavailable:
            return super().fit_predict(task)
        from .task import Prediction

        t0 = time.perf_counter()
        state = self.env_state()
        built_now = state.record() is None
        build_env(self.info.name, self.environment, log=lambda line: print(line, flush=True))
        build_s = time.perf_counter() - t0
        rec = state.record() or {}
        io_dir = Path(task.workdir) / "env-io"
        write_task(task, io_dir, self.param_dict())
        run_in_env(state.python, self.environment.folder / RUNNER_FILE, io_dir)
        expression, confidence, info = self.postprocess(task, *read_prediction(io_dir))
        info = dict(info)
        info["environment"] = {"name": state.path.name, "python": rec.get("python"),
                               "packages": rec.get("packages", {}), "built_in_job": built_now,
                               "build_s": round(build_s, 1) if built_now else rec.get("build_s")}
        shutil.rmtree(io_dir, ignore_errors=True)  # the h5ad copies of the task are not kept
        return Prediction(expression, confidence, info)


def write_task(task, io_dir: Path, params: dict[str, Any]) -> None:
    """Write ``task`` into ``io_dir`` for the environment's runner: ``spatial.h5ad``,
    ``reference.h5ad``, optional gene embeddings (``.npy`` + names) and ``task.json``.

    The AnnData objects are written as they are (copies on disk: the method cannot change the
    caller's objects).
    """
    import numpy as np

    io_dir.mkdir(parents=True, exist_ok=True)
    task.spatial.write_h5ad(io_dir / "spatial.h5ad")
    task.reference.write_h5ad(io_dir / "reference.h5ad")
    emb = None
    if task.gene_embeddings is not None:
        np.save(io_dir / "gene_embeddings.npy", task.gene_embeddings.to_numpy(dtype=np.float64))
        emb = [str(g) for g in task.gene_embeddings.index]
    meta = {"target_genes": list(task.target_genes), "seed": int(task.seed), "quick": bool(task.quick),
            "device": task.device, "time_budget": task.time_budget, "preprocessing": task.preprocessing,
            "spatial_values": task.spatial_values, "reference_values": task.reference_values,
            "params": params, "gene_embedding_genes": emb}
    (io_dir / "task.json").write_text(json.dumps(meta, default=str))


def run_in_env(python: Path, runner: Path, io_dir: Path) -> None:
    """Run ``runner`` with the environment's interpreter on the task in ``io_dir``.

    The child's output goes to ``io_dir/child.log`` and is then copied to this process's
    output (the job's log). The child is not put in a session of its own: the job's time-out
    kills its process group, this subprocess included.

    Raises
    ------
    EnvMethodError
        With the method's own error and traceback, or how the process ended and its last output.
    """
    child = Path(__file__).with_name("env_child.py")
    log_path = io_dir / "child.log"
    env = _clean_env()
    with open(log_path, "w") as log:
        # -I: the interpreter ignores PYTHON* variables and the user site, and does not put the
        # script's folder (this suite's package) on sys.path
        proc = subprocess.run([str(python), "-I", str(child), str(runner), str(io_dir)], stdout=log,
                              stderr=subprocess.STDOUT, env=env, cwd=io_dir)
    text = log_path.read_text(errors="replace")
    sys.stdout.write(text)
    sys.stdout.flush()
    err_path = io_dir / "error.json"
    if err_path.is_file():
        err = json.loads(err_path.read_text())
        raise EnvMethodError(f"{err['type']}: {err['message']} (in the method's environment)\n{err['traceback']}")
    if proc.returncode != 0:
        why = f"was killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exited with code {proc.returncode}"
        raise EnvMethodError(f"the method's interpreter {why} without a result; last output:\n{_tail(text)}")


def read_prediction(io_dir: Path):
    """The prediction the runner wrote: ``(expression DataFrame, confidence Series or None, info)``."""
    import numpy as np
    import pandas as pd

    try:
        meta = json.loads((io_dir / "prediction.json").read_text())
        values = np.load(io_dir / "prediction.npy")
    except (OSError, ValueError) as exc:
        raise EnvMethodError(f"the method's environment wrote no readable prediction: {exc}") from None
    expr = pd.DataFrame(values, index=meta["index"], columns=meta["columns"])
    conf = None if meta.get("confidence") is None else pd.Series(meta["confidence"], index=meta["columns"], dtype=float)
    return expr, conf, meta.get("info") or {}


def env_methods() -> dict[str, type[Method]]:
    """Registered methods that declare an environment, by name: a Python environment of their own
    (:class:`EnvMethod`, ``environment = EnvSpec(...)``) or R (``environment = RSpec(...)``)."""
    from .methods import all_methods

    return {n: c for n, c in all_methods().items()
            if isinstance(c, type) and isinstance(getattr(c, "environment", None), (EnvSpec, RSpec))}


# -- command line ------------------------------------------------------------------------------

def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``env build|ls|rm`` to the command line's subparsers."""
    p = subparsers.add_parser(
        "env", help="build, list or remove the environments of methods that need their own",
        description="Methods whose packages cannot share this suite's Python stack run in their own virtual "
                    f"environment, built on first use under ${ENVS_DIR_ENV} (default ~/.cache/st-impute-bench/envs). "
                    "See docs/environments.md.")
    p.add_argument("action", choices=("build", "ls", "rm"), help="build (or rebuild) an environment, list them, "
                                                                   "or remove one")
    p.add_argument("methods", nargs="*", metavar="METHOD", help="methods (build/rm: required; 'all' for every one)")
    p.add_argument("--force", action="store_true", help="build: build again even if built")
    p.set_defaults(func=cmd_env)
    return p


def _select(names: list[str], action: str) -> dict[str, type[EnvMethod]]:
    known = env_methods()
    if not names:
        if action == "ls":
            return known
        raise InputError(f"env {action} needs a method name; methods with their own environment: "
                         f"{', '.join(known) or '(none)'}")
    if "all" in names:
        return known
    out = {}
    for n in names:
        if n not in known:
            raise InputError(f"method {n!r} has no environment of its own; those that do: {', '.join(known) or '(none)'}")
        out[n] = known[n]
    return out


def _r_line(name: str, spec: RSpec) -> str:
    st = spec.probe()
    if st.ok:
        versions = ", ".join(f"{p} {v}" for p, v in st.packages.items())
        return f"{name:<10} {'R':<6} {'found':<10} {'':>8} {'':>8}  {st.rscript} (R {st.r_version}; {versions})"
    return f"{name:<10} {'R':<6} {'missing':<10} {'':>8} {'':>8}  {st.reason}"


def cmd_env(args) -> int:
    """``python -m benchmark env build|ls|rm [METHOD ...]``."""
    chosen = _select(list(args.methods), args.action)
    if args.action == "ls":
        print(f"environments in {envs_root()} (kind venv); R from the system's PATH (kind R)")
        print(f"{'method':<10} {'kind':<6} {'status':<10} {'build_s':>8} {'size_MB':>8}  path / reason")
        for name, cls in chosen.items():
            if isinstance(cls.environment, RSpec):
                print(_r_line(name, cls.environment))
                continue
            st = cls.env_state()
            rec, fail = st.record(), st.failure()
            if rec is not None:
                print(f"{name:<10} {'venv':<6} {'built':<10} {rec['build_s']:>8} {rec['size_bytes'] / 2**20:>8.0f}  "
                      f"{st.path}")
            elif fail is not None:
                print(f"{name:<10} {'venv':<6} {'failed':<10} {fail.get('seconds', ''):>8} {'':>8}  "
                      f"{fail['error'].splitlines()[0]}")
            else:
                print(f"{name:<10} {'venv':<6} {'not built':<10} {'':>8} {'':>8}  {st.path}")
        return 0
    code = 0
    for name, cls in chosen.items():
        if isinstance(cls.environment, RSpec):
            # R packages do not come from PyPI: check, and say what to install when something is missing
            st = cls.environment.probe()
            if args.action == "rm":
                print(f"{name}: uses the system's R ({st.rscript or 'not found'}); nothing to remove")
            elif st.ok:
                versions = ", ".join(f"{p} {v}" for p, v in st.packages.items())
                print(f"{name}: R environment found: {st.rscript} (R {st.r_version}; {versions})")
            else:
                print(f"{name}: R environment missing: {st.reason}", file=sys.stderr)
                code = 1
            continue
        if args.action == "rm":
            removed = remove_env(name, cls.environment)
            print(f"{name}: removed {len(removed)} path(s)" + "".join(f"\n  {p}" for p in removed))
            continue
        try:
            st = build_env(name, cls.environment, force=args.force, log=lambda line: print(line, flush=True))
        except EnvBuildError as exc:
            print(f"{name}: build failed: {exc}", file=sys.stderr)
            code = 1
            continue
        rec = st.record()
        print(f"{name}: built in {rec['build_s']} s, {rec['size_bytes'] / 2**20:.0f} MB, Python {rec['python']}, "
              f"{len(rec['packages'])} distributions: {st.path}")
    return code


__all__ = ["ENVS_DIR_ENV", "EnvSpec", "EnvState", "RSpec", "RState", "EnvMethod", "EnvBuildError", "EnvMethodError", "envs_root",
           "env_state", "build_env", "remove_env", "env_methods", "add_parser", "cmd_env"]
