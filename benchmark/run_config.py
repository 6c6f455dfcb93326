"""Run options from a YAML file (``run --config FILE.yaml``), merged with command-line flags.

Every key of the file is the long name of a ``run`` option with ``-`` written ``_``
(``holdout_fraction``, ``cluster_resolution``, ...), except:

* ``params``: ``{method: {parameter: value}}`` (the flag is ``--method-param METHOD.PARAM=VALUE``);
* ``cluster: false`` (flag ``--no-cluster``) and ``isolation: false`` (flag ``--no-isolation``);
* ``user_data``: a list of ``{spatial, reference, name, label_key, spatial_key, layer, embeddings}``
  (flags ``--spatial``, ``--reference``, ``--name``, ... for one pair); without ``reference`` the
  spatial file is self-paired like ``self:NAME``;
* ``self_pair_seed`` / ``self_pair_fraction``: the cell split of ``self:NAME`` datasets (and of a
  user's spatial file without a reference).

Relative paths in the file are read relative to the file's folder. A flag given on the command
line overrides the file's value (``--method-param`` overrides one parameter, ``--spatial`` (with or
without ``--reference``) replaces the file's ``user_data``). Every error names the field at fault.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Callable

from .datasets.preprocessing import PREPROCESSING
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


USER_FIELDS: dict[str, Validator] = {
    "spatial": _path, "reference": _path, "name": _optional(_str), "label_key": _optional(_str),
    "spatial_key": _optional(_str), "layer": _optional(_str), "embeddings": _optional(_path),
}


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


#: Every key a config file may hold, with its check. Defaults are those of ``RunConfig``.
FIELDS: dict[str, Validator] = {
    "datasets": _list_of(_str),
    "methods": _list_of(_str),
    "exclude_methods": _list_of(_str),
    "params": _params,
    "seeds": _list_of(_int(), min_len=1),
    "quick": _bool,
    "tune": _bool,
    "tune_budget": _int(1),
    "tune_folds": _int(2),
    "protocol": _choice(*PROTOCOLS),
    "folds": _int(2),
    "holdout_fraction": _float(0.0, 1.0, open_=True),
    "repeats": _int(1),
    "preprocessing": _choice(*PREPROCESSING),
    "scoring_space": _choice(*SCORING_SPACES),
    "hvg": _optional(_int(2)),
    "keep_control_probes": _bool,
    "cluster": _bool,
    "cluster_resolution": _float(0.0),
    "cluster_neighbors": _int(1),
    "cluster_pcs": _int(1),
    "user_data": _user_data,
    "harmonize_gene_case": _bool,
    "self_pair_seed": _int(),
    "self_pair_fraction": _float(0.0, 1.0, open_=True),
    "verify_data": _bool,
    "out": _path,
    "cache_dir": _optional(_path),
    "data_dir": _optional(_path),
    "time_budget": _optional(_float(0.0)),
    "retry_failed": _bool,
    "isolation": _bool,
    "device": _choice("cpu", "cuda", "auto"),
    "executor": _choice("serial", "dask"),
    "scheduler": _optional(_str),
    "workers": _optional(_int(1)),
}

_PATH_KEYS = ("out", "cache_dir", "data_dir")


def _check_keys(where: str, d: dict, allowed: dict) -> None:
    for key in d:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), list(allowed), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; valid fields: {', '.join(allowed)}"
            raise InputError(f"unknown config field {f'{where}.{key}' if where else key!r}{hint}")


def parse_config(raw: Any, base_dir: Path | None = None) -> dict[str, Any]:
    """Validate a parsed YAML document; return the checked values (relative paths resolved
    against ``base_dir``)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InputError(f"a config file must hold a mapping of run options, not a {type(raw).__name__}")
    _check_keys("", raw, FIELDS)
    out = {key: FIELDS[key](key, value) for key, value in raw.items()}
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
    """Read and validate a YAML run configuration."""
    import yaml

    path = Path(path)
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
    """The run options given explicitly on the command line (the parser's defaults are ``None``)."""
    out: dict[str, Any] = {}
    simple = ["datasets", "methods", "exclude_methods", "seeds", "quick", "tune", "tune_budget", "tune_folds", "keep_control_probes", "protocol", "folds", "holdout_fraction",
              "repeats", "preprocessing", "scoring_space", "hvg", "cluster_resolution", "cluster_neighbors",
              "cluster_pcs", "harmonize_gene_case", "self_pair_seed", "self_pair_fraction", "verify_data", "out", "cache_dir",
              "data_dir", "time_budget", "retry_failed", "device", "executor", "scheduler", "workers"]
    for key in simple:
        v = getattr(args, key, None)
        if v is not None:
            out[key] = v
    if getattr(args, "no_cluster", None):
        out["cluster"] = False
    if getattr(args, "no_isolation", None):
        out["isolation"] = False
    if getattr(args, "method_param", None):
        params: dict[str, dict[str, Any]] = {}
        for method, param, value in args.method_param:
            params.setdefault(method, {})[param] = value
        out["params"] = params
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
    from .metrics import ClusterParams

    cfg = RunConfig()
    direct = {"datasets": "datasets", "methods": "methods", "exclude_methods": "exclude_methods",
              "params": "method_params", "seeds": "seeds", "quick": "quick", "tune": "tune",
              "tune_budget": "tune_budget", "tune_folds": "tune_folds", "protocol": "protocol",
              "keep_control_probes": "keep_control_probes",
              "folds": "n_folds", "holdout_fraction": "holdout_fraction",
              "repeats": "repeats", "preprocessing": "preprocessing", "scoring_space": "scoring_space",
              "hvg": "hvg", "cluster": "cluster",
              "harmonize_gene_case": "harmonize_gene_case", "self_pair_seed": "self_pair_seed",
              "self_pair_fraction": "self_pair_fraction", "verify_data": "verify_data", "out": "out",
              "cache_dir": "cache_dir", "data_dir": "data_dir", "time_budget": "time_budget",
              "retry_failed": "retry_failed", "isolation": "isolate", "device": "device",
              "executor": "executor", "scheduler": "scheduler", "workers": "dask_workers"}
    for key, attr in direct.items():
        if key in values:
            setattr(cfg, attr, values[key])
    cp = cfg.cluster_params
    cfg.cluster_params = ClusterParams(values.get("cluster_neighbors", cp.n_neighbors),
                                       values.get("cluster_pcs", cp.n_pcs),
                                       values.get("cluster_resolution", cp.resolution))
    cfg.user_data = [UserData(u["spatial"], u.get("reference"), u.get("name"), u.get("label_key"), u.get("spatial_key"),
                              u.get("layer"), u.get("embeddings")) for u in values.get("user_data", [])]
    return cfg


def build_run_config(args):
    """RunConfig from ``run`` arguments: the ``--config`` file if any, overridden by explicit flags."""
    file_values = load_config_file(args.config) if getattr(args, "config", None) else {}
    return to_run_config(merge(file_values, cli_values(args)))
