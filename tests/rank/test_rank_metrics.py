from __future__ import annotations

import math

import numpy as np
import pytest

from rankgraph.rank.metrics import auc, base_entropy, logloss, normalized_entropy, recall_lift_correlation


def test_auc_counts_ordered_pairs_and_half_ties():
    y = np.array([1, 0, 1, 0])
    p = np.array([0.9, 0.8, 0.3, 0.3])
    # pairs (pos, neg): (0.9,0.8)=1 (0.9,0.3)=1 (0.3,0.8)=0 (0.3,0.3)=0.5 -> 2.5 / 4
    assert auc(y, p) == pytest.approx(0.625)


def test_auc_of_one_class_is_nan():
    assert math.isnan(auc(np.ones(3), np.array([0.1, 0.2, 0.3])))


def test_logloss_matches_hand_computation():
    y = np.array([1, 0])
    p = np.array([0.8, 0.4])
    assert logloss(y, p) == pytest.approx(-(math.log(0.8) + math.log(0.6)) / 2)


def test_ne_of_predicting_the_base_rate_is_one():
    y = np.array([1, 0, 0, 0])
    assert normalized_entropy(y, np.full(4, 0.25)) == pytest.approx(1.0)
    assert base_entropy(y) == pytest.approx(-(0.25 * math.log(0.25) + 0.75 * math.log(0.75)))


def test_ne_is_logloss_over_base_entropy():
    y = np.array([1, 1, 0, 0, 0])
    p = np.array([0.9, 0.6, 0.2, 0.1, 0.4])
    assert normalized_entropy(y, p) == pytest.approx(logloss(y, p) / base_entropy(y))
    assert normalized_entropy(y, p) < 1.0


def test_recall_lift_correlation_is_rank_based_and_linear():
    out = recall_lift_correlation([0.1, 0.2, 0.3, 0.4], [0.0, 0.01, 0.04, 0.09])
    assert out["spearman"] == pytest.approx(1.0)
    assert 0.9 < out["pearson"] < 1.0
    assert math.isnan(recall_lift_correlation([0.1, 0.2], [0.0, 0.1])["pearson"])
