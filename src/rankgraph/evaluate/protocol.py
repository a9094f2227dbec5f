"""The one interface every scored model implements, and its implementation for embeddings.

A `Recommender` answers two questions in global item rows (see `EvalData`): the top-k items
for users (for Recall@K, NDCG@K, edge recall) and the top-k neighbours of items (for
Engagement Recall). RankGraph, its ablations and every baseline are scored through it by
`rankgraph.evaluate.evaluator.evaluate`, so they differ only in what they answer.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from rankgraph.config.evaluate import IndexConfig
from rankgraph.embed.artifact import EmbeddingSet
from rankgraph.embed.index import EmbeddingIndex, Exclude
from rankgraph.errors import InputError
from rankgraph.embed.readout import PopularityReadout, probability_scale, readout_queries, readout_targets


class Recommender(Protocol):
    def score_users(self, user_rows: np.ndarray, k: int, exclude: Exclude = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores [u, k], items [u, k] global rows, -1 padded), never an `exclude`d item."""
        ...

    def similar_items(self, item_rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores [n, k], items [n, k]) neighbours of each item, the item itself left out."""
        ...


def self_exclusion(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR excluding, for query j, row `rows[j]` (an item is not its own neighbour)."""
    rows = np.asarray(rows, dtype=np.int64)
    return np.arange(rows.size + 1, dtype=np.int64), rows


class EmbeddingRecommender:
    """Dot-product retrieval from user and item matrices (RankGraph, ALS factors, ...).

    `item_vectors` rows must be in the global item row order of the `EvalData` it is scored
    on (`EmbeddingSet.stacked_items` and `EvalData.from_tables(user_ids=..., item_ids=...)`
    with the embeddings' id maps agree on it). Item neighbours use cosine similarity. With a
    `readout` whose betas are > 0, scores add `beta * log q(item)` to `similarity / temperature`
    (see `rankgraph.embed.readout`), as one more inner-product dimension.
    """

    def __init__(
        self,
        user_vectors: np.ndarray,
        item_vectors: np.ndarray,
        cfg: IndexConfig | None = None,
        *,
        readout: PopularityReadout | None = None,
    ) -> None:
        if user_vectors.shape[1] != item_vectors.shape[1]:
            raise InputError(f"user dim {user_vectors.shape[1]} != item dim {item_vectors.shape[1]}")
        if readout is not None and readout.log_q.shape[0] != item_vectors.shape[0]:
            raise InputError(f"read-out log q has {readout.log_q.shape[0]} rows, the catalogue {item_vectors.shape[0]}")
        self.user_vectors = np.asarray(user_vectors, dtype=np.float32)
        items = np.asarray(item_vectors, dtype=np.float32)
        norms = np.linalg.norm(items, axis=1, keepdims=True)
        unit = items if np.allclose(norms, 1.0, atol=1e-3) else items / np.maximum(norms, 1e-12)
        same = unit is items
        self.item_queries = unit
        self._plain = (self.user_vectors, unit)
        self._temperature = None if readout is None else readout.temperature
        unit_targets = unit
        if readout is not None:
            items = readout_targets(items, readout.log_q)
            unit_targets = items if same else readout_targets(unit, readout.log_q)
        self.items = EmbeddingIndex(items, cfg)
        self.unit_items = self.items if same else EmbeddingIndex(unit_targets, cfg)
        if readout is not None:
            self.set_betas(readout.users, readout.items)

    def set_betas(self, users: float, items: float) -> None:
        """Change the read-out betas without rebuilding the indexes (they live in the queries)."""
        if self._temperature is None:
            raise InputError("this recommender was built without a popularity read-out")
        plain_users, plain_items = self._plain
        self.user_vectors = readout_queries(plain_users, self._temperature, users)
        self.item_queries = readout_queries(plain_items, self._temperature, items)

    @classmethod
    def from_set(cls, emb: EmbeddingSet, cfg: IndexConfig | None = None) -> EmbeddingRecommender:
        items, _, _ = emb.stacked_items()
        return cls(np.asarray(emb.types[emb.user_type].vectors), items, cfg)

    def score_users(self, user_rows: np.ndarray, k: int, exclude: Exclude = None) -> tuple[np.ndarray, np.ndarray]:
        q = self.user_vectors[np.asarray(user_rows, dtype=np.int64)]
        return self.items.search(q, k, exclude=exclude)

    def similar_items(self, item_rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Cosine neighbours; with a read-out, ranked by its score and scored on the
        probability scale (`probability_scale`), since Engagement Recall sums them."""
        item_rows = np.asarray(item_rows, dtype=np.int64)
        scores, rows = self.unit_items.search(self.item_queries[item_rows], k, exclude=self_exclusion(item_rows))
        if self._temperature is not None:
            scores = probability_scale(scores, self._temperature)
        return scores, rows
