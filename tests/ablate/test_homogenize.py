"""The homogeneous ablation graph: every engagement edge kept (both directions), nothing else."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from rankgraph.ablate.homogenize import NODE_TYPE, RELATION, homogenize, split_vectors, type_offsets
from rankgraph.graph.store import FeatureColumn, HeteroGraph, Relation, csr_from_coo, reverse_relation


def _rel(name, src_type, dst_type, src, dst, w, n_dst, kind="engagement", reverse=None):
    indptr, indices, weight = csr_from_coo(np.array(src), np.array(dst), np.array(w, np.float32), n_dst)
    return Relation(name, src_type, dst_type, indptr, indices, weight, kind=kind, reverse=reverse)


@pytest.fixture
def graph() -> HeteroGraph:
    n = {"user": 4, "post": 3, "video": 2}
    up = _rel("user__engaged__post", "user", "post", [0, 1, 3, 3], [0, 2, 1, 2], [1.0, 2.0, 3.0, 4.0], 3)
    uv = _rel("user__engaged__video", "user", "video", [2, 0], [1, 0], [5.0, 6.0], 2)
    rels = {r.name: r for r in (up, uv)}
    for r in (up, uv):
        rev = reverse_relation(r, f"{r.dst_type}__rev_engaged__user", n["user"])
        r.reverse = rev.name
        rels[rev.name] = rev
    rels["post__co__post"] = _rel("post__co__post", "post", "post", [0, 1], [1, 0], [0.5, 0.5], 3, "semantic", "post__co__post")
    follows = _rel("user__follows__user", "user", "user", [0], [1], [1.0], 4, "side")
    rels[follows.name] = follows
    feats = {"post": {"domain": FeatureColumn("domain", "categorical", np.array([1, 2, 1]), cardinality=3)}}
    ids = {
        "user": pa.array([10, 11, 12, 13]),
        "post": pa.array([100, 101, 102]),
        "video": pa.array([200, 201]),
    }
    g = HeteroGraph(num_nodes=n, relations=rels, features=feats, ids=ids, meta={"train_until": 5})
    g.validate()
    return g


def _pairs(rel: Relation) -> set[tuple[int, int]]:
    return set(zip(np.asarray(rel.indices).tolist(), rel.dst_index().tolist()))


def test_homogenize_keeps_every_engagement_edge_in_both_directions(graph):
    h = homogenize(graph)
    off = type_offsets(graph)
    got = _pairs(h.relations[RELATION])
    for name in ("user__engaged__post", "user__engaged__video"):
        rel = graph.relations[name]
        for s, d in _pairs(rel):
            assert (s + off[rel.src_type], d + off[rel.dst_type]) in got
            assert (d + off[rel.dst_type], s + off[rel.src_type]) in got
    assert len(got) == 2 * 6


def test_homogenize_keeps_edge_weights(graph):
    h = homogenize(graph)
    rel = h.relations[RELATION]
    off = type_offsets(graph)
    w = dict(zip(zip(np.asarray(rel.indices).tolist(), rel.dst_index().tolist()), np.asarray(rel.weight).tolist()))
    assert w[(3 + off["user"], 2 + off["post"])] == 4.0 == w[(2 + off["post"], 3 + off["user"])]


def test_homogenize_has_one_type_one_self_reverse_relation_and_no_features(graph):
    h = homogenize(graph)
    assert h.num_nodes == {NODE_TYPE: 9}
    assert list(h.relations) == [RELATION]
    assert h.relations[RELATION].reverse == RELATION
    assert h.features == {}


def test_split_vectors_maps_rows_back_to_each_original_type(graph):
    h = homogenize(graph)
    stacked = np.arange(9, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    parts = split_vectors(stacked, h)
    off = type_offsets(graph)
    for t, n in graph.num_nodes.items():
        assert parts[t].shape == (n, 3)
        np.testing.assert_array_equal(parts[t][:, 0], np.arange(n) + off[t])
