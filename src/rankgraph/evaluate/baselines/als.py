"""ALS matrix factorisation (Hu, Koren, Volinsky 2008) through the `implicit` library.

Users are scored by raw dot products of factors (which keeps popularity, see design.md);
item neighbours by cosine of item factors. Threads are capped (shared CPUs).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from rankgraph.capabilities import WITH_IMPLICIT
from rankgraph.config.evaluate import IndexConfig
from rankgraph.embed.index import Exclude
from rankgraph.errors import ConfigError
from rankgraph.evaluate.data import EvalData
from rankgraph.evaluate.protocol import EmbeddingRecommender


class ALS:
    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.01,
        alpha: float = 1.0,
        iterations: int = 15,
        seed: int = 0,
        threads: int = 1,
        index: IndexConfig | None = None,
    ) -> None:
        if not WITH_IMPLICIT:
            raise ConfigError("baseline 'als' needs the optional package 'implicit' (pip install implicit)")
        self.params = dict(factors=factors, regularization=regularization, alpha=alpha, iterations=iterations)
        self.seed, self.threads, self.index = seed, threads, index
        self._rec: EmbeddingRecommender | None = None

    def fit(self, data: EvalData) -> ALS:
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits  # a dependency of implicit

        x = data.train_matrix(binary=True).astype(np.float32)
        with threadpool_limits(1, "blas"):  # implicit's own threads do the work; nested BLAS threads thrash
            model = AlternatingLeastSquares(
                **self.params, random_state=self.seed, num_threads=self.threads, calculate_training_loss=False
            )
            model.fit(sp.csr_matrix(x), show_progress=False)
        self._rec = EmbeddingRecommender(
            np.asarray(model.user_factors, np.float32), np.asarray(model.item_factors, np.float32), self.index
        )
        return self

    def score_users(self, user_rows: np.ndarray, k: int, exclude: Exclude = None):
        return self._rec.score_users(user_rows, k, exclude)

    def similar_items(self, item_rows: np.ndarray, k: int):
        return self._rec.similar_items(item_rows, k)
