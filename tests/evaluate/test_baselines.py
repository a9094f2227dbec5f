from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyarrow as pa
import pytest

from rankgraph.capabilities import WITH_IMPLICIT
from rankgraph.config.evaluate import EvaluateConfig
from rankgraph.evaluate.baselines import ALS, ItemCF, Popularity, RandomItems
from rankgraph.evaluate.data import EvalData
from rankgraph.evaluate.evaluator import evaluate
from rankgraph.evaluate.tune import tune

CFG = EvaluateConfig(ks=[10], neighbours=10)


def _recall(model, data, part="user_item"):
    return evaluate(data, model.fit(data), CFG, parts=(part,))[part]["all"]["recall@10"]


@pytest.fixture
def data(planted_events):
    return EvalData.from_events(planted_events, cut=100)


@pytest.mark.parametrize(
    "model",
    [
        Popularity(),
        ItemCF(neighbours=50),
        pytest.param("als", marks=pytest.mark.skipif(not WITH_IMPLICIT, reason="implicit not installed")),
    ],
    ids=["popularity", "itemcf", "als"],
)
def test_baseline_beats_random_on_planted_groups(model, data):
    if model == "als":
        model = ALS(factors=8, iterations=10, regularization=0.1, seed=0)
    assert _recall(model, data) > _recall(RandomItems(seed=0), data) + 0.05


@pytest.mark.parametrize("part", ["user_item", "engagement_recall"])
def test_itemcf_beats_popularity_when_taste_groups_exist(data, part):
    assert _recall(ItemCF(neighbours=50), data, part) > _recall(Popularity(), data, part)


def test_baselines_never_recommend_train_items(data):
    users = np.arange(data.n_users)
    seen = data.seen(users)
    for model in (Popularity(), ItemCF(), RandomItems()):
        _, items = model.fit(data).score_users(users, 10, seen)
        for u in range(0, data.n_users, 7):
            assert not np.isin(items[u], seen[1][seen[0][u] : seen[0][u + 1]]).any()


def test_similar_items_leave_the_item_out(data):
    for model in (Popularity(), ItemCF()):
        _, nbr = model.fit(data).similar_items(np.arange(data.n_items), 5)
        assert not (nbr == np.arange(data.n_items)[:, None]).any()


def test_tune_picks_a_grid_point_and_never_reads_test(data):
    grid = {"neighbours": [5, 50], "alpha": [0.5]}
    best, trials = tune(ItemCF, grid, data, CFG)
    assert best in [t["params"] for t in trials] and len(trials) == 2
    blind = replace(data, test=data.test.take(np.zeros(len(data.test), dtype=bool)))
    assert tune(ItemCF, grid, blind, CFG) == (best, trials)


def test_tuning_maximises_recall_at_the_headline_k_unless_told_otherwise(data):
    grid = {"neighbours": [5, 50], "alpha": [0.5]}
    cfg = replace(CFG, ks=[1, 3], tune_k=None)
    _, trials = tune(ItemCF, grid, data, cfg)
    assert all("user_item.all.recall@3" in t for t in trials)
    _, trials = tune(ItemCF, grid, data, replace(cfg, tune_k=1))
    assert all("user_item.all.recall@1" in t for t in trials)
    with pytest.raises(ValueError, match="tune_k"):
        replace(cfg, tune_k=7)


def test_tuning_adds_the_weighted_cross_domain_slice_when_asked(planted_events):
    # every fifth item moves to a shared domain "x" that many users first meet late in train
    item = planted_events.column("item_id").to_numpy()
    domain = np.where(item % 5 == 0, "x", planted_events.column("domain").to_numpy(zero_copy_only=False))
    events = planted_events.set_column(planted_events.schema.get_field_index("domain"), "domain", pa.array(domain))
    data = EvalData.from_events(events, cut=100)
    grid = {"neighbours": [5, 50], "alpha": [0.5]}
    cfg = replace(CFG, tune_cross_domain_weight=2.0)
    _, trials = tune(ItemCF, grid, data, cfg)
    val = data.carve_validation(cfg.validation_fraction)
    for trial in trials:
        got = evaluate(val, ItemCF(**trial["params"]).fit(val), cfg, parts=("user_item",))["user_item"]
        overall, cross = got["all"]["recall@10"], got["cross_domain"]["recall@10"]
        assert cross > 0  # the slice is really there, so the weight changes the score
        assert trial["user_item.all.recall@10"] == pytest.approx(overall + 2.0 * cross)
    with pytest.raises(ValueError, match="tune_cross_domain_weight"):
        replace(CFG, tune_cross_domain_weight=-1.0)
