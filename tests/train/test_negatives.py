import numpy as np
import pytest
import torch
import torch.nn.functional as F

from graphs import planted_graph
from rankgraph.config.train import NegativesConfig
from rankgraph.train.negatives import (
    IN_BATCH,
    POOL,
    SEMANTIC,
    NegativePool,
    NeighbourIndex,
    PoolView,
    build_candidates,
)

TYPES = ["item", "user"]  # codes 0, 1


def _setup(cfg: NegativesConfig, seed: int = 0):
    graph, _, _ = planted_graph()
    rel = graph.relations["user__click__item"]
    gen = torch.Generator().manual_seed(seed)
    b, H, D = 16, 3, 8
    edges = torch.randint(0, rel.num_edges, (b,), generator=gen)
    src = torch.from_numpy(np.asarray(rel.indices, dtype=np.int64)[edges.numpy()])  # users
    dst = torch.from_numpy(rel.dst_index()[edges.numpy()])  # items
    emb_a = F.normalize(torch.randn(b, H, D, generator=gen), dim=-1)
    emb_t = F.normalize(torch.randn(b, H, D, generator=gen), dim=-1)
    pool_ids = torch.randint(0, graph.num_nodes["item"], (10,), generator=gen)
    pool_ids[0] = -1  # an empty slot
    pools = {"item": PoolView(pool_ids, F.normalize(torch.randn(10, H, D, generator=gen), dim=-1))}
    groups = build_candidates(
        TYPES,
        torch.ones(b, dtype=torch.long),
        src,
        emb_a,
        torch.zeros(b, dtype=torch.long),
        dst,
        emb_t,
        cfg,
        pools=pools,
        neighbours=NeighbourIndex(graph),
    )
    return graph, groups, src, dst


def test_all_samplers_give_their_columns():
    _, groups, _, _ = _setup(NegativesConfig())
    (g,) = groups
    assert (g.source == IN_BATCH).sum() == 16
    assert (g.source == POOL).sum() == 10
    assert (g.source == SEMANTIC).sum() == 2  # H - 1 other heads
    assert g.neg.shape == (3, 16, 28)


@pytest.mark.parametrize("off", ["in_batch", "pool", "semantic"])
def test_turning_a_sampler_off_removes_exactly_its_negatives(off):
    code = {"in_batch": IN_BATCH, "pool": POOL, "semantic": SEMANTIC}[off]
    _, (full,), _, _ = _setup(NegativesConfig())
    _, (less,), _, _ = _setup(NegativesConfig(**{off: False}))
    keep = full.source != code
    assert not (less.source == code).any()
    assert torch.equal(less.source, full.source[keep])
    assert torch.equal(less.neg, full.neg[..., keep])
    assert torch.equal(less.mask, full.mask[:, keep])
    assert torch.equal(less.cand_ids, full.cand_ids[:, keep])


def test_masked_false_negatives_never_appear():
    graph, (g,), src, _ = _setup(NegativesConfig())
    rel = graph.relations["user__click__item"]
    edges = set(zip(np.asarray(rel.indices).tolist(), rel.dst_index().tolist()))
    anchors = src[g.rows]
    b_idx, k_idx = torch.nonzero(g.mask & (g.source != SEMANTIC), as_tuple=True)
    assert b_idx.numel() > 0
    for b, k in zip(b_idx.tolist(), k_idx.tolist()):
        assert (int(anchors[b]), int(g.cand_ids[b, k])) not in edges
    # and masking really removed something: some in-batch candidate was a neighbour
    _, (unmasked,), _, _ = _setup(NegativesConfig(mask_false_negatives=False))
    assert int(unmasked.mask.sum()) > int(g.mask.sum())


def test_positive_itself_and_empty_pool_slots_are_never_negatives():
    _, (g,), _, dst = _setup(NegativesConfig(mask_false_negatives=False))
    tgt = dst[g.rows].unsqueeze(1)
    not_sem = (g.source != SEMANTIC).unsqueeze(0)
    assert not (g.mask & not_sem & (g.cand_ids == tgt)).any()
    assert not (g.mask & (g.cand_ids < 0)).any()


def test_semantic_column_is_the_positive_from_another_head():
    _, (g,), _, _ = _setup(NegativesConfig(in_batch=False, pool=False))
    # head 0 against head 1 of the same target: cosine equals the column j=0 value
    assert g.neg.shape[-1] == 2
    assert g.mask.all()


def test_neighbour_index_finds_edges_both_ways():
    graph, _, _ = planted_graph()
    idx = NeighbourIndex(graph)
    rel = graph.relations["user__click__item"]
    u = torch.from_numpy(np.asarray(rel.indices[:5], dtype=np.int64))
    i = torch.from_numpy(rel.dst_index()[:5])
    assert idx.contains("user", u, "item", i).all()
    assert idx.contains("item", i, "user", u).all()


def test_pool_refresh_replaces_oldest_entries_and_roundtrips():
    cfg = NegativesConfig(pool_size=6, pool_samples=4)
    pool = NegativePool({"item": 100}, cfg)
    gen = torch.Generator().manual_seed(0)
    first = pool.refresh(gen)["item"]
    assert torch.equal(pool.ids["item"][:4], first) and (pool.ids["item"][4:] == -1).all()
    second = pool.refresh(gen)["item"]
    # ring buffer: slots 4, 5, 0, 1 now hold the second draw; 2, 3 the first
    assert torch.equal(pool.ids["item"][[4, 5, 0, 1]], second)
    assert torch.equal(pool.ids["item"][[2, 3]], first[2:])
    clone = NegativePool({"item": 100}, cfg)
    clone.load_state_dict(pool.state_dict())
    a = clone.refresh(torch.Generator().manual_seed(5))["item"]
    assert torch.equal(a, pool.refresh(torch.Generator().manual_seed(5))["item"])
    assert torch.equal(clone.ids["item"], pool.ids["item"])


def test_degree_pool_sampling_prefers_popular_nodes():
    degree = {"item": np.array([1000.0] + [0.0] * 99)}
    cfg = NegativesConfig(pool_size=2000, pool_samples=2000, pool_sampling="degree", pool_degree_power=1.0)
    pool = NegativePool({"item": 100}, cfg, degree)
    ids = pool.refresh(torch.Generator().manual_seed(0))["item"]
    assert (ids == 0).float().mean() > 0.8


def test_known_matrix_agrees_with_pairwise_membership():
    graph, _, _ = planted_graph()
    idx = NeighbourIndex(graph)
    gen = torch.Generator().manual_seed(1)
    anchors = torch.randint(0, graph.num_nodes["user"], (40,), generator=gen)
    columns = torch.randint(0, graph.num_nodes["item"], (30,), generator=gen)
    columns[:5] = columns[5:10]  # duplicate columns
    columns[-1] = -1  # a skipped column
    got = idx.known_matrix("user", anchors, "item", columns)
    want = idx.contains("user", anchors.unsqueeze(1), "item", columns.unsqueeze(0))
    want[:, -1] = False
    assert got.any() and torch.equal(got, want)


def test_item_family_candidates_include_other_item_types_and_mask_only_the_same_node():
    # Types: 0 "post", 1 "user", 2 "video"; anchors are users, targets are two posts and two videos
    # sharing local ids 0 and 1 across types.
    types = ["post", "user", "video"]
    gen = torch.Generator().manual_seed(0)
    H, D = 2, 4
    a = F.normalize(torch.randn(4, H, D, generator=gen), dim=-1)
    t = F.normalize(torch.randn(4, H, D, generator=gen), dim=-1)
    tgt_type = torch.tensor([0, 0, 2, 2])
    tgt_ids = torch.tensor([0, 1, 0, 1])
    cfg = NegativesConfig(pool=False, semantic=False)
    args = (types, torch.ones(4, dtype=torch.long), torch.arange(4), a, tgt_type, tgt_ids, t, cfg)
    own = {g.node_type: g for g in build_candidates(*args)}
    mixed = {g.node_type: g for g in build_candidates(*args, families={"post": ["post", "video"], "video": ["post", "video"]})}
    assert own["post"].neg.shape[-1] == 2 and mixed["post"].neg.shape[-1] == 4
    # Post row 0 (post 0): masked against post 0 only, video 0 (same local id, other type) stays.
    assert mixed["post"].mask[0].tolist() == [False, True, True, True]
    assert torch.allclose(mixed["post"].neg[:, 0, 2], torch.einsum("hd,hd->h", a[0], t[2]))
