"""Engagement Recall on Ciao: neighbours of trigger items only vs of the whole catalogue.

Usage: .venv/bin/python benchmarks/bench_engagement_recall.py [--data ../shared/data/ciao] [--repeat 3]

Ciao (Tang et al.) at the default cut; an `EmbeddingRecommender` over random unit vectors
(dim 128, the default model's served width) with the popularity read-out, so the search cost
is the real one. Each round times `evaluate(parts=("engagement_recall",))` as shipped (the
top-20 neighbours of the items some evaluated user triggers with) and, in the same round, the
reference that searches every catalogue item's neighbours, as the evaluator did before;
prints both, their ratio (median over rounds) and whether the metrics are identical.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

import rankgraph.evaluate.evaluator as evaluator
from rankgraph.config.evaluate import EvaluateConfig
from rankgraph.data.split import default_tang_cut, temporal_split
from rankgraph.data.tang import convert_tang
from rankgraph.embed.readout import PopularityReadout
from rankgraph.evaluate.data import EvalData
from rankgraph.evaluate.protocol import EmbeddingRecommender


def every_item_neighbours(rec, triggers, n_items: int, k: int):
    """The reference: neighbours of the whole catalogue (what the evaluator searched before)."""
    return rec.similar_items(np.arange(n_items), k)


def unit_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "ciao"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dim", type=int, default=128)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_er-") as tmp:
        ds = convert_tang(args.data, Path(tmp) / "canonical")
        events = pq.read_table(ds.events_path)
    cut = default_tang_cut(events.select(["ts"]), ds.time_unit)
    data = EvalData.from_split(temporal_split(events, cut=cut))
    rng = np.random.default_rng(0)
    log_q = np.log((np.bincount(data.train.item, minlength=data.n_items) + 1.0) / (len(data.train) + data.n_items))
    rec = EmbeddingRecommender(
        unit_rows(rng, data.n_users, args.dim), unit_rows(rng, data.n_items, args.dim),
        readout=PopularityReadout(log_q.astype(np.float32), 0.1, users=1.0, items=0.5),
    )  # fmt: skip
    cfg = EvaluateConfig(ks=[20, 50, 100], trigger_weights={"rate_5": 1.0, "rate_4": 1.0, "rate_low": 0.5})
    print(f"cut {cut}: {data.n_users} users, {data.n_items} items, {len(data.train)} train / {len(data.test)} test events")
    shipped = evaluator.trigger_neighbours
    ours, ref, same = [], [], True
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        a = evaluator.evaluate(data, rec, cfg, parts=("engagement_recall",))
        t1 = time.perf_counter()
        evaluator.trigger_neighbours = every_item_neighbours
        try:
            b = evaluator.evaluate(data, rec, cfg, parts=("engagement_recall",))
        finally:
            evaluator.trigger_neighbours = shipped
        t2 = time.perf_counter()
        ours.append(t1 - t0)
        ref.append(t2 - t1)
        same &= a == b
        print(f"  trigger items {t1 - t0:.2f} s, every item {t2 - t1:.2f} s", flush=True)
    ratios = [r / o for o, r in zip(ours, ref)]
    print(
        f"Engagement Recall eval: trigger items {statistics.median(ours):.2f} s, every item (reference) "
        f"{statistics.median(ref):.2f} s -> {statistics.median(ratios):.1f}x faster; identical metrics: {same}"
    )


if __name__ == "__main__":
    main()
