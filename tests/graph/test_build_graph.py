from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rankgraph.config import config_from_dict
from rankgraph.errors import InputError
from rankgraph.graph.build import build_graph
from rankgraph.graph.store import HeteroGraph

DAY = 86400


def events(rows: list[tuple[Any, ...]]) -> pa.Table:
    """Canonical events from (user, item, item_type, event, ts[, domain]) tuples."""
    cols = list(zip(*rows))
    domain = cols[5] if len(cols) > 5 else [f"{t}_dom" for t in cols[2]]
    return pa.table({
        "user_id": pa.array(cols[0], pa.string()),
        "item_id": pa.array(cols[1], pa.int64()),
        "item_type": pa.array(cols[2], pa.string()),
        "domain": pa.array(domain, pa.string()),
        "event": pa.array(cols[3], pa.string()),
        "ts": pa.array(cols[4], pa.int64()),
        "value": pa.array([1.0] * len(rows), pa.float64()),
    })  # fmt: skip


def build(tmp_path: Path, ev: pa.Table, graph: dict[str, Any] | None = None, data: dict[str, Any] | None = None,
          train_until: int | None = None) -> HeteroGraph:
    cfg = config_from_dict({"graph": graph or {}, "data": data or {}})
    con = duckdb.connect()
    con.register("events", ev)
    return build_graph(cfg, tmp_path / "graph", train_until=train_until, con=con)


def edges(g: HeteroGraph, name: str) -> dict[tuple[Any, Any], float]:
    """{(raw src id, raw dst id): weight} of one relation."""
    rel = g.relations[name]
    src_ids, dst_ids = g.ids[rel.src_type].to_pylist(), g.ids[rel.dst_type].to_pylist()
    return {
        (src_ids[s], dst_ids[d]): float(w)
        for s, d, w in zip(np.asarray(rel.indices), rel.dst_index(), np.asarray(rel.weight))
    }


ENG = {"engagement": [{"name": "eng", "events": {"click": 1.0, "like": 2.0}}]}


def test_engagement_weight_is_coefficient_weighted_log1p_of_counts(tmp_path: Path) -> None:
    ev = events([("a", 1, "post", "click", 1), ("a", 1, "post", "click", 2), ("a", 1, "post", "click", 3),
                 ("a", 1, "post", "like", 4), ("b", 1, "post", "click", 5), ("b", 2, "post", "share", 6)])
    g = build(tmp_path, ev, ENG)
    got = edges(g, "user__eng__post")
    assert got == pytest.approx({("a", 1): math.log(4) + 2 * math.log(2), ("b", 1): math.log(2)})


def test_engagement_edges_carry_their_first_event_time_through_save_and_load(tmp_path: Path) -> None:
    ev = events([("b", 2, "post", "click", 50), ("a", 1, "post", "like", 40), ("a", 1, "post", "click", 30),
                 ("b", 1, "post", "click", 20), ("a", 2, "post", "click", 10), ("b", 2, "post", "like", 60)])
    g = build(tmp_path, ev, ENG)
    for graph in (g, HeteroGraph.load(tmp_path / "graph")):
        rel = graph.relations["user__eng__post"]
        src_ids, dst_ids = graph.ids["user"].to_pylist(), graph.ids["post"].to_pylist()
        got = {(src_ids[s], dst_ids[d]): int(t) for s, d, t in zip(np.asarray(rel.indices), rel.dst_index(), rel.time)}
        assert got == {("a", 1): 30, ("b", 1): 20, ("a", 2): 10, ("b", 2): 50}
        assert graph.relations["post__rev_eng__user"].time is None  # reverses are never positive sources


def test_events_not_listed_in_the_relation_are_ignored(tmp_path: Path) -> None:
    ev = events([("a", 1, "post", "click", 1), ("b", 2, "post", "share", 2)])
    g = build(tmp_path, ev, ENG)
    assert ("b", 2) not in edges(g, "user__eng__post")
    assert g.ids["post"].to_pylist() == [1, 2]  # the item is still a node


def test_time_decay_halves_each_count_per_half_life(tmp_path: Path) -> None:
    cut = 100 * DAY
    ev = events([("a", 1, "post", "click", cut - 1 * DAY), ("a", 1, "post", "click", cut - 2 * DAY),
                 ("a", 1, "post", "like", cut - 2 * DAY)])
    graph = {"engagement": [{"name": "eng", "events": {"click": 1.0, "like": 2.0}, "transform": "linear",
                             "half_life_days": 1.0}]}
    g = build(tmp_path, ev, graph, train_until=cut)
    assert edges(g, "user__eng__post")[("a", 1)] == pytest.approx((0.5 + 0.25) + 2 * 0.25)


def test_decay_reference_without_cut_is_the_latest_event(tmp_path: Path) -> None:
    ev = events([("a", 1, "post", "click", 0), ("b", 2, "post", "click", 2 * DAY)])
    graph = {"engagement": [{"name": "eng", "transform": "linear", "half_life_days": 1.0}]}
    g = build(tmp_path, ev, graph)
    assert edges(g, "user__eng__post") == pytest.approx({("a", 1): 0.25, ("b", 2): 1.0})


def test_binary_transform_ignores_counts(tmp_path: Path) -> None:
    ev = events([("a", 1, "post", "click", 1), ("a", 1, "post", "click", 2), ("a", 1, "post", "like", 3)])
    graph = {"engagement": [{"name": "eng", "events": {"click": 1.0, "like": 2.0}, "transform": "binary"}]}
    assert edges(build(tmp_path, ev, graph), "user__eng__post") == pytest.approx({("a", 1): 3.0})


def test_one_relation_per_item_type_with_its_reverse(tmp_path: Path) -> None:
    ev = events([("a", 1, "post", "click", 1), ("b", 7, "video", "click", 2)])
    g = build(tmp_path, ev, ENG)
    assert set(g.relations) == {"user__eng__post", "post__rev_eng__user", "user__eng__video", "video__rev_eng__user"}
    assert g.relations["user__eng__video"].reverse == "video__rev_eng__user"


def test_reverse_relation_mirrors_forward_edges(tmp_path: Path) -> None:
    ev = events([("a", 1, "post", "click", 1), ("a", 2, "post", "like", 2), ("b", 1, "post", "click", 3),
                 ("c", 2, "post", "click", 4), ("c", 2, "post", "click", 5)])
    g = build(tmp_path, ev, ENG)
    fwd, rev = edges(g, "user__eng__post"), edges(g, "post__rev_eng__user")
    assert {(d, s): w for (s, d), w in fwd.items()} == rev


def test_id_maps_are_sorted_by_raw_id(tmp_path: Path) -> None:
    ev = events([("zed", 30, "post", "click", 1), ("amy", 10, "post", "click", 2), ("kim", 20, "post", "click", 3)])
    g = build(tmp_path, ev, ENG)
    assert g.ids["user"].to_pylist() == ["amy", "kim", "zed"]
    assert g.ids["post"].to_pylist() == [10, 20, 30]


def test_train_until_excludes_events_at_or_after_the_cut(tmp_path: Path) -> None:
    ev = events([("a", 1, "post", "click", 10), ("a", 2, "post", "click", 20), ("b", 3, "post", "click", 25)])
    g = build(tmp_path, ev, ENG, train_until=20)
    assert edges(g, "user__eng__post") == pytest.approx({("a", 1): math.log(2)})
    assert g.ids["user"].to_pylist() == ["a"]  # b only acts after the cut
    manifest = json.loads((tmp_path / "graph" / "manifest.json").read_text())
    assert manifest["train_until"] == 20 and manifest["counts"]["events_used"] == 1


def test_train_until_from_config_applies(tmp_path: Path) -> None:
    ev = events([("a", 1, "post", "click", 10), ("a", 2, "post", "click", 20)])
    g = build(tmp_path, ev, {**ENG, "train_until": "15"})
    assert list(edges(g, "user__eng__post")) == [("a", 1)]
    assert g.meta["train_until"] == 15


def test_no_event_before_the_cut_is_an_input_error(tmp_path: Path) -> None:
    ev = events([("a", 1, "post", "click", 10)])
    with pytest.raises(InputError, match="no events before"):
        build(tmp_path, ev, ENG, train_until=5)


def test_default_config_builds_one_engagement_relation(tmp_path: Path) -> None:
    ev = events([("a", 1, "post", "click", 1), ("a", 1, "post", "like", 2)])
    g = build(tmp_path, ev)
    assert edges(g, "user__engaged__post") == pytest.approx({("a", 1): 2 * math.log(2)})


def test_domain_feature_takes_the_most_frequent_domain(tmp_path: Path) -> None:
    ev = events([("a", 1, "post", "click", 1, "feed"), ("b", 1, "post", "click", 2, "groups"),
                 ("c", 1, "post", "click", 3, "groups"), ("a", 2, "post", "click", 4, "feed")])
    g = build(tmp_path, ev, ENG)
    vocab = g.meta["domains"]["post"]
    assert vocab == [None, "feed", "groups"]
    codes = np.asarray(g.features["post"]["domain"].values)
    assert [vocab[c] for c in codes] == ["groups", "feed"]


def test_artifact_round_trips_with_manifest_record(tmp_path: Path) -> None:
    ev = events([("a", 1, "post", "click", 1), ("b", 2, "video", "like", 2)])
    g = build(tmp_path, ev, ENG)
    loaded = HeteroGraph.load(tmp_path / "graph", checksums=True)
    assert loaded.num_nodes == g.num_nodes
    assert edges(loaded, "user__eng__video") == edges(g, "user__eng__video")
    manifest = json.loads((tmp_path / "graph" / "manifest.json").read_text())
    assert manifest["config"]["graph"]["engagement"][0]["name"] == "eng"
    assert manifest["engine"]["name"] == "duckdb" and manifest["engine"]["version"] == duckdb.__version__
    assert manifest["counts"]["edges"]["user__eng__post"] == 1
    assert any("rg_user_map" in s for s in manifest["sql"])
    assert manifest["build_seconds"] >= 0


# --------------------------------------------------------------------------- side edges and features


def test_side_edges_drop_unknown_event_type_endpoints_and_create_new_types(tmp_path: Path) -> None:
    ev = events([("a", 1, "ad", "click", 1), ("b", 2, "ad", "click", 2)])
    pq.write_table(pa.table({"src": ["a", "b", "ghost"], "dst": ["b", "a", "a"]}), tmp_path / "follows.parquet")
    pq.write_table(pa.table({"src": [1, 2, 2, 99], "dst": ["acme", "zeta", "zeta", "acme"]}), tmp_path / "owns.parquet")
    data = {"side_edges": [
        {"name": "follows", "path": str(tmp_path / "follows.parquet"), "src_type": "user", "dst_type": "user"},
        {"name": "owns", "path": str(tmp_path / "owns.parquet"), "src_type": "ad", "dst_type": "advertiser"},
    ]}  # fmt: skip
    g = build(tmp_path, ev, ENG, data)
    assert edges(g, "user__follows__user") == {("a", "b"): 1.0, ("b", "a"): 1.0}
    assert g.meta["side_edges"]["follows"]["dropped"] == 1
    assert g.ids["advertiser"].to_pylist() == ["acme", "zeta"]
    assert edges(g, "ad__owns__advertiser") == {(1, "acme"): 1.0, (2, "zeta"): 2.0}  # duplicates summed
    assert g.meta["side_edges"]["owns"]["dropped"] == 1  # ad 99 has no event
    assert edges(g, "advertiser__rev_owns__ad") == {("acme", 1): 1.0, ("zeta", 2): 2.0}


def test_side_edges_are_skipped_when_disabled(tmp_path: Path) -> None:
    ev = events([("a", 1, "post", "click", 1), ("b", 2, "post", "click", 2)])
    pq.write_table(pa.table({"src": ["a"], "dst": ["b"]}), tmp_path / "follows.parquet")
    data = {"side_edges": [{"name": "follows", "path": str(tmp_path / "follows.parquet"), "src_type": "user",
                            "dst_type": "user"}]}
    g = build(tmp_path, ev, {**ENG, "use_side_edges": False}, data)
    assert "user__follows__user" not in g.relations


def test_node_table_features_are_encoded_with_missing_rows(tmp_path: Path) -> None:
    ev = events([("a", 1, "post", "click", 1), ("b", 2, "post", "click", 2), ("c", 3, "post", "click", 3)])
    pq.write_table(pa.table({
        "id": [3, 1, 50],
        "topic": ["sport", "news", "news"],
        "tags": [["x", "y"], ["y"], ["z"]],
        "emb": pa.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], pa.list_(pa.float32())),
    }), tmp_path / "post.parquet")  # fmt: skip
    data = {"node_tables": [{"node_type": "post", "path": str(tmp_path / "post.parquet"), "features": [
        {"name": "topic", "kind": "categorical"}, {"name": "tags", "kind": "multi_hot"},
        {"name": "emb", "kind": "dense"}]}]}  # fmt: skip
    g = build(tmp_path, ev, ENG, data)
    assert g.ids["post"].to_pylist() == [1, 2, 3, 50]  # a node table adds its nodes
    f = g.features["post"]
    assert g.meta["vocab"]["post"]["topic"] == [None, "news", "sport"]
    assert np.asarray(f["topic"].values).tolist() == [1, 0, 2, 1]  # post 2 has no row: code 0
    assert f["topic"].cardinality == 3
    tags_vocab = g.meta["vocab"]["post"]["tags"]
    off, val = np.asarray(f["tags"].offsets), np.asarray(f["tags"].values)
    per_node = [[tags_vocab[v] for v in val[off[i]:off[i + 1]]] for i in range(4)]
    assert per_node == [["y"], [], ["x", "y"], ["z"]]
    assert np.asarray(f["emb"].values).tolist() == [[3.0, 4.0], [0.0, 0.0], [1.0, 2.0], [5.0, 6.0]]
