from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from rankgraph.errors import ArtifactError
from rankgraph.graph.store import FeatureColumn, HeteroGraph, Relation, csr_from_coo, reverse_relation


def _tiny_graph() -> HeteroGraph:
    src = np.array([0, 1, 1, 2])
    dst = np.array([1, 0, 1, 1])
    w = np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32)
    indptr, indices, weight = csr_from_coo(src, dst, w, num_dst=2)
    rel = Relation("user__engaged__post", "user", "post", indptr, indices, weight, reverse="post__rev_engaged__user")
    rev = reverse_relation(rel, "post__rev_engaged__user", num_src=3)
    return HeteroGraph(
        num_nodes={"user": 3, "post": 2},
        relations={rel.name: rel, rev.name: rev},
        features={"post": {"topic": FeatureColumn("topic", "categorical", np.array([0, 2]), cardinality=3)}},
        ids={"user": pa.array(["a", "b", "c"]), "post": pa.array([10, 20])},
    )


def test_csr_groups_edges_by_destination() -> None:
    g = _tiny_graph()
    rel = g.relations["user__engaged__post"]
    assert rel.indptr.tolist() == [0, 1, 4]
    assert rel.indices.tolist() == [1, 0, 1, 2]
    assert rel.weight.tolist() == [2.0, 1.0, 3.0, 4.0]


def test_reverse_mirrors_forward_edges() -> None:
    g = _tiny_graph()
    fwd, rev = g.relations["user__engaged__post"], g.relations["post__rev_engaged__user"]
    forward = sorted(zip(fwd.indices.tolist(), fwd.dst_index().tolist(), fwd.weight.tolist()))
    backward = sorted(zip(rev.dst_index().tolist(), rev.indices.tolist(), rev.weight.tolist()))
    assert forward == backward


def test_save_and_load_round_trip_memory_mapped(tmp_path: Path) -> None:
    g = _tiny_graph()
    g.save(tmp_path / "g")
    h = HeteroGraph.load(tmp_path / "g", checksums=True)
    assert isinstance(h.relations["user__engaged__post"].indices, np.memmap)
    assert h.num_nodes == g.num_nodes
    assert h.ids["user"].to_pylist() == ["a", "b", "c"]
    np.testing.assert_array_equal(h.features["post"]["topic"].values, [0, 2])


def test_truncated_npy_is_refused_naming_the_file(tmp_path: Path) -> None:
    _tiny_graph().save(tmp_path / "g")
    target = tmp_path / "g" / "relations" / "user__engaged__post" / "weight.npy"
    data = target.read_bytes()
    target.write_bytes(data[:-4])
    with pytest.raises(ArtifactError, match="weight.npy"):
        HeteroGraph.load(tmp_path / "g")


def test_edited_manifest_is_refused(tmp_path: Path) -> None:
    _tiny_graph().save(tmp_path / "g")
    path = tmp_path / "g" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["nodes"]["post"]["count"] = 5
    path.write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="post|indptr"):
        HeteroGraph.load(tmp_path / "g")


def test_failed_save_leaves_nothing_behind(tmp_path: Path) -> None:
    g = _tiny_graph()
    g.num_nodes["post"] = 7  # inconsistent with the CSR: validation must refuse it
    with pytest.raises(ArtifactError):
        g.save(tmp_path / "g")
    assert list(tmp_path.iterdir()) == []
