from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rankgraph.errors import ConfigError
from rankgraph.graph.subgraph import item_item_subgraph, topk_mask, topk_per_dst, user_user_subgraph
from tests.graph.test_build_graph import build, events
from tests.graph.test_build_semantic import basket_events


def neighbours(rel, ids, node) -> dict:
    row = ids.index(node)
    sl = slice(int(rel.indptr[row]), int(rel.indptr[row + 1]))
    return {ids[s]: float(w) for s, w in zip(np.asarray(rel.indices)[sl], np.asarray(rel.weight)[sl])}


def test_topk_mask_breaks_ties_by_smaller_source() -> None:
    group = np.array([0, 0, 0, 1])
    src = np.array([7, 6, 5, 1])
    score = np.array([0.9, 0.9, 0.2, 0.1])
    assert topk_mask(group, src, score, 1).tolist() == [False, True, False, True]
    assert topk_mask(group, src, score, 2).tolist() == [True, True, False, True]


def test_topk_per_dst_orders_sources_inside_each_destination() -> None:
    indptr, indices, weight = topk_per_dst(np.array([1, 1, 1]), np.array([4, 2, 3]), np.array([1.0, 3.0, 2.0]), 2, 3)
    assert indptr.tolist() == [0, 0, 2, 2]
    assert indices.tolist() == [2, 3] and weight.tolist() == [3.0, 2.0]


def test_item_item_subgraph_is_computed_from_engagement_when_absent(tmp_path: Path) -> None:
    g = build(tmp_path, events(basket_events()))
    rel = item_item_subgraph(g, "post", top_k=2, score="cocount")
    assert rel.name == "post__co__post" and rel.reverse == rel.name
    assert neighbours(rel, g.ids["post"].to_pylist(), 9) == {1: 3.0, 2: 2.0}


def test_item_item_subgraph_matches_the_built_semantic_relation(tmp_path: Path) -> None:
    spec = {"name": "co", "kind": "item_item", "score": "cosine", "top_k": 3, "min_support": 1}
    g = build(tmp_path / "a", events(basket_events()), {"semantic": [spec]})
    plain = build(tmp_path / "b", events(basket_events()))
    computed = item_item_subgraph(plain, "post", top_k=3, score="cosine")
    built = g.relations["post__co__post"]
    assert item_item_subgraph(g, "post") is built
    np.testing.assert_array_equal(computed.indptr, built.indptr)
    np.testing.assert_array_equal(computed.indices, built.indices)
    np.testing.assert_allclose(computed.weight, built.weight, rtol=1e-6)


def test_user_user_subgraph_links_users_over_all_item_types(tmp_path: Path) -> None:
    rows = [("a", 1, "post", "click", 1), ("b", 1, "post", "click", 2), ("b", 5, "video", "click", 3),
            ("c", 5, "video", "click", 4)]
    g = build(tmp_path, events(rows))
    rel = user_user_subgraph(g, score="cocount")
    ids = g.ids["user"].to_pylist()
    assert neighbours(rel, ids, "b") == {"a": 1.0, "c": 1.0}
    assert neighbours(rel, ids, "a") == {"b": 1.0}


def test_subgraph_rejects_a_relation_of_the_wrong_shape(tmp_path: Path) -> None:
    g = build(tmp_path, events(basket_events()))
    with pytest.raises(ConfigError, match="not post -> post"):
        item_item_subgraph(g, "post", relation="user__engaged__post")
