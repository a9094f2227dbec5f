from __future__ import annotations

import numpy as np
import pytest

from rankgraph.evaluate.metrics import (
    edge_recall,
    hit_rate_at_k,
    ndcg_at_k,
    rank_scores,
    recall_at_k,
    summarize,
)

RANKED = np.array([[1, 2, 3, 4], [5, 6, -1, -1], [7, 8, 9, 10]])
# user 0 -> {2, 9}, user 1 -> {5, 6, 7}, user 2 -> {} (no test items)
TRUTH = (np.array([0, 2, 5, 5]), np.array([2, 9, 5, 6, 7]))


def test_recall_denominator_is_min_of_k_and_truth_size():
    r = recall_at_k(RANKED, TRUTH, 2)
    assert r[0] == 0.5  # 1 hit / min(2, 2)
    assert r[1] == 1.0  # 2 hits / min(2, 3)


def test_recall_with_k_larger_than_the_candidate_list():
    r = recall_at_k(RANKED, TRUTH, 4)
    assert r[1] == pytest.approx(2 / 3)  # list has 2 items, 3 relevant: 2 / min(4, 3)


def test_users_without_test_items_are_skipped_and_counted():
    s = summarize(recall_at_k(RANKED, TRUTH, 2))
    assert s == {"mean": 0.75, "users": 2, "skipped_users": 1}


def test_ndcg_hand_computed():
    n = ndcg_at_k(RANKED, TRUTH, 2)
    assert n[0] == pytest.approx((1 / np.log2(3)) / (1 + 1 / np.log2(3)))
    assert n[1] == pytest.approx(1.0)
    assert np.isnan(n[2])


def test_hit_rate_hand_computed():
    h = hit_rate_at_k(RANKED, TRUTH, 1)
    assert h[:2].tolist() == [0.0, 1.0] and np.isnan(h[2])


def test_ties_rank_the_lower_item_first():
    assert rank_scores(np.array([[0.5, 0.9, 0.9, 0.1]]), 3).tolist() == [[1, 2, 0]]


def test_repeated_item_in_a_list_counts_once():
    r = recall_at_k(np.array([[2, 2, 9]]), (np.array([0, 2]), np.array([2, 9])), 2)
    assert r[0] == 0.5


def test_edge_recall_counts_edges_found_in_top_k():
    out = edge_recall(RANKED, np.array([0, 0, 1]), np.array([2, 4, 7]), [2, 4])
    assert out["recall@2"] == pytest.approx(1 / 3)
    assert out["recall@4"] == pytest.approx(2 / 3)
    assert out["edges"] == 3
