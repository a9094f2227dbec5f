"""LightGCN baseline: learns the planted taste groups, is reproducible with a seed."""

from __future__ import annotations

import numpy as np
import pytest

from rankgraph.config.evaluate import EvaluateConfig
from rankgraph.evaluate.baselines import BASELINES, DEFAULT_GRIDS, LightGCN, Popularity, RandomItems
from rankgraph.evaluate.data import EvalData
from rankgraph.evaluate.evaluator import evaluate

CFG = EvaluateConfig(ks=[10], neighbours=10)
SMALL = dict(layers=2, dim=16, lr=2e-2, epochs=30, batch_size=256)


def _recall(model, data, part="user_item"):
    return evaluate(data, model.fit(data), CFG, parts=(part,))[part]["all"]["recall@10"]


@pytest.fixture
def data(planted_events):
    return EvalData.from_events(planted_events, cut=100)


def test_lightgcn_beats_random_and_popularity_on_planted_groups(data):
    lgcn = _recall(LightGCN(**SMALL, seed=0), data)
    assert lgcn > _recall(RandomItems(seed=0), data) + 0.05
    assert lgcn > _recall(Popularity(), data)


def test_lightgcn_item_neighbours_beat_popularity_on_engagement_recall(data):
    part = "engagement_recall"
    assert _recall(LightGCN(**SMALL, seed=0), data, part) > _recall(Popularity(), data, part)


def test_lightgcn_is_deterministic_with_a_seed(data):
    users = np.arange(data.n_users)
    a = LightGCN(**{**SMALL, "epochs": 3}, seed=3).fit(data).score_users(users, 10)
    b = LightGCN(**{**SMALL, "epochs": 3}, seed=3).fit(data).score_users(users, 10)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[0], b[0])


def test_lightgcn_seed_changes_the_fit(data):
    users = np.arange(data.n_users)
    a = LightGCN(**{**SMALL, "epochs": 3}, seed=0).fit(data).score_users(users, 10)[0]
    b = LightGCN(**{**SMALL, "epochs": 3}, seed=1).fit(data).score_users(users, 10)[0]
    assert not np.array_equal(a, b)


def test_lightgcn_bpr_loss_decreases(data):
    model = LightGCN(**SMALL, seed=0).fit(data)
    assert model.losses[-1] < model.losses[0] - 0.05


def test_lightgcn_is_registered_with_a_grid():
    assert BASELINES["lightgcn"] is LightGCN
    assert set(DEFAULT_GRIDS["lightgcn"]) <= set(LightGCN.__init__.__code__.co_varnames)
