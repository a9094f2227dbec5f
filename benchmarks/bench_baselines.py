"""Baselines on Ciao (Tang et al.): quality on the project's temporal split, and fit+score time.

Usage: .venv/bin/python benchmarks/bench_baselines.py [--data ../shared/data/ciao] [--out DIR]

Converts the crawl (`rankgraph.data.tang.convert_tang`), splits at the default cut (last 12
months), tunes each baseline's grid on a validation slice carved from train, refits on all
of train and prints Engagement Recall@K, Recall@K, NDCG@K (all / cross-domain) and seconds,
with the random baseline in the same run as the floor. Writes `baselines.json` to --out.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from rankgraph.config.evaluate import EvaluateConfig
from rankgraph.data.split import default_tang_cut, temporal_split
from rankgraph.data.tang import convert_tang
from rankgraph.evaluate.baselines import BASELINES, DEFAULT_GRIDS
from rankgraph.evaluate.data import EvalData
from rankgraph.evaluate.evaluator import evaluate
from rankgraph.evaluate.tune import tune


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "ciao"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--baselines", default="random,popularity,itemcf,als")
    args = ap.parse_args()
    out_dir = Path(args.out or tempfile.mkdtemp(prefix="bench_baselines-"))
    ds = convert_tang(args.data, out_dir / "canonical")
    events = pq.read_table(ds.events_path)
    cut = default_tang_cut(events.select(["ts"]), ds.time_unit)
    data = EvalData.from_split(temporal_split(events, cut=cut))
    print(f"cut {cut}: {data.n_users} users, {data.n_items} items, {len(data.train)} train / {len(data.test)} test events")
    cfg = EvaluateConfig(ks=[20, 50, 100], trigger_weights={"rate_5": 1.0, "rate_4": 1.0, "rate_low": 0.5})
    results = {}
    for name in args.baselines.split(","):
        t0 = time.perf_counter()
        grid = DEFAULT_GRIDS[name]
        best, trials = tune(BASELINES[name], grid, data, cfg) if grid else ({}, [])
        t1 = time.perf_counter()
        res = evaluate(data, BASELINES[name](**best).fit(data), cfg)
        t2 = time.perf_counter()
        results[name] = {"params": best, "trials": trials, "metrics": res, "tune_s": t1 - t0, "fit_eval_s": t2 - t1}
        er, ui, xd = res["engagement_recall"]["all"], res["user_item"]["all"], res["user_item"]["cross_domain"]
        print(
            f"{name:10s} ER@20 {er['recall@20']:.4f} ER@100 {er['recall@100']:.4f}  R@20 {ui['recall@20']:.4f} "
            f"NDCG@20 {ui['ndcg@20']:.4f} R@100 {ui['recall@100']:.4f}  cross-domain R@100 {xd['recall@100']:.4f} "
            f"(users {ui['users']}, cross-domain users {xd['users']})  tune {t1 - t0:.1f} s, fit+eval {t2 - t1:.1f} s  {best}",
            flush=True,
        )
    (out_dir / "baselines.json").write_text(json.dumps(results, indent=2))
    print(f"wrote {out_dir / 'baselines.json'}")


if __name__ == "__main__":
    main()
