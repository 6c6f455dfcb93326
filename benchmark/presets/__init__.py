"""Run configurations shipped with the suite (``run --config NAME``).

A preset is a YAML run configuration in this folder, in the format of ``run --config FILE.yaml``
(:mod:`benchmark.run_config`); ``run --config li2022`` reads ``li2022.yaml`` here. Flags given on
the command line override a preset's values, as they do a file's.

* ``li2022``: the setup of Li et al. 2022 (SpatialBenchmarking, Nat. Methods 19:662) as closely
  as their public code allows: raw counts into every method, raw-count scoring truth with the
  predictions as returned, 10 gene folds, their per-method parameters
  (docs/reconciliation.md, "The li2022 preset").
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError

#: Folder of the shipped presets.
PRESETS_DIR = Path(__file__).resolve().parent


def preset_names() -> list[str]:
    """Names of the shipped presets (file names without ``.yaml``), sorted."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def preset_path(name: str) -> Path:
    """The YAML file of preset ``name``.

    Raises
    ------
    benchmark.errors.InputError
        If no preset has that name (the message lists the valid ones).
    """
    path = PRESETS_DIR / f"{name}.yaml"
    if not path.is_file():
        raise InputError(f"no preset named {name!r}; presets: {', '.join(preset_names()) or 'none'} "
                         f"(or give the path of a YAML file)")
    return path


def resolve_config_path(value: str | Path) -> Path:
    """``value`` as a config file: an existing file as it is, else a preset name (``li2022``).

    A value that is neither an existing file nor a preset name is returned unchanged, so that the
    caller reports the missing file.
    """
    path = Path(value)
    if path.is_file() or path.suffix or len(path.parts) != 1:
        return path
    return preset_path(str(path)) if str(path) in preset_names() else path
