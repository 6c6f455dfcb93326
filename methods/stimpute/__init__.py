"""stImpute (Zeng et al. 2024) and its ablations.

``module.py`` holds the torch networks, ``training.py`` the training procedures, ``graph.py``
the gene graph, ``params.py`` the parameters and presets, ``method.py`` the method class and
``ablations.py`` the registered variants.
"""

from . import ablations, method  # noqa: F401  (importing registers the methods)
