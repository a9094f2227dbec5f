"""The popularity read-out: exact scores in both directions, held-out data, and beta tuning."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from rankgraph.config.evaluate import EvaluateConfig, IndexConfig
from rankgraph.embed.readout import PopularityReadout
from rankgraph.evaluate.evaluator import target_pairs
from rankgraph.evaluate.protocol import EmbeddingRecommender
from rankgraph.evaluate.readout import heldout_eval_data, tune_readout
from rankgraph.graph.store import (
    FeatureColumn,
    HeteroGraph,
    Relation,
    csr_from_coo,
    reverse_relation,
)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_recommender_scores_are_scaled_cosine_plus_beta_log_q() -> None:
    rng = np.random.default_rng(0)
    users, items = _unit(rng.normal(size=(6, 8))), _unit(rng.normal(size=(30, 8)))
    log_q = np.log(rng.dirichlet(np.ones(30))).astype(np.float32)
    ro = PopularityReadout(log_q, temperature=0.2, users=0.7, items=1.3)
    rec = EmbeddingRecommender(users, items, IndexConfig(kind="exact"), readout=ro)

    scores, top = rec.score_users(np.arange(6), 5)
    expect = users @ items.T / 0.2 + 0.7 * log_q[None, :]
    np.testing.assert_array_equal(top, np.argsort(-expect, axis=1)[:, :5])
    np.testing.assert_allclose(scores, np.take_along_axis(expect, top, 1), rtol=1e-4)

    _, nbr = rec.similar_items(np.arange(30), 4)
    sim = items @ items.T / 0.2 + 1.3 * log_q[None, :]
    np.fill_diagonal(sim, -np.inf)  # an item is never its own neighbour
    np.testing.assert_array_equal(nbr, np.argsort(-sim, axis=1)[:, :4])


def test_zero_betas_are_plain_cosine() -> None:
    rng = np.random.default_rng(1)
    users, items = _unit(rng.normal(size=(4, 8))), _unit(rng.normal(size=(20, 8)))
    ro = PopularityReadout(np.log(rng.dirichlet(np.ones(20))).astype(np.float32), 0.1, users=0.0, items=0.0)
    a = EmbeddingRecommender(users, items, readout=ro)
    b = EmbeddingRecommender(users, items)
    np.testing.assert_array_equal(a.score_users(np.arange(4), 5)[1], b.score_users(np.arange(4), 5)[1])
    np.testing.assert_array_equal(a.similar_items(np.arange(20), 5)[1], b.similar_items(np.arange(20), 5)[1])


def _engagement_graph(users: np.ndarray, posts: np.ndarray, n_users: int, n_posts: int) -> HeteroGraph:
    indptr, indices, weight = csr_from_coo(users, posts, np.ones(users.size), num_dst=n_posts)
    eng = Relation("user__engaged__post", "user", "post", indptr, indices, weight, reverse="post__rev_engaged__user")
    return HeteroGraph(
        num_nodes={"user": n_users, "post": n_posts},
        relations={eng.name: eng, "post__rev_engaged__user": reverse_relation(eng, "post__rev_engaged__user", n_users)},
    )


def test_heldout_eval_data_trains_on_the_graph_and_tests_on_held_out_edges() -> None:
    g = _engagement_graph(np.array([0, 1, 1, 2]), np.array([0, 0, 1, 2]), 3, 4)
    data = heldout_eval_data(g, [("user__engaged__post", np.array([0, 2]), np.array([3, 1]))], "user")
    assert data is not None and data.item_types == ["post"] and data.n_users == 3 and data.n_items == 4
    assert sorted(zip(data.train.user.tolist(), data.train.item.tolist())) == [(0, 0), (1, 0), (1, 1), (2, 2)]
    assert sorted(zip(data.test.user.tolist(), data.test.item.tolist())) == [(0, 3), (2, 1)]
    assert (data.train.ts < data.cut).all() and (data.test.ts >= data.cut).all()
    # held-out edges of relations that are not user->item engagement are ignored
    assert heldout_eval_data(g, [("post__rev_engaged__user", np.array([0]), np.array([1]))], "user") is None


def _with_post_domains(g: HeteroGraph, codes: list[int], vocab: list[str | None]) -> HeteroGraph:
    column = FeatureColumn("domain", "categorical", np.asarray(codes, np.int64), cardinality=len(vocab))
    g.features["post"] = {"domain": column}
    g.meta["domains"] = {"post": vocab}
    return g


def test_heldout_eval_data_carries_item_domains_so_the_cross_domain_slice_exists() -> None:
    g = _engagement_graph(np.array([0, 1, 1, 2]), np.array([0, 0, 1, 2]), 3, 4)
    g = _with_post_domains(g, [1, 1, 2, 2], [None, "books", "games"])  # posts 0-1 books, 2-3 games
    data = heldout_eval_data(g, [("user__engaged__post", np.array([0, 2]), np.array([3, 3]))], "user")
    assert data.domains == ["books", "games"]
    assert sorted(data.train.domain.tolist()) == [0, 0, 0, 1]
    pairs = target_pairs(data)
    # user 0 only read books, so a game is a new domain for them; user 2 already played games
    assert dict(zip(pairs["user"].tolist(), pairs["cross_domain"].tolist())) == {0: True, 2: False}
    # a graph without the domain feature has one unnamed domain and no cross-domain pairs
    g = _engagement_graph(np.array([0]), np.array([0]), 1, 2)
    plain = heldout_eval_data(g, [("user__engaged__post", np.array([0]), np.array([1]))], "user")
    assert plain.domains == [""] and not target_pairs(plain)["cross_domain"].any()


def test_cross_domain_weight_moves_the_user_beta_toward_new_domain_items() -> None:
    # 100 posts: 0-49 in domain a, 50-99 in b; everyone engaged only with a. 150 users are
    # placed on their held-out a-post by the embeddings; 50 go to one of ten popular b-posts
    # next, which only popularity (beta > 0) can find
    rng = np.random.default_rng(4)
    n_users, n_posts, n_near = 200, 100, 150
    train_i = rng.integers(0, 50, n_users)
    g = _engagement_graph(np.arange(n_users), train_i, n_users, n_posts)
    g = _with_post_domains(g, [1] * 50 + [2] * 50, [None, "a", "b"])
    test_i = np.where(np.arange(n_users) < n_near, (train_i + 1) % 50, 50 + rng.integers(0, 10, n_users))
    data = heldout_eval_data(g, [("user__engaged__post", np.arange(n_users), test_i)], "user")
    items = _unit(rng.normal(size=(n_posts, 16)))
    near = (np.arange(n_users) < n_near)[:, None]
    users = _unit(np.where(near, items[test_i], items[train_i]) + 0.01 * rng.normal(size=(n_users, 16)))
    log_q = np.full(n_posts, -10.0, np.float32)
    log_q[50:60] = 0.0
    cfg = EvaluateConfig(ks=[10], triggers=3, neighbours=10)
    plain = tune_readout(users, items, log_q, data, cfg, temperature=0.1, grid=[0.0, 3.0])
    cfg_xd = replace(cfg, tune_cross_domain_weight=1.0)
    weighted = tune_readout(users, items, log_q, data, cfg_xd, temperature=0.1, grid=[0.0, 3.0])
    by_beta = {t["beta"]: t for t in plain.trials}
    assert by_beta[0.0]["user_item.recall@10"] > by_beta[3.0]["user_item.recall@10"]
    assert by_beta[3.0]["user_item.cross_domain.recall@10"] > by_beta[0.0]["user_item.cross_domain.recall@10"]
    assert plain.users == 0.0 and weighted.users == 3.0
    assert weighted.metric == "recall@10 + 1 x cross_domain" and plain.metric == "recall@10"


def test_tuning_picks_a_positive_beta_when_popularity_explains_the_held_out_edges() -> None:
    rng = np.random.default_rng(2)
    n_users, n_posts = 200, 100
    pop = np.exp(-np.arange(n_posts) / 8.0)
    pop /= pop.sum()
    train_u = np.repeat(np.arange(n_users), 3)
    train_i = rng.choice(n_posts, size=train_u.size, p=pop)
    g = _engagement_graph(train_u, train_i, n_users, n_posts)
    test_u = np.arange(n_users)
    test_i = rng.choice(n_posts, size=n_users, p=pop)
    data = heldout_eval_data(g, [("user__engaged__post", test_u, test_i)], "user")
    log_q = np.log((np.bincount(train_i, minlength=n_posts) + 1.0) / (train_i.size + n_posts)).astype(np.float32)
    # embeddings that know nothing: only popularity can find the held-out items
    users, items = _unit(rng.normal(size=(n_users, 16))), _unit(rng.normal(size=(n_posts, 16)))
    cfg = EvaluateConfig(ks=[10], triggers=3, neighbours=10)
    choice = tune_readout(users, items, log_q, data, cfg, temperature=0.1, grid=[0.0, 1.0, 3.0])
    assert choice.users > 0 and choice.items > 0
    assert [t["beta"] for t in choice.trials] == [0.0, 1.0, 3.0]

    # embeddings that place each user on its held-out item: popularity only gets in the way
    users = items[test_i] + 0.01 * rng.normal(size=(n_users, 16)).astype(np.float32)
    choice = tune_readout(_unit(users), items, log_q, data, cfg, temperature=0.1, grid=[0.0, 1.0, 3.0])
    assert choice.users == 0.0


def _timed_engagement_graph(users: np.ndarray, posts: np.ndarray, times: np.ndarray, n_users: int, n_posts: int) -> HeteroGraph:
    indptr, indices, t_sorted = csr_from_coo(users, posts, times.astype(np.float64), num_dst=n_posts)
    eng = Relation(
        "user__engaged__post", "user", "post", indptr, indices, np.ones(users.size, np.float32),
        reverse="post__rev_engaged__user", time=t_sorted.astype(np.int64),
    )
    return HeteroGraph(num_nodes={"user": n_users, "post": n_posts}, relations={eng.name: eng})


def test_heldout_eval_data_keeps_edge_times_so_triggers_are_the_latest_items() -> None:
    g = _timed_engagement_graph(np.array([0, 0, 1]), np.array([0, 1, 1]), np.array([5, 9, 7]), 2, 3)
    data = heldout_eval_data(g, [("user__engaged__post", np.array([0]), np.array([2]))], "user")
    got = sorted(zip(data.train.user.tolist(), data.train.item.tolist(), data.train.ts.tolist()))
    assert got == [(0, 0, 5), (0, 1, 9), (1, 1, 7)]
    assert data.cut == 10 and data.test.ts.tolist() == [10]


def test_tuning_picks_the_recent_window_when_popularity_drifted() -> None:
    rng = np.random.default_rng(3)
    n_users, n_posts = 300, 100
    old_pop = np.exp(-np.arange(n_posts) / 6.0)
    new_pop = old_pop[::-1].copy()  # the popular items of the past are the tail of the present
    old_pop /= old_pop.sum()
    new_pop /= new_pop.sum()
    users = np.repeat(np.arange(n_users), 4)
    recent = np.tile([False, False, False, True], n_users)  # each user's last engagement is recent
    posts = np.where(recent, rng.choice(n_posts, users.size, p=new_pop), rng.choice(n_posts, users.size, p=old_pop))
    times = np.where(recent, 100 + rng.integers(0, 10, users.size), rng.integers(0, 90, users.size))
    g = _timed_engagement_graph(users, posts, times, n_users, n_posts)
    test_u = np.arange(n_users)
    data = heldout_eval_data(g, [("user__engaged__post", test_u, rng.choice(n_posts, n_users, p=new_pop))], "user")
    from rankgraph.embed.export import item_log_popularity

    log_q = {f: item_log_popularity(g, "user", f)["post"] for f in (1.0, 0.25)}
    users_v, items_v = _unit(rng.normal(size=(n_users, 16))), _unit(rng.normal(size=(n_posts, 16)))
    cfg = EvaluateConfig(ks=[10], triggers=3, neighbours=10)
    choice = tune_readout(users_v, items_v, log_q, data, cfg, temperature=0.1, grid=[0.0, 1.0, 3.0])
    assert choice.recent_fraction == 0.25 and choice.users > 0
    assert sorted({t["recent_fraction"] for t in choice.trials}) == [0.25, 1.0] and len(choice.trials) == 6
    assert choice.to_dict()["recent_fraction"] == 0.25
    # without drift (the same popularity throughout) the whole history is kept: ties go to 1.0
    same = {f: log_q[1.0] for f in (1.0, 0.25)}
    assert tune_readout(users_v, items_v, same, data, cfg, temperature=0.1, grid=[0.0, 1.0]).recent_fraction == 1.0
