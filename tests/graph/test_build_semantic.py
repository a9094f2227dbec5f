from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from rankgraph.graph.store import HeteroGraph
from tests.graph.test_build_graph import DAY, build, edges, events

ENGINES = ["sql", "sparse"]

# Item 9 shares users with 1 (3 users), 2 (2), 3 (2) and 4 (1): degrees 9:4, 1:3, 2:2, 3:2, 4:1.
BASKETS = {"u1": [9, 1, 2], "u2": [9, 1, 3], "u3": [9, 1, 2, 3], "u4": [9, 4]}


def basket_events(baskets: dict[str, list[int]] = BASKETS, item_type: str = "post") -> list[tuple]:
    rows, ts = [], 0
    for u, items in baskets.items():
        for i in items:
            ts += 1
            rows.append((u, i, item_type, "click", ts))
    return rows


def semantic(tmp_path: Path, engine: str, rows: list[tuple] | None = None, **rel: object) -> HeteroGraph:
    spec = {"name": "co", "kind": "item_item", "score": "cocount", "top_k": 2, "min_support": 1, **rel}
    return build(tmp_path, events(rows or basket_events()), {"semantic": [spec], "semantic_engine": engine})


def in_neighbours(g: HeteroGraph, name: str, node: object) -> dict[object, float]:
    return {s: w for (s, d), w in edges(g, name).items() if d == node}


@pytest.mark.parametrize("engine", ENGINES)
def test_top_k_keeps_exactly_the_k_best_with_smaller_id_on_ties(tmp_path: Path, engine: str) -> None:
    g = semantic(tmp_path, engine)
    # 9's candidates: 1 (3), 2 (2), 3 (2), 4 (1); k=2 keeps 1 and, of the tie 2/3, the smaller row 2
    assert in_neighbours(g, "post__co__post", 9) == {1: 3.0, 2: 2.0}
    assert all(len(in_neighbours(g, "post__co__post", i)) <= 2 for i in [1, 2, 3, 4, 9])


@pytest.mark.parametrize("engine", ENGINES)
def test_min_support_drops_pairs_with_fewer_shared_users(tmp_path: Path, engine: str) -> None:
    g = semantic(tmp_path, engine, min_support=2, top_k=10)
    assert in_neighbours(g, "post__co__post", 4) == {}
    assert in_neighbours(g, "post__co__post", 9) == {1: 3.0, 2: 2.0, 3: 2.0}


@pytest.mark.parametrize("engine", ENGINES)
def test_cosine_divides_support_by_the_degree_geometric_mean(tmp_path: Path, engine: str) -> None:
    g = semantic(tmp_path, engine, score="cosine", top_k=10)
    got = in_neighbours(g, "post__co__post", 9)
    assert got[1] == pytest.approx(3 / math.sqrt(4 * 3))
    assert got[4] == pytest.approx(1 / math.sqrt(4 * 1))


@pytest.mark.parametrize("engine", ENGINES)
def test_swing_down_weights_heavy_users(tmp_path: Path, engine: str) -> None:
    g = semantic(tmp_path, engine, score="swing", top_k=10)
    got = in_neighbours(g, "post__co__post", 9)
    # 9-2 via u1 (3 items) and u3 (4 items); 9-4 via u4 (2 items)
    assert got[2] == pytest.approx(1 / math.log(4) + 1 / math.log(5), rel=1e-6)
    assert got[4] == pytest.approx(1 / math.log(3), rel=1e-6)


@pytest.mark.parametrize("engine", ENGINES)
def test_user_degree_cap_keeps_the_most_recent_items(tmp_path: Path, engine: str) -> None:
    # capped to 2 items, u1 keeps 1, 2; u2 keeps 1, 3; u3 keeps 2, 3; u4 keeps 9, 4
    g = semantic(tmp_path, engine, max_user_degree=2, top_k=10)
    assert in_neighbours(g, "post__co__post", 2) == {1: 1.0, 3: 1.0}
    assert in_neighbours(g, "post__co__post", 9) == {4: 1.0}


@pytest.mark.parametrize("engine", ENGINES)
def test_semantic_relation_is_its_own_reverse(tmp_path: Path, engine: str) -> None:
    g = semantic(tmp_path, engine, top_k=10)
    rel = g.relations["post__co__post"]
    assert rel.kind == "semantic" and rel.reverse == "post__co__post"
    e = edges(g, "post__co__post")
    assert all(e[(d, s)] == w for (s, d), w in e.items())  # unpruned scores are symmetric


@pytest.mark.parametrize("engine", ENGINES)
def test_user_user_relation_links_users_sharing_items(tmp_path: Path, engine: str) -> None:
    spec = {"name": "co", "kind": "user_user", "score": "cocount", "top_k": 10, "min_support": 2}
    g = build(tmp_path, events(basket_events()), {"semantic": [spec], "semantic_engine": engine})
    assert in_neighbours(g, "user__co__user", "u3") == {"u1": 3.0, "u2": 3.0}
    assert in_neighbours(g, "user__co__user", "u4") == {}


@pytest.mark.parametrize("engine", ENGINES)
def test_several_item_types_give_cross_type_relations(tmp_path: Path, engine: str) -> None:
    rows = [("u1", 1, "post", "click", 1), ("u1", 5, "video", "click", 2), ("u2", 1, "post", "click", 3),
            ("u2", 5, "video", "click", 4), ("u2", 2, "post", "click", 5)]
    spec = {"name": "co", "kind": "item_item", "score": "cocount", "top_k": 5, "min_support": 1,
            "item_types": ["post", "video"]}
    g = build(tmp_path, events(rows), {"semantic": [spec], "semantic_engine": engine})
    assert {"post__co__post", "post__co__video", "video__co__post", "video__co__video"} <= set(g.relations)
    assert in_neighbours(g, "post__co__video", 5) == {1: 2.0, 2: 1.0}
    assert g.relations["post__co__video"].reverse == "video__co__post"
    assert in_neighbours(g, "post__co__post", 1) == {2: 1.0}


def test_window_days_only_pairs_engagements_close_in_time(tmp_path: Path) -> None:
    rows = [("u1", 1, "post", "click", 0), ("u1", 2, "post", "click", DAY // 2), ("u1", 3, "post", "click", 5 * DAY)]
    g = semantic(tmp_path, "auto", rows, window_days=1.0, top_k=10)
    assert edges(g, "post__co__post") == {(1, 2): 1.0, (2, 1): 1.0}


def test_sql_and_sparse_engines_give_the_same_graph(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = [(f"u{u}", int(i), "post", "click", int(t))
            for t, (u, i) in enumerate(zip(rng.integers(0, 60, 1500), rng.zipf(1.6, 1500) % 80))]
    out = {}
    for engine in ENGINES:
        for score in ("cosine", "swing"):
            out[engine, score] = semantic(tmp_path / engine / score, engine, rows, score=score, top_k=5)
    for score in ("cosine", "swing"):
        a, b = out["sql", score].relations["post__co__post"], out["sparse", score].relations["post__co__post"]
        assert a.num_edges > 100
        np.testing.assert_array_equal(a.indptr, b.indptr)
        np.testing.assert_array_equal(a.indices, b.indices)
        np.testing.assert_allclose(a.weight, b.weight, rtol=1e-6)
