from dataclasses import replace

import numpy as np
import pytest
import torch

from graphs import planted_graph
from rankgraph.config.train import TrainConfig
from rankgraph.errors import ConfigError
from rankgraph.graph.store import Relation, csr_from_coo
from rankgraph.train.positives import PositiveSampler, holdout_graph, positive_relation_names


def _with_semantic(graph):
    a = np.arange(0, 40, 2)
    src = np.concatenate([a, a + 1])  # pairs (0,1), (2,3), ... stored both ways
    dst = np.concatenate([a + 1, a])
    indptr, indices, weight = csr_from_coo(src, dst, np.ones(40, dtype=np.float32), graph.num_nodes["item"])
    rel = Relation("item__co__item", "item", "item", indptr, indices, weight, "semantic", "item__co__item")
    graph.relations[rel.name] = rel
    return graph


def test_reverse_relations_are_not_positive_sources_by_default():
    graph, _, _ = planted_graph()
    assert positive_relation_names(graph, TrainConfig()) == ["user__click__item"]
    assert len(positive_relation_names(graph, TrainConfig(include_reverse=True))) == 2


def test_positive_relations_restricts_sources_and_rejects_unknown_names():
    graph = _with_semantic(planted_graph()[0])
    assert positive_relation_names(graph, TrainConfig(positive_relations=["item__co__item"])) == ["item__co__item"]
    with pytest.raises(ConfigError, match="nope"):
        positive_relation_names(graph, TrainConfig(positive_relations=["nope"]))


def test_relations_are_drawn_by_weight_times_edge_count():
    graph = _with_semantic(planted_graph()[0])
    cfg = TrainConfig(val_fraction=0.0, relation_weights={"semantic": 0.0})
    s = PositiveSampler(graph, cfg)
    batch = s.sample(512, torch.Generator().manual_seed(0))
    assert set(batch.rel.tolist()) == {s.names.index("user__click__item")}
    cfg = TrainConfig(val_fraction=0.0, relation_weights={"item__co__item": 1.0, "engagement": 1.0})
    s = PositiveSampler(graph, cfg)
    share = (s.sample(20000, torch.Generator().manual_seed(0)).rel == s.names.index("item__co__item")).float().mean()
    expected = 40 / (40 + graph.relations["user__click__item"].num_edges)
    assert float(share) == pytest.approx(expected, rel=0.25)


def test_edges_within_a_relation_are_drawn_proportional_to_weight():
    graph, _, _ = planted_graph()
    rel = graph.relations["user__click__item"]
    rel.weight[:] = 0.0
    rel.weight[0] = 1.0  # one heavy edge
    s = PositiveSampler(graph, TrainConfig(val_fraction=0.0))
    batch = s.sample(100, torch.Generator().manual_seed(0))
    assert (batch.src == int(rel.indices[0])).all() and (batch.dst == 0).all()


def test_sampling_is_reproducible_from_the_generator_state():
    s = PositiveSampler(planted_graph()[0], TrainConfig())
    a = s.sample(64, torch.Generator().manual_seed(3))
    b = s.sample(64, torch.Generator().manual_seed(3))
    assert torch.equal(a.src, b.src) and torch.equal(a.dst, b.dst)


def test_validation_edges_are_held_out_of_sampling_and_message_passing():
    graph, _, _ = planted_graph()
    s = PositiveSampler(graph, TrainConfig(val_fraction=0.2))
    assert s.val.src.size > 0
    n_items = graph.num_nodes["item"]
    val_keys = set((s.val.src * n_items + s.val.dst).tolist())
    train_keys = set((s.train.src * n_items + s.train.dst).tolist())
    assert not val_keys & train_keys
    held = holdout_graph(graph, s)
    fwd = held.relations["user__click__item"]
    fwd_keys = set((np.asarray(fwd.indices, dtype=np.int64) * n_items + fwd.dst_index()).tolist())
    assert fwd_keys == train_keys
    rev = held.relations["item__rev_click__user"]
    rev_keys = set((rev.dst_index() * n_items + np.asarray(rev.indices, dtype=np.int64)).tolist())
    assert rev_keys == train_keys


def test_symmetric_pairs_fall_on_the_same_side_of_the_split():
    graph = _with_semantic(planted_graph()[0])
    s = PositiveSampler(graph, TrainConfig(positive_relations=["item__co__item"], val_fraction=0.5, seed=1))
    pairs = {tuple(sorted(p)) for p in zip(s.val.src.tolist(), s.val.dst.tolist())}
    for a, b in pairs:
        assert ((s.val.src == b) & (s.val.dst == a)).any()


def test_shards_partition_the_global_batch():
    s = PositiveSampler(planted_graph()[0], TrainConfig())
    batch = s.sample(10, torch.Generator().manual_seed(0))
    parts = [batch.shard(r, 2) for r in range(2)]
    assert sorted(torch.cat([p.src for p in parts]).tolist()) == sorted(batch.src.tolist())


def _timed(graph):
    """planted_graph with edge times: edge e of the click relation happened at time 1000 + e."""
    click = graph.relations["user__click__item"]
    graph.relations[click.name] = replace(click, time=np.arange(click.num_edges, dtype=np.int64) + 1000)
    return graph


def test_temporal_split_holds_out_the_newest_timed_edges():
    graph = _timed(planted_graph()[0])
    click = graph.relations["user__click__item"]
    s = PositiveSampler(graph, TrainConfig(val_fraction=0.1, val_split="temporal"))
    n = click.num_edges
    held = np.sort(s.val.dst * 10_000 + s.val.src)
    newest = np.arange(n)[np.asarray(click.time) >= np.quantile(click.time, 0.9, method="higher")]
    expect = np.sort(click.dst_index()[newest] * 10_000 + np.asarray(click.indices, dtype=np.int64)[newest])
    np.testing.assert_array_equal(held, expect)
    assert 0.08 * n <= s.val.src.size <= 0.12 * n
    # the message-passing graph keeps the other edges with their own times
    kept = holdout_graph(graph, s).relations["user__click__item"]
    assert kept.num_edges == n - s.val.src.size and int(np.max(kept.time)) < int(np.min(np.asarray(click.time)[newest]))
    kept.validate(graph.num_nodes["user"], graph.num_nodes["item"])


def test_temporal_split_without_edge_times_is_a_config_error():
    graph, _, _ = planted_graph()
    with pytest.raises(ConfigError, match="val_split = temporal"):
        PositiveSampler(graph, TrainConfig(val_split="temporal"))


def test_recency_half_life_decays_edge_probabilities_by_age():
    graph = _with_semantic(_timed(planted_graph()[0]))
    click = graph.relations["user__click__item"]
    n = click.num_edges
    cfg = TrainConfig(val_fraction=0.0, recency_half_life=0.25)
    flat = PositiveSampler(graph, replace(cfg, recency_half_life=None))
    s = PositiveSampler(graph, cfg)
    on_click = s.train.rel == s.names.index("user__click__item")
    t = s.train.time[on_click].astype(np.float64)
    span = float(t.max() - t.min())
    # within the relation, P(edge) / weight halves every quarter of the time span
    ratio = s.prob[on_click] / s.train.weight[on_click]
    np.testing.assert_allclose(ratio / ratio.max(), np.exp2(-(t.max() - t) / (0.25 * span)), rtol=1e-9)
    # relation shares are unchanged and untimed (semantic) edges keep their relative weights
    for i in range(len(s.names)):
        assert s.prob[s.train.rel == i].sum() == pytest.approx(flat.prob[flat.train.rel == i].sum())
    np.testing.assert_allclose(s.prob[~on_click], flat.prob[~on_click])
    # drawn edges are newer on average
    g = torch.Generator().manual_seed(0)
    drawn = s.sample(4000, g)
    clicks = drawn.rel == s.names.index("user__click__item")
    times = {(int(a), int(b)): int(tt) for a, b, tt in zip(s.train.src[on_click], s.train.dst[on_click], s.train.time[on_click])}
    mean_t = np.mean([times[(int(a), int(b))] for a, b in zip(drawn.src[clicks], drawn.dst[clicks])])
    assert mean_t > 1000 + 0.6 * n


def test_recency_half_life_needs_edge_times_and_a_positive_value():
    graph, _, _ = planted_graph()
    with pytest.raises(ConfigError, match="recency_half_life"):
        PositiveSampler(graph, TrainConfig(recency_half_life=0.1))
    with pytest.raises(ValueError, match="recency_half_life"):
        TrainConfig(recency_half_life=0.0)
