"""Tiny hand-built heterogeneous graph for the model tests (fixture `graph`)."""

from __future__ import annotations

import numpy as np
import pytest

from rankgraph.graph.store import FeatureColumn, HeteroGraph, Relation, csr_from_coo, reverse_relation


def tiny_graph(seed: int = 0, n_user: int = 12, n_item: int = 9, n_tag: int = 4, edges: int = 40) -> HeteroGraph:
    """users, items and tags: user-item clicks (+ reverse), item-item semantic, tag->item side edges.

    Items carry all three feature kinds; users only a categorical; tags have no features.
    Weights are random positive floats so the normalisations differ.
    """
    rng = np.random.default_rng(seed)
    num_nodes = {"user": n_user, "item": n_item, "tag": n_tag}
    pairs = np.unique(np.stack([rng.integers(0, n_user, edges), rng.integers(0, n_item, edges)], 1), axis=0)
    w = rng.uniform(0.5, 3.0, len(pairs)).astype(np.float32)
    # user -> item clicks: CSR over items
    indptr, indices, weight = csr_from_coo(pairs[:, 0], pairs[:, 1], w, n_item)
    click = Relation("user__click__item", "user", "item", indptr, indices, weight, reverse="item__rev_click__user")
    rev = reverse_relation(click, "item__rev_click__user", n_user)
    ii = np.unique(np.stack([rng.integers(0, n_item, 15), rng.integers(0, n_item, 15)], 1), axis=0)
    ii = ii[ii[:, 0] != ii[:, 1]]
    ii = np.unique(np.concatenate([ii, ii[:, ::-1]]), axis=0)
    wi = rng.uniform(0.5, 2.0, len(ii)).astype(np.float32)
    ip, ix, iw = csr_from_coo(ii[:, 0], ii[:, 1], wi, n_item)
    sem = Relation("item__similar__item", "item", "item", ip, ix, iw, kind="semantic", reverse="item__similar__item")
    tg = np.stack([rng.integers(0, n_tag, n_item), np.arange(n_item)], 1)
    tp, tx, tw = csr_from_coo(tg[:, 0], tg[:, 1], np.ones(n_item, np.float32), n_item)
    tag = Relation("tag__has__item", "tag", "item", tp, tx, tw, kind="side", reverse="item__rev_has__tag")
    tag_rev = reverse_relation(tag, "item__rev_has__tag", n_tag)
    lengths = rng.integers(0, 4, n_item)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    features = {
        "item": {
            "cat": FeatureColumn("cat", "categorical", rng.integers(0, 5, n_item).astype(np.int64), cardinality=5),
            "tags": FeatureColumn(
                "tags", "multi_hot", rng.integers(0, 6, int(offsets[-1])).astype(np.int64), offsets=offsets, cardinality=6
            ),
            "vec": FeatureColumn("vec", "dense", rng.normal(size=(n_item, 3)).astype(np.float32)),
        },
        "user": {"age": FeatureColumn("age", "categorical", rng.integers(0, 3, n_user).astype(np.int64), cardinality=3)},
    }
    graph = HeteroGraph(
        num_nodes=num_nodes,
        relations={r.name: r for r in (click, rev, sem, tag, tag_rev)},
        features=features,
    )
    graph.validate()
    return graph


@pytest.fixture
def graph() -> HeteroGraph:
    return tiny_graph()
