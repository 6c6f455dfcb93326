"""The ``run`` options: one table that drives the command line, YAML files and the command that
reproduces a run.

Each entry of :data:`OPTIONS` is one option: its flag, its YAML key (and old keys still
accepted), its help text, type or choices, and the :class:`~benchmark.harness.RunConfig`
attribute it sets. From that table come the ``run`` argument groups
(:func:`add_run_arguments`), the checks of a configuration file (:data:`FIELDS`,
:func:`parse_config`), the conversion to a ``RunConfig`` (:func:`cli_values`,
:func:`to_run_config`) and the command rebuilt from a recorded configuration
(:func:`command_args`, shown by the leaderboard). Adding an option is one entry here (and the
``RunConfig`` field it sets).

YAML keys (``run --config FILE.yaml``) are the long flag names with ``-`` written ``_``
(``holdout_fraction``, ``cluster_resolution``, ...), except:

* ``params``: ``{method: {parameter: value}}`` (the flag is ``--method-param METHOD.PARAM=VALUE``);
* ``cluster: false`` (flag ``--no-cluster``) and ``isolation: false`` (flag ``--no-isolation``);
* ``user_data``: a list of ``{spatial, reference, name, label_key, spatial_key, layer, embeddings}``
  (flags ``--spatial``, ``--reference``, ``--name``, ... for one pair); without ``reference`` the
  spatial file is self-paired like ``self:NAME``;
* ``self_pair_seed`` / ``self_pair_fraction``: the cell split of ``self:NAME`` datasets (and of a
  user's spatial file without a reference).

Where the ``RunConfig`` attribute has another name (``n_folds``, ``isolate``, ``method_params``,
``dask_workers``), that name is accepted as a key too, so the ``config`` block of a run's
``run.json`` reads as a configuration file.

Relative paths in the file are read relative to the file's folder. A flag given on the command
line overrides the file's value (``--method-param`` overrides one parameter, ``--spatial`` (with or
without ``--reference``) replaces the file's ``user_data``). Every error names the field at fault.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .config import DATA_DIR_ENV, default_data_dir
from .datasets.preprocessing import PREPROCESSING, PREPROCESSING_SUMMARY
from .errors import InputError
from .scoring import SCORING_SPACES
from .splits import PROTOCOLS

Validator = Callable[[str, Any], Any]


def _fail(field: str, what: str, value: Any) -> InputError:
    return InputError(f"config field {field!r}: expected {what}, got {value!r} ({type(value).__name__})")


def _bool(field: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise _fail(field, "true or false", v)
    return v


def _int(lo: int | None = None) -> Validator:
    def check(field: str, v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise _fail(field, "an integer", v)
        if lo is not None and v < lo:
            raise InputError(f"config field {field!r}: must be at least {lo}, got {v}")
        return v
    return check


def _float(lo: float | None = None, hi: float | None = None, open_: bool = False) -> Validator:
    def check(field: str, v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise _fail(field, "a number", v)
        v = float(v)
        bad = (lo is not None and (v <= lo if open_ else v < lo)) or (hi is not None and (v >= hi if open_ else v > hi))
        if bad:
            rng = f"between {lo} and {hi}" + (" (exclusive)" if open_ else "") if hi is not None else f"at least {lo}"
            raise InputError(f"config field {field!r}: must be {rng}, got {v}")
        return v
    return check


def _optional(inner: Validator) -> Validator:
    def check(field: str, v: Any):
        return None if v is None else inner(field, v)
    return check


def _str(field: str, v: Any) -> str:
    if not isinstance(v, str) or not v:
        raise _fail(field, "a non-empty string", v)
    return v


def _choice(*choices: str) -> Validator:
    def check(field: str, v: Any) -> str:
        if v not in choices:
            raise InputError(f"config field {field!r}: must be one of {', '.join(choices)}, got {v!r}")
        return v
    return check


def _list_of(inner: Validator, min_len: int = 0) -> Validator:
    def check(field: str, v: Any) -> list:
        if isinstance(v, (str, int, float)) and not isinstance(v, bool):
            v = [v]  # a single value where a list is expected is a one-element list
        if not isinstance(v, list):
            raise _fail(field, "a list", v)
        if len(v) < min_len:
            raise InputError(f"config field {field!r}: needs at least {min_len} item(s)")
        return [inner(f"{field}[{i}]", x) for i, x in enumerate(v)]
    return check


def _path(field: str, v: Any) -> Path:
    if not isinstance(v, str) or not v:
        raise _fail(field, "a path", v)
    return Path(v).expanduser()


def _params(field: str, v: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(v, dict):
        raise _fail(field, "a mapping {method: {parameter: value}}", v)
    out = {}
    for method, p in v.items():
        if not isinstance(p, dict):
            raise _fail(f"{field}.{method}", "a mapping {parameter: value}", p)
        out[str(method)] = {str(k): val for k, val in p.items()}
    return out



def _user_data(field: str, v: Any) -> list[dict[str, Any]]:
    if isinstance(v, dict):
        v = [v]
    if not isinstance(v, list):
        raise _fail(field, "a list of {spatial, reference, ...} mappings (reference optional)", v)
    out = []
    for i, entry in enumerate(v):
        f = f"{field}[{i}]"
        if not isinstance(entry, dict):
            raise _fail(f, "a mapping with 'spatial' (and 'reference')", entry)
        _check_keys(f, entry, USER_FIELDS)
        # 'reference' may be left out: the spatial file is then self-paired, as with --spatial alone
        if "spatial" not in entry:
            raise InputError(f"config field {f!r}: 'spatial' is required")
        out.append({k: USER_FIELDS[k](f"{f}.{k}", val) for k, val in entry.items()})
    return out


def parse_method_param(text: str) -> tuple[str, str, object]:
    """``METHOD.PARAM=VALUE`` as ``(method, param, value)``, the value read as YAML (``10`` is an int)."""
    try:
        lhs, value = text.split("=", 1)
        method, param = lhs.split(".", 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected METHOD.PARAM=VALUE, got {text!r}") from None
    import yaml

    return method, param, yaml.safe_load(value)


# -- the option table -------------------------------------------------------------------------------

#: Kinds of option: how the flag is declared and how a value is written back as arguments.
#: value: ``--flag VALUE``; list: ``--flag V1 V2 ...``; switch: ``--flag`` sets True;
#: off: ``--flag`` sets False (``--no-cluster``); param: ``--method-param M.P=V`` (repeatable);
#: user: one field of the user's own data files (``user_data`` in YAML).
KINDS = ("value", "list", "switch", "off", "param", "user")


@dataclass(frozen=True)
class Option:
    """One ``run`` option.

    Attributes
    ----------
    flag
        The long flag, e.g. ``"--folds"``.
    group
        The help section it is listed in.
    help
        Help text; ``{default}`` is replaced by the ``RunConfig`` default. A callable is called
        when the parser is built (for defaults read from the environment).
    attr
        The ``RunConfig`` attribute it sets (``"cluster_params.resolution"`` for a field of a
        nested dataclass, ``"user_data.spatial"`` for a field of the user's files); ``None`` for
        an option that only changes what is printed (not recorded, not in YAML).
    kind
        One of :data:`KINDS`.
    check
        Validates a YAML value: ``check(field, value)`` returns the value or raises InputError.
    type, metavar, choices
        As for ``argparse.add_argument``.
    key
        The YAML key (default: the flag without ``--``, ``-`` written ``_``).
    aliases
        Other YAML keys accepted for it (the ``RunConfig`` attribute where its name differs).
    """

    flag: str
    group: str
    help: str | Callable[[], str]
    attr: str | None
    kind: str = "value"
    check: Validator | None = None
    type: Callable[[str], Any] | None = None
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    key: str | None = None
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"option {self.flag}: kind must be one of {KINDS}, not {self.kind!r}")
        if self.attr is not None and self.kind != "user" and self.check is None:
            raise ValueError(f"option {self.flag}: a recorded option needs a check of its YAML value")

    @property
    def dest(self) -> str:
        """The attribute of the parsed arguments (argparse's name for the flag)."""
        return self.flag[2:].replace("-", "_")

    @property
    def yaml_key(self) -> str | None:
        """The key of the option in a configuration file (``None``: not in files)."""
        if self.attr is None:
            return None
        if self.kind == "user":
            return self.attr.split(".", 1)[1]  # a key of each user_data entry
        return self.key or self.dest

    def help_text(self) -> str:
        text = self.help() if callable(self.help) else self.help
        if "{default}" in text:
            text = text.replace("{default}", _shown(_get(_default_json(), self.attr)))
        return text

    def argparse_kwargs(self) -> dict[str, Any]:
        # Defaults are None so that a flag given on the command line can be told apart from one
        # left out, and override a --config file; the real defaults are RunConfig's.
        kw: dict[str, Any] = {"help": self.help_text()}
        if self.kind in ("switch", "off"):
            kw.update(action="store_true", default=None if self.attr is not None else False)
        elif self.kind == "param":
            kw.update(action="append", type=parse_method_param, metavar=self.metavar)
        else:
            if self.kind == "list":
                kw["nargs"] = "+"
            for name in ("type", "metavar"):
                if getattr(self, name) is not None:
                    kw[name] = getattr(self, name)
            if self.choices is not None:
                kw["choices"] = list(self.choices)
        return kw

    def to_args(self, value: Any) -> list[str]:
        """The arguments that give this option ``value`` (a JSON value, as in ``run.json``)."""
        if self.kind in ("switch", "off"):
            return [self.flag] if bool(value) == (self.kind == "switch") else []
        if self.kind == "list":
            return [self.flag, *map(str, value)]
        if self.kind == "param":
            return [arg for m, params in sorted(value.items()) for p, v in sorted(params.items())
                    for arg in (self.flag, f"{m}.{p}={_yaml_text(v)}")]
        return [self.flag, str(value)]


def _yaml_text(v: Any) -> str:
    """``v`` written so that reading it as YAML (as ``--method-param`` does) gives ``v`` back."""
    import yaml

    if isinstance(v, str):
        try:
            if yaml.safe_load(v) == v:
                return v
        except yaml.YAMLError:
            pass
    return json.dumps(v)  # JSON is YAML: a string that reads as a number stays a string


def _shown(v: Any) -> str:
    return " ".join(map(str, v)) if isinstance(v, list) else str(v)


_W, _P, _D, _X = "what to run", "protocol", "data", "execution"

#: Every ``run`` option, in the order of ``run --help``.
OPTIONS: tuple[Option, ...] = (
    Option("--datasets", _W, "registered datasets, or self:NAME for a self-paired split of a spatial set "
           "(default: the built-in 'synthetic'); see `ls datasets`",
           "datasets", "list", _list_of(_str), metavar="NAME"),
    Option("--methods", _W, "registered methods, or 'all' for every available one (default: the controls and "
           "stImpute, the methods implemented here); see `ls methods`",
           "methods", "list", _list_of(_str), metavar="NAME"),
    Option("--exclude-methods", _W, "leave these methods out, e.g. `--methods all --exclude-methods cellpin`",
           "exclude_methods", "list", _list_of(_str), metavar="NAME"),
    Option("--method-param", _W, "override a method parameter, e.g. knn.k=10 (repeatable)",
           "method_params", "param", _params, metavar="METHOD.PARAM=VALUE", key="params", aliases=("method_params",)),
    Option("--seeds", _W, "seeds (default: {default}); with several, summary.csv gives mean and sd over seeds",
           "seeds", "list", _list_of(_int(), min_len=1), type=int, metavar="SEED"),
    Option("--quick", _W, "let methods shorten training (each documents how)", "quick", "switch", _bool),
    Option("--tune", _W, "also run each method that declares a search space tuned (rows METHOD+tuned): per split, "
           "the configuration with the best inner gene CV over the training genes only (docs/protocol.md)",
           "tune", "switch", _bool),
    Option("--tuned-only", _W, "with --tune, skip the default rows of the methods that get a tuned row (when those "
           "rows come from another run, e.g. the leaderboard's); other methods run as usual",
           "tuned_only", "switch", _bool),
    Option("--tune-budget", _W, "configurations tried per method and split, the same for every method "
           "(default: {default})", "tune_budget", check=_int(1), type=int, metavar="N"),
    Option("--tune-folds", _W, "inner gene folds of --tune (default: {default})",
           "tune_folds", check=_int(2), type=int, metavar="K"),
    Option("--tune-cells", _W, "inner fits of --tune on a seeded subsample of at most N spatial and N reference "
           "cells, the same for every method; the final fit uses every cell (default: every cell)",
           "tune_cells", check=_optional(_int(2)), type=int, metavar="N"),

    Option("--protocol", _P, "kfold: K-fold gene cross-validation (default); holdout: a fraction of genes hidden, "
           "with repeats; cellsplit: a fraction of genes hidden and the cells partitioned into --folds "
           "folds, each predicted by its own job (see docs/protocol.md)",
           "protocol", check=_choice(*PROTOCOLS), choices=tuple(PROTOCOLS)),
    Option("--folds", _P, "gene folds (kfold) or cell folds (cellsplit) (default: {default})",
           "n_folds", check=_int(2), type=int, aliases=("n_folds",)),
    Option("--holdout-fraction", _P, "fraction of genes hidden (holdout, cellsplit; default: {default})",
           "holdout_fraction", check=_float(0.0, 1.0, open_=True), type=float),
    Option("--repeats", _P, "random repeats (holdout, cellsplit; default: {default})",
           "repeats", check=_int(1), type=int),
    Option("--preprocessing", _P, "normalisation given to all methods and used for scoring: "
           + "; ".join(f"{k}: {v}" for k, v in PREPROCESSING_SUMMARY.items()),
           "preprocessing", check=_choice(*PREPROCESSING), choices=tuple(PREPROCESSING_SUMMARY)),
    Option("--scoring-space", _P, "the space predictions are scored in: "
           + "; ".join(f"{k}: {v}" for k, v in SCORING_SPACES.items()) + " (docs/metrics.md)",
           "scoring_space", check=_choice(*SCORING_SPACES), choices=tuple(SCORING_SPACES)),
    Option("--hvg", _P, "keep the N most highly variable shared genes, chosen on the reference before any split "
           "(scanpy 'seurat' flavour; the paper used 2000 for its large panels; default: all genes)",
           "hvg", check=_optional(_int(2)), type=int, metavar="N"),
    Option("--keep-control-probes", _P, "keep negative-control probes (Blank-*, NegPrb*, NegControl*) in the gene "
           "cross-validation (default: they are left out; docs/datasets.md)",
           "keep_control_probes", "switch", _bool),
    Option("--no-cluster", _P, "skip the Leiden cluster metrics", "cluster", "off", _bool, key="cluster"),
    Option("--cluster-resolution", _P, "Leiden resolution (default: {default})",
           "cluster_params.resolution", check=_float(0.0), type=float),
    Option("--cluster-neighbors", _P, "neighbours of the kNN graph (default: {default})",
           "cluster_params.n_neighbors", check=_int(1), type=int),
    Option("--cluster-pcs", _P, "principal components (default: {default})",
           "cluster_params.n_pcs", check=_int(1), type=int),

    Option("--spatial", _D, "your spatial counts (cells x genes); without --reference it is self-paired like "
           "self:NAME (--self-pair-seed, --self-pair-fraction)",
           "user_data.spatial", "user", _path, type=Path, metavar="FILE.h5ad"),
    Option("--reference", _D, "your scRNA-seq reference counts (optional: see --spatial)",
           "user_data.reference", "user", _path, type=Path, metavar="FILE.h5ad"),
    Option("--name", _D, "dataset name for your files (default: the spatial file's stem)",
           "user_data.name", "user", _optional(_str)),
    Option("--label-key", _D, "obs column of the spatial file with cell types (for cluster metrics)",
           "user_data.label_key", "user", _optional(_str)),
    Option("--spatial-key", _D, "obsm key of the spatial file with coordinates (default: 'spatial', the "
           "scverse convention, when the file has it)", "user_data.spatial_key", "user", _optional(_str)),
    Option("--layer", _D, "layer holding raw counts, if X does not", "user_data.layer", "user", _optional(_str)),
    Option("--embeddings", _D, "genes x dims table (parquet/csv) of gene embeddings",
           "user_data.embeddings", "user", _optional(_path), type=Path, metavar="FILE"),
    Option("--harmonize-gene-case", _D, "rename reference genes that match spatial genes only case-insensitively",
           "harmonize_gene_case", "switch", _bool),
    Option("--verify-data", _D, "check the sha256 of each registered dataset file against its manifest before "
           "reading it", "verify_data", "switch", _bool),
    Option("--self-pair-seed", _D, "seed of the cell split of self:NAME datasets (default: {default})",
           "self_pair_seed", check=_int(), type=int),
    Option("--self-pair-fraction", _D, "fraction of cells put in the reference half of self:NAME datasets "
           "(default: {default})", "self_pair_fraction", check=_float(0.0, 1.0, open_=True), type=float),

    Option("--out", _X, "results folder (default: {default})", "out", check=_path, type=Path),
    Option("--cache-dir", _X, "job cache (default: OUT/cache)", "cache_dir", check=_optional(_path), type=Path),
    Option("--data-dir", _X, lambda: f"data directory (default: ${DATA_DIR_ENV} or {default_data_dir()})",
           "data_dir", check=_optional(_path), type=Path),
    Option("--time-budget", _X, "seconds per job before it is stopped (default: 1800)",
           "time_budget", check=_optional(_float(0.0)), type=float),
    Option("--retry-failed", _X, "re-run jobs whose failure is cached", "retry_failed", "switch", _bool),
    Option("--no-isolation", _X, "run methods in this process (for debugging)", "isolate", "off", _bool,
           key="isolation", aliases=("isolate",)),
    Option("--device", _X, "device for torch methods (default: {default})",
           "device", check=_choice("cpu", "cuda", "auto"), choices=("cpu", "cuda", "auto")),
    Option("--quiet", _X, "no progress bar", None, "switch"),
    Option("--full-summary", _X, "print every column of the summary (as in summary.csv), not only the primary "
           "metrics that fit in 120 columns", None, "switch"),
    Option("--executor", _X, "run jobs one after another here (serial, default) or as tasks on a Dask cluster "
           "(a local one unless --scheduler is given); see docs/scaling.md",
           "executor", check=_choice("serial", "dask"), choices=("serial", "dask")),
    Option("--scheduler", _X, "with --executor dask: join this running Dask scheduler (e.g. tcp://host:8786) "
           "instead of starting a local cluster; the cache folder must be visible to every worker",
           "scheduler", check=_optional(_str), metavar="ADDRESS"),
    Option("--workers", _X, "with --executor dask and no --scheduler: workers of the local cluster "
           "(default: CPUs, at most 4)", "dask_workers", check=_optional(_int(1)), type=int, metavar="N",
           aliases=("dask_workers",)),
)

#: Options of the user's own files, as keys of each ``user_data`` entry.
USER_FIELDS: dict[str, Validator] = {o.yaml_key: o.check for o in OPTIONS if o.kind == "user"}

#: Every key a config file may hold, with its check. Defaults are those of ``RunConfig``.
FIELDS: dict[str, Validator] = {
    **{o.yaml_key: o.check for o in OPTIONS if o.attr is not None and o.kind != "user"},
    "user_data": _user_data,
}

#: Other keys accepted for an option (old names, ``RunConfig`` names): alias -> key.
ALIASES: dict[str, str] = {a: o.yaml_key for o in OPTIONS for a in o.aliases}

_PATH_KEYS = ("out", "cache_dir", "data_dir")


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Add every option of :data:`OPTIONS` to ``parser``, in its help sections."""
    groups: dict[str, Any] = {}
    for opt in OPTIONS:
        if opt.group not in groups:
            groups[opt.group] = parser.add_argument_group(opt.group)
        groups[opt.group].add_argument(opt.flag, **opt.argparse_kwargs())


@functools.cache
def _default_json() -> dict[str, Any]:
    """``RunConfig()`` as ``run.json`` records it (imported late: the harness imports much)."""
    from .harness import RunConfig

    return RunConfig().to_json()


def _get(d: Mapping[str, Any], attr: str) -> Any:
    for part in attr.split("."):
        d = d[part]
    return d


def _check_keys(where: str, d: dict, allowed: dict) -> None:
    for key in d:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), list(allowed), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; valid fields: {', '.join(allowed)}"
            raise InputError(f"unknown config field {f'{where}.{key}' if where else key!r}{hint}")


def parse_config(raw: Any, base_dir: Path | None = None) -> dict[str, Any]:
    """Validate a parsed YAML document; return the checked values under their canonical keys
    (:data:`FIELDS`; an alias is renamed), relative paths resolved against ``base_dir``."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InputError(f"a config file must hold a mapping of run options, not a {type(raw).__name__}")
    _check_keys("", raw, {**FIELDS, **ALIASES})
    canonical: dict[str, Any] = {}
    given: dict[str, str] = {}
    for key, value in raw.items():
        name = ALIASES.get(key, key)
        if name in given:
            raise InputError(f"config fields {given[name]!r} and {key!r} are the same option; give one")
        given[name] = key
        canonical[name] = value
    out = {key: FIELDS[key](given[key], value) for key, value in canonical.items()}
    if base_dir is not None:
        def rel(p):
            return p if p is None or p.is_absolute() else base_dir / p

        for key in _PATH_KEYS:
            if key in out:
                out[key] = rel(out[key])
        for u in out.get("user_data", []):
            for key in ("spatial", "reference", "embeddings"):
                if u.get(key) is not None:
                    u[key] = rel(u[key])
    return out


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read and validate a YAML run configuration: a file, or a shipped preset's name
    (``li2022``: ``benchmark/presets/li2022.yaml``, see :mod:`benchmark.presets`)."""
    import yaml

    from .presets import resolve_config_path

    path = resolve_config_path(path)
    if not path.is_file():
        raise InputError(f"config file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(f"config file {path} is not valid YAML: {exc}") from None
    try:
        return parse_config(raw, path.resolve().parent)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


def cli_values(args) -> dict[str, Any]:
    """The run options given explicitly on the command line (the parser's defaults are ``None``),
    under their config keys."""
    out: dict[str, Any] = {}
    for opt in OPTIONS:
        v = getattr(args, opt.dest, None)
        if opt.attr is None or opt.kind == "user" or v is None:
            continue
        if opt.kind == "off":
            if v:
                out[opt.yaml_key] = False
        elif opt.kind == "param":
            params: dict[str, dict[str, Any]] = {}
            for method, param, value in v:
                params.setdefault(method, {})[param] = value
            if params:
                out[opt.yaml_key] = params
        else:
            out[opt.yaml_key] = v
    pair = {k: getattr(args, k, None) for k in USER_FIELDS}
    if pair["spatial"] or pair["reference"]:
        if not pair["spatial"]:
            raise InputError("--reference needs --spatial (the spatial file it is paired with); --spatial alone "
                             "self-pairs that file")
        out["user_data"] = [pair]
    else:
        extra = {k: v for k, v in pair.items() if v is not None}
        if extra:
            out["user_data_overrides"] = extra
    return out


def merge(file_values: dict[str, Any], cli: dict[str, Any]) -> dict[str, Any]:
    """File values overridden by command-line values (``params`` merged per parameter)."""
    merged = dict(file_values)
    for key, value in cli.items():
        if key == "params":
            params = {m: dict(p) for m, p in merged.get("params", {}).items()}
            for m, p in value.items():
                params.setdefault(m, {}).update(p)
            merged["params"] = params
        elif key == "user_data_overrides":
            if not merged.get("user_data"):
                flags = ", ".join("--" + k.replace("_", "-") for k in value)
                raise InputError(f"{flags} describe your own data files; give them with --spatial (and --reference) "
                                 "(or user_data in a config file)")
            merged["user_data"] = [{**u, **value} for u in merged["user_data"]]
        else:
            merged[key] = value
    return merged


def to_run_config(values: dict[str, Any]):
    """A :class:`benchmark.harness.RunConfig` from checked values (missing keys: RunConfig defaults)."""
    from .harness import RunConfig, UserData

    cfg = RunConfig()
    for opt in OPTIONS:
        if opt.attr is None or opt.kind == "user" or opt.yaml_key not in values:
            continue
        value = values[opt.yaml_key]
        head, _, field = opt.attr.partition(".")
        if field:  # a field of a nested dataclass (cluster_params)
            setattr(cfg, head, dataclasses.replace(getattr(cfg, head), **{field: value}))
        else:
            setattr(cfg, head, value)
    cfg.user_data = [UserData(**{k: u.get(k) for k in USER_FIELDS}) for u in values.get("user_data", [])]
    return cfg


def build_run_config(args):
    """RunConfig from ``run`` arguments: the ``--config`` file if any, overridden by explicit flags."""
    file_values = load_config_file(args.config) if getattr(args, "config", None) else {}
    cli = cli_values(args)
    if "methods" in cli and file_values.get("params"):
        # a file's (a preset's) parameters of methods this run leaves out are not used; those given
        # as flags still must name a method of the run (a typo there is an error)
        from .tuning import base_name

        keep = {base_name(m) for m in cli["methods"]}
        file_values = {**file_values, "params": {m: p for m, p in file_values["params"].items() if m in keep}}
    return to_run_config(merge(file_values, cli))


def command_args(config: Mapping[str, Any]) -> list[str]:
    """The ``run`` arguments that give a recorded configuration (``run.json``'s ``config``, i.e.
    ``RunConfig.to_json()``): every option whose value differs from the default.

    Keys missing from ``config`` (a run recorded before the option existed) take the default.
    A value the command line cannot express (a ``time_budget`` of ``None``, more than one
    ``user_data`` entry) is written as closely as it can be: no flag, or one ``--spatial`` per entry.
    """
    defaults = _default_json()
    parts: list[str] = []
    for opt in OPTIONS:
        if opt.attr is None:
            continue
        if opt.kind == "user":
            if opt.flag == "--spatial":  # the user's files, at the place of their first flag
                parts += _user_args(config.get("user_data") or [])
            continue
        try:
            value = _get(config, opt.attr)
        except (KeyError, TypeError):
            continue  # not recorded: the default
        if value is None or value == _get(defaults, opt.attr):
            continue
        parts += opt.to_args(value)
    return parts


def _user_args(entries: list[Mapping[str, Any]]) -> list[str]:
    users = [o for o in OPTIONS if o.kind == "user"]
    parts: list[str] = []
    for u in entries:
        for opt in users:
            if u.get(opt.yaml_key):  # without a reference the spatial file is self-paired
                parts += [opt.flag, str(u[opt.yaml_key])]
    return parts
