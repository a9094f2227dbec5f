from __future__ import annotations

import json

import numpy as np
import pytest

from rankgraph.embed.artifact import EmbeddingSet
from rankgraph.errors import ArtifactError


def _set(seed: int = 0) -> EmbeddingSet:
    rng = np.random.default_rng(seed)
    return EmbeddingSet.from_raw(
        {"user": rng.normal(size=(5, 4)), "post": rng.normal(size=(3, 4)), "video": rng.normal(size=(2, 4))},
        {"user": [10, 11, 12, 13, 14], "post": ["a", "b", "c"], "video": ["x", "y"]},
        domains={"post": ["news", "news", "sport"]},
        meta={"model": "m"},
    )


def test_round_trip_keeps_vectors_ids_domains_and_clusters(tmp_path):
    emb = _set().with_clusters("post", np.array([0, 1, 0], np.int32), np.eye(2, 4, dtype=np.float32))
    emb.save(tmp_path / "emb")
    back = EmbeddingSet.load(tmp_path / "emb")
    assert set(back.types) == {"user", "post", "video"}
    np.testing.assert_array_equal(back.types["post"].vectors, emb.types["post"].vectors)
    assert back.types["post"].ids.to_pylist() == ["a", "b", "c"]
    assert back.types["post"].domain.to_pylist() == ["news", "news", "sport"]
    assert back.types["video"].domain is None
    np.testing.assert_array_equal(back.types["post"].clusters, [0, 1, 0])
    assert back.meta == {"model": "m"}


def test_from_raw_normalises_rows():
    emb = _set()
    np.testing.assert_allclose(np.linalg.norm(emb.types["user"].vectors, axis=1), 1.0, atol=1e-6)
    assert emb.types["user"].vectors.dtype == np.float32


def test_unnormalised_vectors_are_refused():
    from rankgraph.embed.artifact import NodeEmbeddings
    import pyarrow as pa

    with pytest.raises(ArtifactError, match="not L2-normalised"):
        EmbeddingSet({"user": NodeEmbeddings(np.full((2, 3), 2.0, np.float32), pa.array([1, 2]))})


def test_non_finite_vectors_are_refused():
    with pytest.raises(ArtifactError, match="row 1"):
        EmbeddingSet.from_raw({"user": np.array([[1.0, 0.0], [np.nan, 1.0]])}, {"user": [1, 2]})


def test_id_count_mismatch_is_refused():
    with pytest.raises(ArtifactError, match="2 ids for 3"):
        EmbeddingSet.from_raw({"user": np.eye(3)}, {"user": [1, 2]})


def test_load_refuses_a_changed_matrix(tmp_path):
    _set().save(tmp_path / "emb")
    path = tmp_path / "emb" / "post.npy"
    arr = np.load(path)
    arr[0] = arr[1]
    np.save(path, arr)  # same size and shape: only the checksum can tell
    with pytest.raises(ArtifactError, match="checksum"):
        EmbeddingSet.load(tmp_path / "emb")


def test_load_refuses_a_truncated_matrix(tmp_path):
    _set().save(tmp_path / "emb")
    path = tmp_path / "emb" / "user.npy"
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(ArtifactError, match="truncated"):
        EmbeddingSet.load(tmp_path / "emb", checksums=False)


def test_load_refuses_a_manifest_of_another_kind(tmp_path):
    _set().save(tmp_path / "emb")
    m = tmp_path / "emb" / "manifest.json"
    data = json.loads(m.read_text())
    data["kind"] = "graph"
    m.write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match="kind"):
        EmbeddingSet.load(tmp_path / "emb")


def test_failed_save_leaves_previous_artifact(tmp_path):
    _set(0).save(tmp_path / "emb")
    bad = _set(1)
    bad.types["user"].ids = bad.types["user"].ids  # valid set, but make writing fail midway
    bad.types["post"].domain = object()  # not an Arrow array: parquet write raises
    with pytest.raises(Exception):
        bad.save(tmp_path / "emb")
    back = EmbeddingSet.load(tmp_path / "emb")
    np.testing.assert_array_equal(back.types["user"].vectors, _set(0).types["user"].vectors)


def test_stacked_items_follow_global_row_order():
    emb = _set()
    vecs, codes, doms = emb.stacked_items()
    assert emb.item_types == ["post", "video"]
    assert emb.item_offsets() == {"post": 0, "video": 3}
    np.testing.assert_array_equal(vecs[3:], emb.types["video"].vectors)
    assert codes.tolist() == [0, 0, 0, 1, 1]
    assert doms.tolist() == ["news", "news", "sport", None, None]
