from __future__ import annotations

import json

import numpy as np

from rankgraph.config.evaluate import EvaluateConfig
from rankgraph.evaluate.data import EvalData
from rankgraph.evaluate.evaluator import evaluate, target_pairs
from rankgraph.evaluate.protocol import EmbeddingRecommender

from conftest import events_table


def _data():
    rows = [
        (1, 10, "post", "feed", "click", 1),
        (2, 11, "post", "feed", "click", 1),
        (2, 20, "video", "tv", "click", 2),
        (1, 11, "post", "feed", "click", 6),  # new pair, in-domain
        (1, 10, "post", "feed", "click", 7),  # repeat of a train pair: not a target
        (1, 20, "video", "tv", "click", 8),  # new domain for user 1
        (3, 10, "post", "feed", "click", 9),  # unknown user: dropped
    ]
    return EvalData.from_events(events_table(rows), cut=5)


def test_items_of_all_types_share_one_row_space():
    d = _data()
    assert d.item_types == ["post", "video"] and d.n_items == 3
    assert sorted(d.train.item.tolist()) == [0, 1, 2]


def test_targets_drop_repeats_and_mark_cross_domain():
    d = _data()
    tg = target_pairs(d)
    assert tg["item"].tolist() == [1, 2]
    assert tg["cross_domain"].tolist() == [False, True]
    assert int(tg["repeat_pairs"]) == 1
    assert d.dropped["test_unknown_user"] == 1


def test_embedding_recommender_scored_end_to_end_excluding_train_items():
    d = _data()
    users = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    items = np.array([[1.0, 0.0], [0.8, 0.6], [0.6, 0.8]], np.float32)  # post 10, post 11, video 20
    out = evaluate(d, EmbeddingRecommender(users, items), EvaluateConfig(ks=[1, 2], max_users=None))
    # user 1 (row 0): item 0 excluded (train) -> [1, 2]; targets {1, 2}
    assert out["user_item"]["all"]["recall@1"] == 1.0
    assert out["user_item"]["all"]["recall@2"] == 1.0
    assert out["user_item"]["cross_domain"]["recall@1"] == 0.0  # target 2 is at rank 2
    assert out["edge_recall"]["all"]["recall@1"] == 0.5
    assert out["counts"]["test_repeat_pairs_dropped"] == 1
    json.dumps(out, allow_nan=False)


def test_validation_carve_uses_only_train_events():
    d = _data()
    v = d.carve_validation(0.5)
    assert len(v.train) + len(v.test) == len(d.train)
    assert v.test.ts.min() >= v.cut > v.train.ts.max()


def test_from_split_matches_from_events(planted_events):
    from rankgraph.data.split import temporal_split

    a = EvalData.from_split(temporal_split(planted_events, cut=100))
    b = EvalData.from_events(planted_events, cut=100)
    assert a.cut == b.cut == 100
    assert np.array_equal(np.sort(a.train.user * 1000 + a.train.item), np.sort(b.train.user * 1000 + b.train.item))
    assert len(a.test) == len(b.test)


def test_eval_rows_agree_with_embedding_rows():
    import pyarrow as pa

    from rankgraph.embed.artifact import EmbeddingSet

    emb = EmbeddingSet.from_raw(
        {"user": np.array([[1.0, 0], [0, 1], [1, 1]]), "video": np.eye(2), "post": np.eye(2)[::-1]},
        {"user": [2, 1, 9], "video": [20, 21], "post": [11, 10]},
    )
    d = EvalData.from_tables(
        events_table([(1, 10, "post", "feed", "click", 1), (2, 21, "video", "tv", "click", 2)]),
        events_table([(9, 20, "video", "tv", "click", 8)]),
        user_ids=emb.types["user"].ids,
        item_ids={t: emb.types[t].ids for t in emb.item_types},
    )
    items, _, _ = emb.stacked_items()
    # post 10 is row 1 of 'post' -> global row 1; video 21 is row 1 of 'video' -> global 2 + 1
    assert d.train.user.tolist() == [1, 0] and d.train.item.tolist() == [1, 3]
    np.testing.assert_array_equal(items[d.train.item[1]], emb.types["video"].vectors[1])
    assert isinstance(d.user_ids, pa.Array)


def test_max_users_samples_a_fixed_subset(planted_events):
    from rankgraph.evaluate.baselines import Popularity

    d = EvalData.from_events(planted_events, cut=100)
    cfg = EvaluateConfig(ks=[5], max_users=10, seed=3)
    a = evaluate(d, Popularity().fit(d), cfg, parts=("user_item",))
    b = evaluate(d, Popularity().fit(d), cfg, parts=("user_item",))
    assert a["counts"]["evaluated_users"] == 10 and a["user_item"]["all"]["users"] == 10
    assert a == b


def test_activity_slices_split_users_by_distinct_train_items():
    from rankgraph.evaluate.evaluator import activity_labels, user_activity

    rows = [
        (1, 10, "post", "feed", "click", 1),
        (1, 10, "post", "feed", "like", 2),  # same item again: still 1 distinct item
        (2, 10, "post", "feed", "click", 1),
        (2, 11, "post", "feed", "click", 2),
        (2, 12, "post", "feed", "click", 3),
        (1, 11, "post", "feed", "click", 6),  # user 1 (1 item before the cut) hits 11
        (2, 13, "post", "feed", "click", 7),  # user 2 (3 items) misses 13
        (1, 13, "post", "feed", "click", 0),  # (before the cut: makes 13 known)
        (3, 14, "post", "feed", "click", 0),  # item 14: ranked first for user 2
    ]
    d = EvalData.from_events(events_table(rows), cut=5)
    assert activity_labels([2, 3]) == ["0-1", "2-2", "3+"]
    assert user_activity(d, np.array([0, 1]), [2, 3]).tolist() == [1, 2]  # user 1 now has items 10 and 13
    users = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], np.float32)
    items = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0], [0.0, -1.0], [0.0, 1.0]], np.float32)  # 10..14
    out = evaluate(d, EmbeddingRecommender(users, items), EvaluateConfig(ks=[1], activity_buckets=[2, 3]))
    by = out["user_item"]["by_activity"]
    assert by["2-2"]["recall@1"] == 1.0 and by["2-2"]["users"] == 1
    assert by["3+"]["recall@1"] == 0.0 and by["3+"]["users"] == 1
    assert by["0-1"]["users"] == 0
