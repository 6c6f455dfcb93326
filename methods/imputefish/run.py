"""ImputeFISH (imputefish) on one task, run by ImputeFISH's own environment (benchmark/env_child.py
calls ``impute``).

Calls the package's one entry point, ``ImputeFISH.GeneEnhancement(sc_mat, sp_mat, genes, x, y)``,
with its defaults (no reference selection: that chooses among the batches of a multi-reference
atlas, and a task has one reference), on the task's ``X`` (the shared SpaGE-style input) with the
original gene names, and the first two coordinate columns.

The package fits one ``TruncatedSVD(n_components=50)`` created at import time on twice as many
features as shared genes; with fewer than 25 shared genes scikit-learn refuses it, so for such
panels the object is swapped (never edited) for one with ``2 x genes - 1`` components; panels of
25 genes or more run exactly as shipped. The SVD's randomized solver and the package's cell
sampling draw from NumPy's global generator, seeded here with the task's seed.
"""

import numpy as np
import pandas as pd
import scipy.sparse as sp


def _dense(x):
    return np.asarray(x.toarray() if sp.issparse(x) else x, dtype=np.float64)


def impute(task):
    import ImputeFISH as package
    from sklearn.decomposition import TruncatedSVD

    if "spatial" not in task.spatial.obsm:
        raise ValueError("ImputeFISH needs spatial coordinates (obsm['spatial'] of the spatial cells)")
    coords = np.asarray(task.spatial.obsm["spatial"], dtype=np.float64)
    genes = [str(g) for g in task.spatial.var_names]
    targets = [str(g) for g in task.target_genes]
    shipped = int(package.dict_learn.n_components)
    n_components = max(1, min(int(task.params["n_components"]), 2 * len(genes) - 1))
    if n_components != shipped:
        package.dict_learn = TruncatedSVD(n_components=n_components)

    spatial = pd.DataFrame(_dense(task.spatial.X), columns=genes)
    columns = genes + [g for g in targets if g not in set(genes)]
    reference = pd.DataFrame(_dense(task.reference[:, columns].X), columns=columns)

    np.random.seed(int(task.seed))
    out = package.GeneEnhancement(reference, spatial, targets, coords[:, 0].copy(), coords[:, 1].copy())
    values = out.loc[:, targets].to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        raise ValueError(f"ImputeFISH returned {int((~np.isfinite(values)).sum())} non-finite values")
    return {"expression": values,
            "info": {"svd_components": n_components, "svd_components_shipped": shipped, "n_shared": len(genes),
                     "coordinate_columns": int(coords.shape[1]), "coordinate_columns_used": 2}}
