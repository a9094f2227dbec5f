"""The popularity read-out: score `similarity / temperature + beta * log q(item)`.

Training with logQ correction learns `cos(a, i) / tau ~ log p(i | a) - log q(i)`, so adding
`beta * log q(i)` back ranks by `p(i | a)` at `beta = 1`. The log-popularity rides as one more
inner-product dimension on the item side and beta as one more on the query side, so a single
index (exact, IVF or HNSW) answers user->item and item->item searches with different betas.
The betas are tuned at the end of training (`rankgraph.evaluate.readout`) and travel in the
embeddings' meta, so evaluation and `rankgraph serve` score alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rankgraph.embed.artifact import EmbeddingSet


@dataclass
class PopularityReadout:
    """Read-out terms for one stacked item catalogue: `log_q` per item row and the two betas."""

    log_q: np.ndarray  # float32 [n_items]
    temperature: float
    users: float = 1.0  # beta of user->item scores
    items: float = 0.0  # beta of item->item neighbour scores

    @classmethod
    def of(
        cls, emb: EmbeddingSet, item_types: list[str], setting: float | str = "auto", temperature: float = 0.1
    ) -> PopularityReadout | None:
        """The read-out for `emb`'s stacked `item_types`, or None (no log-popularity stored,
        or both betas 0). `setting` "auto" takes the betas tuned in training from the meta
        (artifacts without them: user->item 1, item->item 0); a number sets both betas."""
        log_q = [emb.types[t].log_popularity for t in item_types]
        if any(lq is None for lq in log_q):
            return None
        tuned: dict[str, Any] = (emb.meta or {}).get("popularity_readout") or {}
        if setting == "auto":
            users, items = float(tuned.get("users", 1.0)), float(tuned.get("items", 0.0))
        else:
            users = items = float(setting)
        if users <= 0 and items <= 0:
            return None
        return cls(np.concatenate(log_q), float(tuned.get("temperature", temperature)), users=users, items=items)


def readout_queries(queries: np.ndarray, temperature: float, beta: float) -> np.ndarray:
    """`[queries / temperature, beta]`: against `readout_targets` the inner product is
    `<query, target> / temperature + beta * log q(target)`."""
    queries = np.atleast_2d(np.asarray(queries, np.float32))
    q = np.concatenate([queries / temperature, np.full((queries.shape[0], 1), beta, np.float32)], axis=1)
    return q.astype(np.float32)


def readout_targets(targets: np.ndarray, log_q: np.ndarray) -> np.ndarray:
    """`[targets, log q]`, the index side of `readout_queries`."""
    return np.concatenate([targets, np.asarray(log_q, np.float32)[:, None]], axis=1).astype(np.float32)


def probability_scale(scores: np.ndarray, temperature: float) -> np.ndarray:
    """Read-out neighbour scores as `exp(score - 1 / temperature)`, for summing over triggers.

    A read-out score `cos / tau + beta * log q` is a logit of p(j | i). From beta ~1 on nearly
    all are negative (log q ~ -8 on Ciao), and a sum of negative scores ranks an item that
    neighbours several of a user's triggers *below* one that neighbours a single trigger, the
    reverse of what Engagement Recall means. The exponential keeps every trigger's own
    ranking and makes the sum add probabilities (up to one constant: scores are at most
    1 / tau, so values lie in (0, 1]); missing neighbours (-inf) become 0.
    """
    s = np.asarray(scores, dtype=np.float64)
    return np.where(np.isfinite(s), np.exp(s - 1.0 / temperature), 0.0).astype(np.float32)
