"""Popularity baseline: every user gets the most engaged items of (the recent part of) train."""

from __future__ import annotations

import numpy as np

from rankgraph.embed.index import Exclude
from rankgraph.evaluate.baselines._common import rank_global
from rankgraph.evaluate.data import EvalData
from rankgraph.evaluate.protocol import self_exclusion


class Popularity:
    """Item score = number of train engagements in the last `recent_fraction` of train time."""

    def __init__(self, recent_fraction: float = 1.0) -> None:
        if not 0 < recent_fraction <= 1:
            raise ValueError(f"recent_fraction must be in (0, 1], got {recent_fraction}")
        self.recent_fraction = recent_fraction
        self.scores: np.ndarray | None = None

    def fit(self, data: EvalData) -> Popularity:
        ts = data.train.ts
        since = np.quantile(ts, 1 - self.recent_fraction, method="lower") if ts.size else 0
        recent = ts >= since
        self.scores = np.bincount(data.train.item[recent], minlength=data.n_items).astype(np.float64)
        return self

    def score_users(self, user_rows: np.ndarray, k: int, exclude: Exclude = None):
        return rank_global(self.scores, len(user_rows), k, exclude)

    def similar_items(self, item_rows: np.ndarray, k: int):
        return rank_global(self.scores, len(item_rows), k, self_exclusion(item_rows))
