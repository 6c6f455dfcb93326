"""The side of :mod:`benchmark.envs` that runs in a method's own environment.

Run by the environment's interpreter as ``python -I env_child.py RUNNER IO_DIR``; it imports
nothing of this suite (the environment does not have it), only the standard library, numpy,
pandas and anndata, which every method's environment must install.

It reads the task that :func:`benchmark.envs.write_task` wrote into ``IO_DIR``, loads
``RUNNER`` (the method's ``run.py``) and calls its ``impute(task)``, where ``task`` has the
attributes of :class:`benchmark.task.ImputationTask` (``spatial``, ``reference``,
``target_genes``, ``seed``, ``workdir``, ``time_budget``, ``preprocessing``, ``quick``,
``device``, ``gene_embeddings``, ``spatial_values``, ``reference_values``) plus ``params``,
the method's parameters as a dict. ``impute`` returns a dict with

``expression``
    cells x target genes: a DataFrame indexed by cell name with the gene names as columns, or
    an array in ``task.spatial.obs_names`` x ``task.target_genes`` order;
``confidence`` (optional)
    one value per target gene;
``info`` (optional)
    JSON-serialisable facts about the fit.

The prediction is written to ``prediction.npy`` and ``prediction.json``; an exception to
``error.json`` (type, message, traceback), with exit code 1.
"""

import importlib.util
import json
import sys
import traceback
from pathlib import Path
from types import SimpleNamespace


def load_task(io_dir: Path) -> SimpleNamespace:
    import anndata as ad
    import numpy as np
    import pandas as pd

    meta = json.loads((io_dir / "task.json").read_text())
    emb = None
    if meta.get("gene_embedding_genes") is not None:
        emb = pd.DataFrame(np.load(io_dir / "gene_embeddings.npy"), index=meta["gene_embedding_genes"])
    scratch = io_dir / "scratch"
    scratch.mkdir(exist_ok=True)
    return SimpleNamespace(
        spatial=ad.read_h5ad(io_dir / "spatial.h5ad"), reference=ad.read_h5ad(io_dir / "reference.h5ad"),
        target_genes=list(meta["target_genes"]), seed=int(meta["seed"]), workdir=scratch,
        time_budget=meta["time_budget"], preprocessing=meta["preprocessing"], quick=bool(meta["quick"]),
        device=meta["device"], gene_embeddings=emb, spatial_values=meta["spatial_values"],
        reference_values=meta["reference_values"], params=dict(meta["params"]),
    )


def write_prediction(io_dir: Path, task: SimpleNamespace, out: dict) -> None:
    import numpy as np
    import pandas as pd

    if not isinstance(out, dict) or "expression" not in out:
        raise TypeError(f"impute(task) must return a dict with 'expression', got {type(out).__name__}")
    expr = out["expression"]
    if isinstance(expr, pd.DataFrame):
        index, columns, values = list(map(str, expr.index)), list(map(str, expr.columns)), expr.to_numpy(dtype=float)
    else:
        values = np.asarray(expr, dtype=float)
        index, columns = list(map(str, task.spatial.obs_names)), list(task.target_genes)
        if values.shape != (len(index), len(columns)):
            raise ValueError(f"impute returned an array of shape {values.shape}, expected {(len(index), len(columns))}")
    conf = out.get("confidence")
    if conf is not None:
        conf = [float(v) for v in (conf.loc[columns] if isinstance(conf, pd.Series) else conf)]
    np.save(io_dir / "prediction.npy", values)
    (io_dir / "prediction.json").write_text(json.dumps(
        {"index": index, "columns": columns, "confidence": conf, "info": out.get("info") or {}}, default=str))


def main(argv: list) -> int:
    runner, io_dir = Path(argv[0]), Path(argv[1])
    try:
        spec = importlib.util.spec_from_file_location("method_runner", runner)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        task = load_task(io_dir)
        write_prediction(io_dir, task, module.impute(task))
        return 0
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the suite with its traceback
        (io_dir / "error.json").write_text(json.dumps(
            {"type": type(exc).__name__, "message": str(exc), "traceback": traceback.format_exc()}))
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
