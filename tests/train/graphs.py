"""Hand-made planted-community graphs for the training tests (small, deterministic)."""

from __future__ import annotations

import numpy as np

from rankgraph.graph.store import HeteroGraph, Relation, csr_from_coo, reverse_relation

# config overrides that make a model and a training step tiny
SMALL_TRAINING = [
    "train.batch_size=128",
    "train.negatives.pool_size=64",
    "train.negatives.pool_samples=32",
    "model.dim=16",
    "model.feature_dim=8",
    "train.val_fraction=0.1",
    "train.lr=0.01",
]


def planted_graph(
    n_users: int = 60, n_items: int = 48, communities: int = 3, per_user: int = 8, noise: float = 0.1, seed: int = 0
) -> tuple[HeteroGraph, np.ndarray, np.ndarray]:
    """Users click items mostly inside their community; returns (graph, user_comm, item_comm)."""
    rng = np.random.default_rng(seed)
    user_comm = np.arange(n_users) % communities
    item_comm = np.arange(n_items) % communities
    users = np.repeat(np.arange(n_users), per_user)
    same = rng.random(users.size) > noise
    by_comm = [np.nonzero(item_comm == c)[0] for c in range(communities)]
    items = np.where(
        same,
        np.array([rng.choice(by_comm[c]) for c in user_comm[users]]),
        rng.integers(0, n_items, users.size),
    )
    key = np.unique(users * n_items + items)
    u, i = key // n_items, key % n_items
    w = rng.uniform(0.5, 2.0, key.size).astype(np.float32)
    indptr, indices, weight = csr_from_coo(u, i, w, n_items)
    click = Relation("user__click__item", "user", "item", indptr, indices, weight, "engagement", "item__rev_click__user")
    rev = reverse_relation(click, "item__rev_click__user", n_users)
    graph = HeteroGraph(num_nodes={"user": n_users, "item": n_items}, relations={click.name: click, rev.name: rev})
    graph.validate()
    return graph, user_comm, item_comm
