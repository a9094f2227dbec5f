from __future__ import annotations

import numpy as np
import pytest
import torch

from rankgraph.errors import ConfigError
from rankgraph.graph.sample import NeighborSampler, unique_in_order
from rankgraph.graph.store import HeteroGraph, Relation, csr_from_coo, reverse_relation


def _graph(seed: int = 0) -> HeteroGraph:
    """user -> item with item degrees from 0 to 30, plus the reverse and a user-user relation."""
    rng = np.random.default_rng(seed)
    n_user, n_item = 40, 12
    src, dst = [], []
    for i in range(n_item):  # test data construction, not a hot path
        nbrs = rng.choice(n_user, size=int(i * 30 / (n_item - 1)), replace=False)
        src.append(nbrs)
        dst.append(np.full(len(nbrs), i))
    src, dst = np.concatenate(src), np.concatenate(dst)
    w = rng.uniform(0.1, 5.0, len(src)).astype(np.float32)
    indptr, indices, weight = csr_from_coo(src, dst, w, n_item)
    click = Relation("user__click__item", "user", "item", indptr, indices, weight, reverse="item__rev_click__user")
    rev = reverse_relation(click, "item__rev_click__user", n_user)
    fs, fd = rng.integers(0, n_user, 100), rng.integers(0, n_user, 100)
    keep = fs != fd
    fp, fx, fw = csr_from_coo(fs[keep], fd[keep], np.ones(keep.sum(), np.float32), n_user)
    follow = Relation("user__follows__user", "user", "user", fp, fx, fw, kind="side", reverse=None)
    return HeteroGraph(num_nodes={"user": n_user, "item": n_item}, relations={r.name: r for r in (click, rev, follow)})


def _edges(graph: HeteroGraph, name: str) -> set[tuple[int, int]]:
    r = graph.relations[name]
    return set(zip(r.indices.tolist(), r.dst_index().tolist()))


def _sample(graph, fanouts, seeds, weighted=False, seed=0):
    return NeighborSampler(graph, fanouts, weighted=weighted).sample(seeds, torch.Generator().manual_seed(seed))


def _frontiers(sub):
    """Global node ids of the source rows of each block (input block first), then the seeds."""
    nodes = [sub.input_nodes]
    for b in sub.blocks[:-1]:
        nodes.append({t: nodes[-1][t][: b.n_dst[t]] for t in b.n_dst})
    return nodes


@pytest.mark.parametrize("weighted", [False, True])
def test_sampled_edges_are_graph_edges_and_respect_fanouts(weighted):
    graph = _graph()
    sub = _sample(graph, [4, 3], {"item": torch.arange(12), "user": torch.tensor([0, 5])}, weighted=weighted)
    fronts = _frontiers(sub)
    for b, (block, src_nodes) in enumerate(zip(sub.blocks, fronts)):
        fanout = [3, 4][b]
        for name, rel in block.relations.items():
            r = graph.relations[name]
            dst_nodes = src_nodes[r.dst_type][: block.n_dst[r.dst_type]]
            gdst, gsrc = dst_nodes[rel.dst()], src_nodes[r.src_type][rel.src]
            assert set(zip(gsrc.tolist(), gdst.tolist())) <= _edges(graph, name)
            counts = torch.diff(rel.crow)
            full_deg = torch.as_tensor(np.diff(r.indptr))[dst_nodes]
            assert torch.equal(counts, torch.minimum(full_deg, torch.tensor(fanout)))


def test_sampling_is_without_replacement():
    graph = _graph()
    sub = _sample(graph, [5], {"item": torch.arange(12)})
    rel = sub.blocks[0].relations["user__click__item"]
    pairs = torch.stack([rel.dst(), rel.edge_id], 1)
    assert torch.unique(pairs, dim=0).shape[0] == pairs.shape[0]


def test_destinations_are_the_first_source_rows_of_each_block():
    graph = _graph()
    seeds = {"item": torch.tensor([11, 3, 7])}
    sub = _sample(graph, [3, 2], seeds)
    assert sub.blocks[-1].n_dst["item"] == 3
    fronts = _frontiers(sub)
    assert torch.equal(fronts[-1]["item"][:3], seeds["item"])
    for nodes in sub.input_nodes.values():
        assert torch.unique(nodes).shape[0] == nodes.shape[0]


def test_duplicate_seeds_map_back_to_one_row():
    sub = _sample(_graph(), [2], {"user": torch.tensor([4, 2, 4, 4])})
    assert torch.equal(sub.seed_nodes["user"], torch.tensor([4, 2]))
    assert torch.equal(sub.seed_inverse["user"], torch.tensor([0, 1, 0, 0]))


def test_same_generator_seed_gives_the_same_sample():
    graph = _graph()
    a = _sample(graph, [3, 3], {"item": torch.arange(12)}, seed=7)
    b = _sample(graph, [3, 3], {"item": torch.arange(12)}, seed=7)
    c = _sample(graph, [3, 3], {"item": torch.arange(12)}, seed=8)
    assert torch.equal(a.input_nodes["user"], b.input_nodes["user"])
    ids = lambda s: s.blocks[-1].relations["user__click__item"].edge_id  # noqa: E731
    assert torch.equal(ids(a), ids(b)) and not torch.equal(ids(a), ids(c))


def test_per_relation_fanouts():
    graph = _graph()
    fanouts = {"user__click__item": [2], "item__rev_click__user": [1], "user__follows__user": [0]}
    sub = _sample(graph, fanouts, {"item": torch.arange(12), "user": torch.arange(40)})
    block = sub.blocks[0]
    assert int(torch.diff(block.relations["user__click__item"].crow).max()) == 2
    assert int(torch.diff(block.relations["item__rev_click__user"].crow).max()) == 1
    assert block.relations["user__follows__user"].num_edges == 0
    with pytest.raises(ConfigError, match="user__follows__user"):
        NeighborSampler(graph, {"user__click__item": [2], "item__rev_click__user": [1]})


def _star(num_dst: int, weights: np.ndarray) -> HeteroGraph:
    """`num_dst` destinations, each with the same in-neighbours 0..k-1 carrying `weights`."""
    k = len(weights)
    src = np.tile(np.arange(k), num_dst)
    dst = np.repeat(np.arange(num_dst), k)
    indptr, indices, weight = csr_from_coo(src, dst, np.tile(weights, num_dst), num_dst)
    rel = Relation("a__r__b", "a", "b", indptr, indices, weight, reverse=None)
    return HeteroGraph(num_nodes={"a": k, "b": num_dst}, relations={rel.name: rel})


def _picked(graph, fanout, weighted):
    sub = _sample(graph, [fanout], {"b": torch.arange(graph.num_nodes["b"])}, weighted=weighted, seed=3)
    rel = sub.blocks[0].relations["a__r__b"]
    return graph.relations["a__r__b"].indices[rel.edge_id.numpy()].astype(np.int64)


def test_weighted_sampling_frequencies_match_the_weights():
    stats = pytest.importorskip("scipy.stats")
    weights = np.array([1.0, 2.0, 3.0, 4.0, 10.0], dtype=np.float32)
    picked = _picked(_star(4000, weights), 1, weighted=True)
    counts = np.bincount(picked, minlength=5)
    expected = 4000 * weights / weights.sum()
    assert stats.chisquare(counts, expected).pvalue > 1e-3
    # and uniform sampling of the same graph ignores the weights
    counts_u = np.bincount(_picked(_star(4000, weights), 1, weighted=False), minlength=5)
    assert stats.chisquare(counts_u, np.full(5, 800.0)).pvalue > 1e-3
    assert stats.chisquare(counts_u, expected).pvalue < 1e-6


def test_uniform_sampling_picks_every_subset_equally_often():
    stats = pytest.importorskip("scipy.stats")
    picked = _picked(_star(3000, np.ones(6, np.float32)), 2, weighted=False).reshape(-1, 2)
    picked.sort(axis=1)
    pair_ids = picked[:, 0] * 6 + picked[:, 1]
    assert (picked[:, 0] < picked[:, 1]).all()  # never the same neighbour twice
    counts = np.bincount(pair_ids, minlength=36)[[a * 6 + b for a in range(6) for b in range(a + 1, 6)]]
    assert counts.sum() == 3000
    assert stats.chisquare(counts, np.full(15, 200.0)).pvalue > 1e-3


@pytest.mark.parametrize("with_scratch", [False, True])
def test_unique_in_order_keeps_first_appearance_order(with_scratch):
    scratch = torch.full((10,), torch.iinfo(torch.int64).max) if with_scratch else None
    uniq, inv = unique_in_order(torch.tensor([5, 3, 5, 9, 3, 1]), scratch)
    assert torch.equal(uniq, torch.tensor([5, 3, 9, 1]))
    assert torch.equal(uniq[inv], torch.tensor([5, 3, 5, 9, 3, 1]))
    if with_scratch:
        assert bool((scratch == torch.iinfo(torch.int64).max).all())


def test_uniform_sampled_aggregation_is_unbiased_for_the_full_one():
    from rankgraph.model.tensors import GraphTensors

    graph = _graph()
    gt = GraphTensors.from_graph(graph)
    name = "user__click__item"
    x = torch.randn(40, 3, generator=torch.Generator().manual_seed(0))
    full = gt.adjacency(name, "mean").matmul(x)
    sampler = NeighborSampler(gt, [4])
    gen = torch.Generator().manual_seed(1)
    total = torch.zeros_like(full)
    runs = 800
    for _ in range(runs):
        sub = sampler.sample({"item": torch.arange(12)}, gen)
        adj = sub.blocks[0].adjacency("mean")[name]
        total += adj.matmul(x[sub.input_nodes["user"]])
    # degree-30 rows sample 4 of 30 edges; the average of 800 draws is within a few % of the truth
    torch.testing.assert_close(total / runs, full, rtol=0.0, atol=0.12)
    assert not torch.allclose(adj.matmul(x[sub.input_nodes["user"]]), full, atol=0.05)


@pytest.mark.parametrize("weighted", [False, True])
def test_mixed_fanouts_in_one_hop_take_min_of_degree_and_fanout(weighted):
    """Per-relation fan-outs differ within a hop (-1 = all, 0 = none), with degree-0 rows among them."""
    graph = _graph()
    fanouts = {"user__click__item": [3, 0], "item__rev_click__user": [-1, 2], "user__follows__user": [2, 5]}
    sub = _sample(graph, fanouts, {"item": torch.arange(12), "user": torch.tensor([0, 7])}, weighted=weighted)
    fronts = _frontiers(sub)
    for hop, (block, src_nodes) in enumerate(zip(reversed(sub.blocks), reversed(fronts))):
        for name, rel in block.relations.items():
            r = graph.relations[name]
            dst_nodes = src_nodes[r.dst_type][: block.n_dst[r.dst_type]]
            deg = torch.as_tensor(np.diff(r.indptr))[dst_nodes]
            k = fanouts[name][hop]
            expected = deg if k < 0 else torch.clamp(deg, max=k)
            assert torch.equal(torch.diff(rel.crow), expected), (name, hop)
            gdst, gsrc = dst_nodes[rel.dst()], src_nodes[r.src_type][rel.src]
            assert set(zip(gsrc.tolist(), gdst.tolist())) <= _edges(graph, name)
            pairs = torch.stack([rel.dst(), rel.edge_id], 1)
            assert torch.unique(pairs, dim=0).shape[0] == pairs.shape[0]
            kept_all = (deg <= k) | (k < 0)
            assert torch.all(rel.factor[kept_all[rel.dst()]] == 1.0)
            if not weighted and k > 0:
                sampled = ~kept_all[rel.dst()]
                torch.testing.assert_close(rel.factor[sampled], deg[rel.dst()][sampled].float() / k)
    seed_block = sub.blocks[-1].relations["user__click__item"]  # item 0 (a seed) has no clicks: an empty row
    assert int(np.diff(graph.relations["user__click__item"].indptr)[0]) == 0
    assert int(seed_block.crow[1] - seed_block.crow[0]) == 0


def _two_stars(num_dst: int, weights_a: np.ndarray, weights_b: np.ndarray) -> HeteroGraph:
    """Two relations into the same destinations: `a -> b` with the weights `weights_a`, `c -> b` with `weights_b`."""
    rels = []
    for name, src_t, w in (("a__r__b", "a", weights_a), ("c__s__b", "c", weights_b)):
        k = len(w)
        src, dst = np.tile(np.arange(k), num_dst), np.repeat(np.arange(num_dst), k)
        indptr, indices, weight = csr_from_coo(src, dst, np.tile(w, num_dst), num_dst)
        rels.append(Relation(name, src_t, "b", indptr, indices, weight, reverse=None))
    return HeteroGraph(
        num_nodes={"a": len(weights_a), "c": len(weights_b), "b": num_dst}, relations={r.name: r for r in rels}
    )


def _picked_subsets(graph, fanouts, name, weighted, seed=3):
    sub = _sample(graph, fanouts, {"b": torch.arange(graph.num_nodes["b"])}, weighted=weighted, seed=seed)
    rel = sub.blocks[0].relations[name]
    picked = graph.relations[name].indices[rel.edge_id.numpy()].astype(np.int64)
    return np.sort(picked.reshape(graph.num_nodes["b"], fanouts[name][0]), axis=1)


def test_uniform_sampling_with_different_fanouts_per_relation_is_uniform():
    stats = pytest.importorskip("scipy.stats")
    graph = _two_stars(3000, np.ones(6, np.float32), np.ones(5, np.float32))
    fanouts = {"a__r__b": [2], "c__s__b": [3]}  # one Floyd pass with per-row k
    for name, n, k in (("a__r__b", 6, 2), ("c__s__b", 5, 3)):
        picked = _picked_subsets(graph, fanouts, name, weighted=False)
        assert (np.diff(picked, axis=1) > 0).all()  # never the same neighbour twice
        ids = (picked * n ** np.arange(k)).sum(1)
        counts = np.unique(ids, return_counts=True)[1]
        n_subsets = {(6, 2): 15, (5, 3): 10}[(n, k)]
        assert len(counts) == n_subsets
        assert stats.chisquare(counts).pvalue > 1e-3


def test_weighted_sampling_with_different_fanouts_per_relation_follows_the_weights():
    stats = pytest.importorskip("scipy.stats")
    w_a = np.array([1.0, 2.0, 3.0, 4.0, 10.0], dtype=np.float32)
    graph = _two_stars(4000, w_a, np.ones(4, np.float32))
    fanouts = {"a__r__b": [1], "c__s__b": [2]}
    picked = _picked_subsets(graph, fanouts, "a__r__b", weighted=True)[:, 0]
    counts = np.bincount(picked, minlength=5)
    assert stats.chisquare(counts, 4000 * w_a / w_a.sum()).pvalue > 1e-3
    pairs = _picked_subsets(graph, fanouts, "c__s__b", weighted=True)
    assert (np.diff(pairs, axis=1) > 0).all()


@pytest.mark.parametrize("weighted", [False, True])
def test_a_sample_does_not_depend_on_earlier_batches(weighted):
    graph = _graph()
    seeds = {"item": torch.tensor([3, 11, 7]), "user": torch.tensor([1, 2])}
    used = NeighborSampler(graph, [3, 2], weighted=weighted)
    for s in range(3):
        used.sample({"item": torch.arange(12), "user": torch.arange(s, 40, 3)}, torch.Generator().manual_seed(s))
    a = used.sample(seeds, torch.Generator().manual_seed(5))
    b = NeighborSampler(graph, [3, 2], weighted=weighted).sample(seeds, torch.Generator().manual_seed(5))
    for t in a.input_nodes:
        assert torch.equal(a.input_nodes[t], b.input_nodes[t])
    for ba, bb in zip(a.blocks, b.blocks):
        for name in ba.relations:
            ra, rb = ba.relations[name], bb.relations[name]
            assert torch.equal(ra.edge_id, rb.edge_id) and torch.equal(ra.src, rb.src)
            assert torch.equal(ra.crow, rb.crow) and torch.equal(ra.factor, rb.factor)


@pytest.fixture(params=[True, False], ids=["cpu_paths", "generic_paths"])
def code_paths(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Run the test on the CPU-only code paths and on the generic (CUDA) ones."""
    import rankgraph.graph.sample as sample_mod

    monkeypatch.setattr(sample_mod, "_CPU_PATHS", request.param)
    return request.param


def test_first_seen_numbering_matches_unique_in_order_across_tag_refills(code_paths):
    from rankgraph.graph.sample import _FirstSeen

    seen = _FirstSeen(50, torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    for step in range(40):
        if step == 20:
            seen.base = 60  # nearly out of tags: the next calls refill the slots
        x = torch.randint(0, 50, (int(torch.randint(0, 40, (1,), generator=gen)),), generator=gen)
        uniq, inv = seen(x)
        ref_uniq, ref_inv = unique_in_order(x)
        assert torch.equal(uniq, ref_uniq) and torch.equal(inv, ref_inv)


@pytest.mark.parametrize(
    "counts, row_bounds",
    [
        # empty rows first, last and in a row; a relation without rows; a relation without edges
        ([0, 2, 0, 0, 3, 1, 0, 0, 0, 4, 0], [0, 3, 3, 8, 9, 11]),
        ([3, 0, 1], [0, 3]),  # one relation
        ([0, 0, 0, 0], [0, 1, 4]),  # no edges at all
        ([], [0, 0, 0]),  # no rows at all
    ],
)
@pytest.mark.parametrize("packed", [True, False])
def test_edge_layout_matches_repeat_interleave(counts, row_bounds, packed):
    from rankgraph.graph.sample import _edge_layout

    counts = torch.tensor(counts, dtype=torch.int64)
    start = torch.randint(0, 1000, (len(counts),), generator=torch.Generator().manual_seed(0))
    crow = torch.zeros(len(counts) + 1, dtype=torch.int64)
    torch.cumsum(counts, 0, out=crow[1:])
    edge_bounds = crow[row_bounds].tolist()
    row, pos = _edge_layout(crow, start, row_bounds, edge_bounds, packed)

    seg = torch.repeat_interleave(counts)  # global row of each edge
    first_row = torch.tensor(row_bounds)[torch.searchsorted(torch.tensor(row_bounds[1:]), seg, right=True)]
    assert row.dtype == pos.dtype == torch.int64
    assert torch.equal(row, seg - first_row)
    assert torch.equal(pos, start[seg] + torch.arange(len(seg)) - crow[seg])


def test_first_seen_with_a_head_numbers_the_head_first(code_paths):
    from rankgraph.graph.sample import _FirstSeen

    seen = _FirstSeen(60, torch.device("cpu"))
    gen = torch.Generator().manual_seed(1)
    for step in range(30):
        head = torch.randperm(60, generator=gen)[: int(torch.randint(0, 20, (1,), generator=gen))]
        x = torch.cat([head, torch.randint(0, 60, (int(torch.randint(0, 40, (1,), generator=gen)),), generator=gen)])
        uniq, inv = seen(x, int(head.shape[0]))
        assert torch.equal(uniq[: head.shape[0]], head)
        assert torch.equal(uniq[inv], x)
        assert torch.equal(torch.sort(uniq).values, torch.unique(x))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(
    "fanouts",
    [
        [3],
        {"user__click__item": [3], "item__rev_click__user": [-1], "user__follows__user": [0]},
        {"user__click__item": [5], "item__rev_click__user": [2], "user__follows__user": [1]},
    ],
)
def test_cpu_paths_draw_the_same_sample_as_the_generic_paths(monkeypatch, weighted, fanouts):
    """On CPU, numpy and `scatter_`'s write order replace some torch ops; the sample is the same
    (the new source nodes may be numbered in another order)."""
    import rankgraph.graph.sample as sample_mod

    graph = _graph()
    seeds = {"item": torch.arange(12), "user": torch.tensor([3, 0, 7, 3])}
    a = _sample(graph, fanouts, seeds, weighted=weighted, seed=4)
    monkeypatch.setattr(sample_mod, "_CPU_PATHS", False)
    b = _sample(graph, fanouts, seeds, weighted=weighted, seed=4)
    for t in seeds:
        assert torch.equal(a.seed_nodes[t], b.seed_nodes[t]) and torch.equal(a.seed_inverse[t], b.seed_inverse[t])
    ba, bb = a.blocks[0], b.blocks[0]
    assert ba.n_src == bb.n_src and ba.n_dst == bb.n_dst
    for t, n in ba.n_dst.items():
        assert torch.equal(a.input_nodes[t][:n], b.input_nodes[t][:n])
        assert torch.equal(torch.sort(a.input_nodes[t]).values, torch.sort(b.input_nodes[t]).values)
    for name, ra in ba.relations.items():
        rb = bb.relations[name]
        for f in ("crow", "factor", "edge_id", "dst_row", "src_nodes"):
            assert torch.equal(getattr(ra, f), getattr(rb, f)), (name, f)
        assert torch.equal(a.input_nodes[ra.src_type][ra.src], b.input_nodes[rb.src_type][rb.src])
