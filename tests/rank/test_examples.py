from __future__ import annotations

import numpy as np
import pyarrow as pa

from rankgraph.rank.examples import ITEM_OFFSET, gap_bucket, make_examples
from rank_worlds import CUT, VAL_WINDOW, connect, planted_events, small_config


def _features(ex):
    return {k: getattr(ex, k) for k in ("hist_item", "hist_event", "hist_domain", "hist_gap", "user")}


def _candidate_map(data, ex):
    """(user id, item index) -> (click, conv) of a window's examples."""
    users = np.asarray(ex.user_id.to_pylist())
    return {(int(users[r]), int(i)): (c, v) for r, i, c, v in zip(ex.row, ex.cand_item, ex.click, ex.conv)}


def test_planted_future_event_leaves_past_features_unchanged():
    cfg = small_config().examples
    base = planted_events()
    before = make_examples(connect(base), CUT, cfg)
    # user 3 engages item 5 and converts on ad 101 during the test window, after both windows start
    extra = pa.table({
        "user_id": pa.array([3, 3, 3], pa.int64()), "item_id": pa.array([5, 101, 101], pa.int64()),
        "item_type": ["post", "ad", "ad"], "domain": ["feed", "ads", "ads"], "event": ["click", "click", "convert"],
        "ts": pa.array([CUT + 5, CUT + 6, CUT + 7], pa.int64()), "value": pa.array([1.0, 1.0, 1.0]),
    })
    after = make_examples(connect(pa.concat_tables([base, extra])), CUT, cfg)
    for name, arr in _features(before.train).items():
        np.testing.assert_array_equal(arr, getattr(after.train, name), err_msg=name)
    for name, arr in _features(before.test).items():
        np.testing.assert_array_equal(arr, getattr(after.test, name), err_msg=name)
    np.testing.assert_array_equal(before.train.cand_item, after.train.cand_item)
    np.testing.assert_array_equal(before.train.click, after.train.click)


def test_examples_respect_split():
    events = planted_events()
    data = make_examples(connect(events), CUT, small_config().examples)
    assert data.val_start == CUT - VAL_WINDOW
    ts = events.column("ts").to_numpy()
    users = events.column("user_id").to_numpy()
    items = events.column("item_id").to_numpy()
    key_of = {(t, int(i)): k for k, (t, i) in enumerate(zip(data.vocab.item_type.to_pylist(), data.vocab.item_id.to_pylist()))}
    item_index = np.array([key_of.get((t, int(i)), -ITEM_OFFSET) + ITEM_OFFSET
                           for t, i in zip(events.column("item_type").to_pylist(), items)])
    for ex, lo, hi in ((data.train, data.val_start, CUT), (data.test, CUT, 10**9)):
        assert ex.ref_ts == lo
        uid = np.asarray(ex.user_id.to_pylist())[ex.row]
        pos = ex.click > 0
        engaged = {(int(u), int(i)) for u, i, t in zip(users, item_index, ts) if lo <= t < hi}
        assert all((int(u), int(i)) in engaged for u, i in zip(uid[pos], ex.cand_item[pos]))
        assert not any((int(u), int(i)) in engaged for u, i in zip(uid[~pos], ex.cand_item[~pos]))
        # history length = events before the window start, capped at max_history
        n_before = np.array([np.sum((users == u) & (ts < lo)) for u in ex.user_id.to_pylist()])
        np.testing.assert_array_equal((ex.hist_item > 0).sum(axis=1), np.minimum(n_before, 8))


def test_vocabulary_holds_only_items_seen_before_validation_window():
    events = planted_events()
    data = make_examples(connect(events), CUT, small_config().examples)
    ts = events.column("ts").to_numpy()
    early = {(t, int(i)) for t, i, s in zip(events.column("item_type").to_pylist(), events.column("item_id").to_numpy(), ts)
             if s < data.val_start}
    assert set(zip(data.vocab.item_type.to_pylist(), data.vocab.item_id.to_pylist())) == early


def test_negatives_share_the_positive_domain():
    data = make_examples(connect(planted_events()), CUT, small_config().examples)
    ex = data.test
    neg = ex.click == 0
    assert neg.sum() > 0
    np.testing.assert_array_equal(data.vocab.item_domain[ex.cand_item[neg] - ITEM_OFFSET], ex.cand_domain[neg])


def test_conversion_defined_on_converting_domain_or_engaged_only():
    events = planted_events()
    data = make_examples(connect(events), CUT, small_config().examples)
    ads = data.vocab.domains.index("ads") + 1
    ex = data.test
    np.testing.assert_array_equal(ex.conv_mask, ex.cand_domain == ads)
    assert ex.conv[ex.conv_mask].sum() > 0 and ex.conv[~ex.conv_mask].sum() == 0
    engaged = make_examples(connect(events), CUT, small_config(conversion_among="engaged").examples).test
    np.testing.assert_array_equal(engaged.conv_mask, engaged.click > 0)


def test_cold_marks_users_without_history_in_candidate_domain():
    data = make_examples(connect(planted_events()), CUT, small_config(max_history=2).examples)
    ex = data.train
    events = planted_events()
    ts, users, dom = (events.column(c).to_numpy(zero_copy_only=False) for c in ("ts", "user_id", "domain"))
    uid = np.asarray(ex.user_id.to_pylist())[ex.row]
    names = np.array(data.vocab.domains, dtype=object)[ex.cand_domain - 1]
    expect = np.array([not np.any((users == u) & (dom == d) & (ts < ex.ref_ts)) for u, d in zip(uid, names)])
    np.testing.assert_array_equal(ex.cold, expect)


def test_gap_bucket_is_log2_of_units():
    np.testing.assert_array_equal(gap_bucket(np.array([0, 1800, 3 * 3600, 7 * 86400]), 3600, 24), [1, 1, 3, 8])
