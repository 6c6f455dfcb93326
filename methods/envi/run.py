"""ENVI (scenvi) on one task, run by ENVI's own environment (benchmark/env_child.py calls ``impute``).

Returns ENVI's imputed expression (its decoder's expected counts, on the reference's count
scale) for the target genes and for the training genes; ``methods/envi.py`` puts the targets on
the task's scale in the suite's process, using the training genes' total as each cell's library.
"""

import numpy as np
import pandas as pd
import scipy.sparse as sp


def _counts(adata):
    x = adata.layers["counts"] if "counts" in adata.layers else adata.X
    return np.asarray(x.toarray() if sp.issparse(x) else x, dtype=np.float32)


def impute(task):
    import anndata as ad
    import jax
    import scenvi

    p = task.params
    if "spatial" not in task.spatial.obsm:
        raise ValueError("ENVI needs cell coordinates (obsm['spatial']) to compute its niche covariance (COVET)")
    # ENVI models molecule counts (Poisson spatial, negative binomial reference): give it counts in X
    st = ad.AnnData(X=_counts(task.spatial), obs=pd.DataFrame(index=task.spatial.obs_names.astype(str)),
                    var=pd.DataFrame(index=task.spatial.var_names.astype(str)))
    st.obsm["spatial"] = np.asarray(task.spatial.obsm["spatial"], dtype=np.float64)
    sc = ad.AnnData(X=_counts(task.reference), obs=pd.DataFrame(index=task.reference.obs_names.astype(str)),
                    var=pd.DataFrame(index=task.reference.var_names.astype(str)))
    targets = list(task.target_genes)
    train = list(task.spatial.var_names)
    model = scenvi.ENVI(spatial_data=st, sc_data=sc, num_HVG=int(p["num_HVG"]), k_nearest=int(p["k_nearest"]),
                        num_layers=int(p["num_layers"]), num_neurons=int(p["num_neurons"]),
                        latent_dim=int(p["latent_dim"]), sc_genes=targets)
    steps = int(p["quick_training_steps"] if task.quick else p["training_steps"])
    model.train(training_steps=steps, batch_size=int(p["batch_size"]), key=jax.random.key(int(task.seed)),
                verbose=max(1, steps // 10))
    model.impute_genes()
    imp = model.spatial_data.obsm["imputation"]  # DataFrame: spatial cells x the model's reference genes
    missing = [g for g in targets + train if g not in imp.columns]
    if missing:
        raise ValueError(f"ENVI's imputation lacks genes {missing[:5]}")
    out = imp.loc[:, train + targets].astype(np.float64)
    out.index = list(task.spatial.obs_names.astype(str))
    return {"expression": out, "info": {"training_steps": steps, "n_model_genes": int(imp.shape[1]),
                                        "scenvi_version": scenvi.__version__ if hasattr(scenvi, "__version__") else None}}
