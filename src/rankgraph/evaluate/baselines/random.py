"""Random baseline: the floor every model must clear (a seeded random score per item)."""

from __future__ import annotations

import numpy as np

from rankgraph.embed.index import Exclude
from rankgraph.evaluate.baselines._common import rank_global
from rankgraph.evaluate.data import EvalData
from rankgraph.evaluate.protocol import self_exclusion


class RandomItems:
    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.scores: np.ndarray | None = None

    def fit(self, data: EvalData) -> RandomItems:
        self.scores = np.random.default_rng(self.seed).random(data.n_items)
        return self

    def score_users(self, user_rows: np.ndarray, k: int, exclude: Exclude = None):
        return rank_global(self.scores, len(user_rows), k, exclude)

    def similar_items(self, item_rows: np.ndarray, k: int):
        return rank_global(self.scores, len(item_rows), k, self_exclusion(item_rows))
