from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pyarrow as pa

from rankgraph.config.evaluate import EvaluateConfig
from rankgraph.evaluate.data import EvalData
from rankgraph.evaluate.engagement_recall import trigger_matrix, trigger_neighbours
from rankgraph.evaluate.evaluator import evaluate

from conftest import events_table

# 4 items; each item's 2 neighbours with their similarity
NBR_ITEMS = np.array([[1, 2], [0, 3], [3, 0], [2, 1]])
NBR_SCORES = np.array([[0.9, 0.5], [0.9, 0.4], [0.8, 0.5], [0.8, 0.3]], np.float32)


class FixedNeighbours:
    def similar_items(self, item_rows, k):
        return NBR_SCORES[item_rows, :k], NBR_ITEMS[item_rows, :k]

    def score_users(self, user_rows, k, exclude=None):
        raise AssertionError("not used")


def _data():
    rows = [
        (1, 0, "post", "feed", "click", 1),
        (1, 1, "post", "feed", "like", 2),
        (2, 3, "post", "feed", "click", 1),
        (2, 0, "post", "shop", "click", 2),
        (1, 2, "post", "shop", "click", 10),  # test: cross-domain for user 1
        (2, 2, "post", "feed", "click", 11),  # test: in-domain for user 2
    ]
    return EvalData.from_events(events_table(rows), cut=5, item_ids={"post": pa.array([0, 1, 2, 3])})


def _cfg(**kw):
    return EvaluateConfig(ks=[1, 2], neighbours=2, trigger_weights={"like": 2.0}, **kw)


def test_engagement_recall_on_hand_built_example():
    # user 1: triggers 0 (w1), 1 (w2) -> 1:0.9, 2:0.5, 0:1.8, 3:0.8; minus engaged {0,1} -> [3, 2]
    # user 2: triggers 3 (w1), 0 (w1) -> 2:0.8+0.5, 1:0.3+0.9, minus {3,0} -> [2, 1]
    # targets: user 1 -> item 2 (cross-domain: 'shop' is new to them), user 2 -> item 2 (in-domain)
    out = evaluate(_data(), FixedNeighbours(), _cfg(), parts=("engagement_recall",))
    er = out["engagement_recall"]
    assert er["all"]["recall@1"] == 0.5
    assert er["all"]["recall@2"] == 1.0
    assert er["cross_domain"]["recall@1"] == 0.0 and er["in_domain"]["recall@1"] == 1.0
    assert er["cross_domain"]["users"] == 1 and er["cross_domain"]["skipped_users"] == 1
    assert set(er["by_domain"]) == {"feed", "shop"}
    json.dumps(out)


class RecordingNeighbours(FixedNeighbours):
    def __init__(self):
        self.asked = []

    def similar_items(self, item_rows, k):
        self.asked.append(np.asarray(item_rows).copy())
        return super().similar_items(item_rows, k)


def test_only_trigger_items_are_searched_and_results_are_unchanged():
    data = _data()
    trig = trigger_matrix(data, 20, {})
    rec = RecordingNeighbours()
    scores, items = trigger_neighbours(rec, trig[np.array([1])], data.n_items, 2)
    used = np.unique(trig[np.array([1])].indices)  # user 1's triggers only
    assert np.array_equal(np.concatenate(rec.asked), used)
    assert np.array_equal(items[used], NBR_ITEMS[used]) and np.array_equal(scores[used], NBR_SCORES[used])
    others = np.setdiff1d(np.arange(data.n_items), used)
    assert (items[others] == -1).all() and np.isneginf(scores[others]).all()
    # the whole evaluation searches trigger items only and still scores the hand-built case
    rec = RecordingNeighbours()
    out = evaluate(data, rec, _cfg(), parts=("engagement_recall",))
    assert np.array_equal(np.concatenate(rec.asked), [0, 1, 3])  # item 2 is nobody's trigger
    assert out["engagement_recall"]["all"]["recall@2"] == 1.0


def test_trigger_weights_change_the_ranking():
    out = evaluate(_data(), FixedNeighbours(), replace(_cfg(), trigger_weights={}), parts=("engagement_recall",))
    # unweighted user 1: 1:0.9 excluded, 0:0.9 excluded, 2:0.5, 3:0.4 -> item 2 first: hit at 1
    # user 2 unchanged ([2, 1]): hit at 1
    assert out["engagement_recall"]["all"]["recall@1"] == 1.0


def test_only_the_last_triggers_count():
    m = trigger_matrix(_data(), 1, {})
    assert m[[0]].indices.tolist() == [1]  # user 1's latest train item only


def test_planted_future_event_is_absent_from_triggers():
    data = _data()
    # a test-period event forced into train (as a buggy split would do)
    leaked = replace(data.train, **{f: np.append(getattr(data.train, f), getattr(data.test, f)[:1]) for f in ("user", "item", "event", "ts", "domain")})
    m = trigger_matrix(replace(data, train=leaked), 20, {})
    future_item = int(data.test.item[0])
    assert m[[int(data.test.user[0])]].toarray()[0, future_item] == 0


def test_events_after_the_cut_never_enter_train():
    data = _data()
    assert data.train.ts.max() < 5 and data.test.ts.min() >= 5
    assert len(data.train) == 4 and len(data.test) == 2
