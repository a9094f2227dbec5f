"""The log-popularity read-out: computed from the train graph, stored, and scored exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from rankgraph.embed.artifact import EmbeddingSet
from rankgraph.embed.export import item_log_popularity
from rankgraph.errors import ArtifactError, ConfigError
from rankgraph.embed.readout import PopularityReadout, probability_scale, readout_queries, readout_targets
from rankgraph.graph.store import HeteroGraph, Relation, csr_from_coo, reverse_relation


def _graph() -> HeteroGraph:
    # users 0,1,2 engage post 0 (three users) and post 1 (one user); user 2 follows user 0
    indptr, indices, weight = csr_from_coo(np.array([0, 1, 2, 2]), np.array([0, 0, 0, 1]), np.ones(4), num_dst=2)
    eng = Relation("user__engaged__post", "user", "post", indptr, indices, weight, reverse="post__rev_engaged__user")
    fi, fx, fw = csr_from_coo(np.array([2]), np.array([0]), np.ones(1), num_dst=3)
    follows = Relation("user__follows__user", "user", "user", fi, fx, fw, kind="side", reverse="user__rev_follows__user")
    return HeteroGraph(
        num_nodes={"user": 3, "post": 2},
        relations={
            eng.name: eng,
            "post__rev_engaged__user": reverse_relation(eng, "post__rev_engaged__user", 3),
            follows.name: follows,
            "user__rev_follows__user": reverse_relation(follows, "user__rev_follows__user", 3),
        },
    )


def test_log_popularity_is_the_smoothed_share_of_engaged_users() -> None:
    lp = item_log_popularity(_graph(), "user")
    assert set(lp) == {"post"}  # user-user relations are not items
    np.testing.assert_allclose(lp["post"], np.log([4 / 6, 2 / 6]), rtol=1e-6)


def test_readout_inner_product_adds_log_popularity_to_scaled_cosine() -> None:
    rng = np.random.default_rng(0)
    users = rng.normal(size=(4, 8)).astype(np.float32)
    items = rng.normal(size=(5, 8)).astype(np.float32)
    log_q = np.log(rng.dirichlet(np.ones(5))).astype(np.float32)
    u, i = readout_queries(users, temperature=0.1, beta=0.7), readout_targets(items, log_q)
    np.testing.assert_allclose(u @ i.T, users @ items.T / 0.1 + 0.7 * log_q[None, :], rtol=1e-5, atol=1e-5)


def _emb(log_pop: np.ndarray) -> EmbeddingSet:
    vec = np.eye(2, dtype=np.float32)
    emb = EmbeddingSet.from_raw({"user": vec, "post": vec}, {"user": pa.array([1, 2]), "post": pa.array([7, 8])})
    return emb.with_log_popularity({"post": log_pop})


def test_log_popularity_survives_save_and_load(tmp_path: Path) -> None:
    _emb(np.log(np.array([0.75, 0.25], np.float32))).save(tmp_path / "e")
    back = EmbeddingSet.load(tmp_path / "e")
    np.testing.assert_allclose(back.types["post"].log_popularity, np.log([0.75, 0.25]), rtol=1e-6)
    assert back.types["user"].log_popularity is None


def test_non_finite_log_popularity_is_refused() -> None:
    with pytest.raises(ArtifactError, match="log_popularity"):
        _emb(np.array([0.0, -np.inf], np.float32))


def _timed_graph() -> HeteroGraph:
    # post 0: three old engagements (t 1, 2, 3); post 1: two new ones (t 8, 9)
    users, posts, times = np.array([0, 1, 2, 0, 1]), np.array([0, 0, 0, 1, 1]), np.array([1, 2, 3, 8, 9])
    indptr, indices, t_sorted = csr_from_coo(users, posts, times.astype(np.float64), num_dst=2)
    eng = Relation(
        "user__engaged__post", "user", "post", indptr, indices, np.ones(5, np.float32),
        reverse="post__rev_engaged__user", time=t_sorted.astype(np.int64),
    )
    return HeteroGraph(num_nodes={"user": 3, "post": 2}, relations={eng.name: eng})


def test_recent_log_popularity_counts_only_the_newest_edges() -> None:
    g = _timed_graph()
    np.testing.assert_allclose(item_log_popularity(g, "user")["post"], np.log([4 / 7, 3 / 7]), rtol=1e-6)
    # the newest quarter of the edges (times 1, 2, 3, 8, 9: from t 8 on), so post 0 keeps only its +1 smoothing
    np.testing.assert_allclose(item_log_popularity(g, "user", 0.25)["post"], np.log([1 / 4, 3 / 4]), rtol=1e-6)


def test_recent_log_popularity_needs_edge_times() -> None:
    with pytest.raises(ConfigError, match="user__engaged__post"):
        item_log_popularity(_graph(), "user", 0.5)
    with pytest.raises(ConfigError, match=r"\(0, 1\]"):
        item_log_popularity(_timed_graph(), "user", 0.0)


def test_exported_embeddings_use_the_tuned_popularity_window() -> None:
    from rankgraph.config import RankGraphConfig
    from rankgraph.embed.export import embedding_set_from_vectors

    g = _timed_graph()
    cfg = RankGraphConfig()
    vectors = {"user": np.eye(3, dtype=np.float32), "post": np.eye(3, dtype=np.float32)[:2]}
    meta = {"popularity_readout": {"users": 1.0, "items": 0.5, "recent_fraction": 0.4}}
    emb = embedding_set_from_vectors(g, vectors, cfg, meta=meta)
    np.testing.assert_allclose(emb.types["post"].log_popularity, item_log_popularity(g, "user", 0.4)["post"])
    plain = embedding_set_from_vectors(g, vectors, cfg)
    np.testing.assert_allclose(plain.types["post"].log_popularity, item_log_popularity(g, "user")["post"])


def test_probability_scale_keeps_each_ranking_and_makes_sums_add_probabilities() -> None:
    scores = np.array([[9.5, 2.0, -np.inf], [-3.0, -4.0, -9.0]], np.float32)
    p = probability_scale(scores, 0.1)
    np.testing.assert_allclose(p[:, :2], np.exp(scores[:, :2].astype(np.float64) - 10.0), rtol=1e-6)
    assert p[0, 2] == 0.0 and (p[p > 0] <= 1.0).all()
    assert (np.argsort(-p, axis=1) == np.argsort(-scores, axis=1)).all()


def test_engagement_recall_with_negative_readout_scores_favours_items_shared_by_triggers() -> None:
    """Read-out neighbour scores from beta ~1 on are negative; summed as they are, an item that
    neighbours two triggers would rank below one that neighbours a single trigger."""
    import scipy.sparse as sp

    from rankgraph.evaluate.engagement_recall import candidates_from_triggers
    from rankgraph.evaluate.protocol import EmbeddingRecommender

    # items 0, 1 are the triggers; item 2 is close to both; item 3 is closer to item 0 only
    items = np.array([[1.0, 0.0], [0.6, 0.8], [0.9, 0.436], [0.92, -0.392]], np.float32)
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    log_q = np.full(4, -12.0, np.float32)  # rare items: every read-out score is negative
    rec = EmbeddingRecommender(items, items, readout=PopularityReadout(log_q, 0.1, users=1.0, items=1.0))
    nbr_s, nbr_r = rec.similar_items(np.array([0, 1]), 2)
    table_s = np.full((4, 2), -np.inf, np.float32)
    table_r = np.full((4, 2), -1, np.int64)
    table_s[[0, 1]], table_r[[0, 1]] = nbr_s, nbr_r
    trig = sp.csr_array(np.array([[1.0, 1.0, 0.0, 0.0]]))
    exclude = (np.array([0, 2]), np.array([0, 1]))
    _, top = candidates_from_triggers(trig, table_s, table_r, 1, exclude=exclude)
    assert top[0, 0] == 2
    # raw read-out scores (cos / tau + log q < 0) would have put item 3 first
    raw = np.log(nbr_s.astype(np.float64)) + 10.0
    assert (raw[np.isfinite(raw)] < 0).all()
    table_s[[0, 1]] = raw
    _, top_raw = candidates_from_triggers(trig, table_s, table_r, 1, exclude=exclude)
    assert top_raw[0, 0] == 3
