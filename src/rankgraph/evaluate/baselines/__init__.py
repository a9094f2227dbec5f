"""Non-GNN baselines, each fitted on train events only and scored through `Recommender`.

`BASELINES` maps the names used in `evaluate.baselines` to classes; `DEFAULT_GRIDS` are the
small hyper-parameter grids `rankgraph.evaluate.tune.tune` searches on a validation slice.
"""

from __future__ import annotations

from typing import Any

from rankgraph.evaluate.baselines.als import ALS
from rankgraph.evaluate.baselines.itemcf import ItemCF
from rankgraph.evaluate.baselines.lightgcn import LightGCN
from rankgraph.evaluate.baselines.popularity import Popularity
from rankgraph.evaluate.baselines.random import RandomItems

BASELINES: dict[str, type] = {"popularity": Popularity, "itemcf": ItemCF, "als": ALS, "random": RandomItems, "lightgcn": LightGCN}

DEFAULT_GRIDS: dict[str, dict[str, list[Any]]] = {
    "popularity": {"recent_fraction": [1.0, 0.5, 0.2]},
    "itemcf": {"neighbours": [50, 200], "alpha": [0.5, 0.7]},
    "als": {"factors": [32, 64], "regularization": [0.01, 0.1], "alpha": [1.0, 10.0]},
    "random": {},
    "lightgcn": {"layers": [2, 3], "dim": [64], "lr": [5e-3, 1e-2], "epochs": [15]},
}

__all__ = ["ALS", "BASELINES", "DEFAULT_GRIDS", "ItemCF", "LightGCN", "Popularity", "RandomItems"]
