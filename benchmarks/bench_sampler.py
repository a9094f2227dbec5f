"""Throughput of the 2-layer fan-out [15, 10] neighbour sampler on the ~6M-edge synthetic graph.

Seeds per batch: `--batch` users and as many items (items have skewed, hub-heavy in-degrees).
Reference measured in the same run: a plain Python loop over destination nodes
(`random.sample` per node, a dict for local ids), the obvious implementation.

    .venv/bin/python benchmarks/bench_sampler.py [--scale 1.0] [--batches 20] [--ref-batches 2] [--threads 1] [--paired 7]

The paired figure interleaves the two (10 batches of ours, 1 of the loop, repeated) and
reports the median ratio, which drifts far less on a noisy machine than the two separate
timings above it.
"""

from __future__ import annotations

import argparse
import random
import time

import numpy as np
import torch
from bench_layer import synthetic_graph

from rankgraph.graph.sample import NeighborSampler
from rankgraph.graph.store import HeteroGraph


def python_loop_sample(graph: HeteroGraph, seeds: dict[str, list[int]], fanouts: list[int], rng: random.Random):
    """Reference: the same sampling (uniform, without replacement), one node at a time."""
    frontier = {t: list(dict.fromkeys(seeds.get(t, []))) for t in graph.num_nodes}
    blocks = []
    for k in fanouts:
        local = {t: {v: i for i, v in enumerate(nodes)} for t, nodes in frontier.items()}
        src_nodes = {t: list(nodes) for t, nodes in frontier.items()}
        edges = {}
        for name, r in graph.relations.items():
            out = []
            for i, v in enumerate(frontier[r.dst_type]):
                lo, hi = int(r.indptr[v]), int(r.indptr[v + 1])
                picks = range(lo, hi) if hi - lo <= k else [lo + p for p in rng.sample(range(hi - lo), k)]
                for e in picks:
                    u = int(r.indices[e])
                    m = local[r.src_type]
                    if u not in m:
                        m[u] = len(src_nodes[r.src_type])
                        src_nodes[r.src_type].append(u)
                    out.append((i, m[u], e))
            edges[name] = out
        blocks.append(edges)
        frontier = src_nodes
    return blocks, frontier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--ref-batches", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: the 2 shared cores are oversubscribed)")
    parser.add_argument("--paired", type=int, default=7,
                        help="interleaved rounds (10 batches of ours, then 1 of the loop) for the paired ratio")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    graph = synthetic_graph(args.scale)
    fanouts = [15, 10]
    nnz = sum(r.num_edges for r in graph.relations.values())
    print(f"graph: {graph.num_nodes}, {nnz:,} edges; fanouts {fanouts}; seeds/batch: {args.batch} users + "
          f"{args.batch} items; torch threads={torch.get_num_threads()}")
    rng = np.random.default_rng(0)
    batches = [
        {t: torch.as_tensor(rng.choice(graph.num_nodes[t], args.batch, replace=False)) for t in ("user", "item")}
        for _ in range(max(args.batches, args.ref_batches))
    ]
    results = {}
    for weighted in (False, True):
        sampler = NeighborSampler(graph, fanouts, weighted=weighted)
        gen = torch.Generator().manual_seed(0)
        sampler.sample(batches[0], gen)  # warm-up
        t0 = time.perf_counter()
        edges = 0
        for b in batches[: args.batches]:
            sub = sampler.sample(b, gen)
            edges += sum(r.num_edges for blk in sub.blocks for r in blk.relations.values())
        dt = (time.perf_counter() - t0) / args.batches
        results[weighted] = dt
        kind = "weighted" if weighted else "uniform"
        print(f"ours ({kind}): {dt * 1e3:.1f} ms/batch, {2 * args.batch / dt:,.0f} seeds/s, "
              f"{edges / args.batches:,.0f} sampled edges/batch")
    prng = random.Random(0)
    t0 = time.perf_counter()
    ref_edges = 0
    for b in batches[: args.ref_batches]:
        blocks, _ = python_loop_sample(graph, {t: v.tolist() for t, v in b.items()}, fanouts, prng)
        ref_edges += sum(len(e) for blk in blocks for e in blk.values())
    ref = (time.perf_counter() - t0) / args.ref_batches
    print(f"reference (Python loop, uniform): {ref * 1e3:.1f} ms/batch, {ref_edges / args.ref_batches:,.0f} sampled edges/batch")
    print(f"speed-up ours (uniform) vs Python loop: {ref / results[False]:.1f}x")
    if args.paired > 0:
        # The two timings above come from different moments of a noisy machine; timing them
        # back to back, round after round, and taking the median ratio cancels most drift.
        sampler = NeighborSampler(graph, fanouts, weighted=False)
        gen = torch.Generator().manual_seed(1)
        ratios = []
        for r in range(args.paired):
            own = batches[(r * 10) % len(batches): (r * 10) % len(batches) + 10] or batches[:10]
            t0 = time.perf_counter()
            for b in own:
                sampler.sample(b, gen)
            ours_r = (time.perf_counter() - t0) / len(own)
            b = batches[r % len(batches)]
            t0 = time.perf_counter()
            python_loop_sample(graph, {t: v.tolist() for t, v in b.items()}, fanouts, prng)
            ratios.append((time.perf_counter() - t0) / ours_r)
        ratios.sort()
        print(f"paired speed-up (median of {args.paired} interleaved rounds): {ratios[len(ratios) // 2]:.1f}x "
              f"(range {ratios[0]:.1f}-{ratios[-1]:.1f}x)")


if __name__ == "__main__":
    main()
