from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from rankgraph.capabilities import WITH_FAISS
from rankgraph.config.evaluate import ClusterConfig
from rankgraph.embed.artifact import EmbeddingSet, l2_normalize
from rankgraph.embed.cluster import assign, cluster_embeddings, kmeans, same_cluster_items


def _blobs(seed=0):
    rng = np.random.default_rng(seed)
    centres = l2_normalize(rng.normal(size=(4, 8)))
    x = np.repeat(centres, 50, axis=0) + 0.05 * rng.normal(size=(200, 8))
    return l2_normalize(x), np.repeat(np.arange(4), 50)


@pytest.mark.parametrize("use_faiss", [pytest.param(True, marks=pytest.mark.skipif(not WITH_FAISS, reason="faiss")), False])
def test_kmeans_recovers_planted_blobs(use_faiss):
    x, truth = _blobs()
    labels, centroids = kmeans(x, 4, seed=0, use_faiss=use_faiss)
    # each planted blob maps to exactly one cluster
    pairs = set(zip(truth.tolist(), labels.tolist()))
    assert len(pairs) == 4 and len({c for _, c in pairs}) == 4
    assert centroids.shape == (4, 8)


def test_assigning_a_centroid_returns_its_own_cluster():
    x, _ = _blobs(1)
    _, centroids = kmeans(x, 4, seed=1)
    assert assign(centroids, centroids).tolist() == [0, 1, 2, 3]


def test_kmeans_is_deterministic_for_a_seed():
    x, _ = _blobs(2)
    assert np.array_equal(kmeans(x, 4, seed=3)[0], kmeans(x, 4, seed=3)[0])


def test_cluster_embeddings_attaches_and_saves_clusters(tmp_path):
    x, _ = _blobs(3)
    emb = EmbeddingSet.from_raw({"user": x[:10], "post": x}, {"user": list(range(10)), "post": list(range(200))})
    emb = cluster_embeddings(emb, ClusterConfig(clusters={"post": 4}))
    emb.save(tmp_path / "e")
    back = EmbeddingSet.load(tmp_path / "e")
    assert back.types["post"].clusters.shape == (200,)
    assert back.types["user"].clusters is None


def test_same_cluster_items_ranks_the_heaviest_cluster_first_and_skips_recent():
    clusters = np.array([0, 0, 0, 1, 1, 2])
    recent = sp.csr_array(np.array([[1.0, 0, 0, 2.0, 0, 0]]))  # cluster 0 weight 1, cluster 1 weight 2
    scores, items = same_cluster_items(clusters, recent, 4, item_scores=np.array([0, 0, 5, 0, 0, 0]))
    assert items.tolist() == [[4, 2, 1, -1]]  # cluster 1 first; in cluster 0 the higher item score first
    assert scores[0, :3].tolist() == [2.0, 1.0, 1.0]
