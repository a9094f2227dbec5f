"""Analysis: tune the popularity read-out for a longer horizon than the held-out edges cover.

The held-out edges are the newest 2% of train (about 70 days on Ciao); the test is the next
365 days. This counts the read-out's log-popularity only up to a lag L before the held-out
edges, for L from 0 to (horizon - held-out span), so the held-out edges sit as far from the
end of the counted window as test events sit from the cut; it tunes the window and betas at
each lag and on the mean over lags, and scores each choice on RUN_DIR's test period.
docs/results.md, round 6 (on a validation-year run from `validation_year.py`):

    python experiments/ciao/readout_horizon.py RUN_DIR MODEL_DIR:SEED [--horizon-days 365] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from rankgraph.config import load_config
from rankgraph.data.events import read_events
from rankgraph.embed.export import embedding_set_from_vectors
from rankgraph.evaluate.compare import embedding_recommender, eval_data_for, headline
from rankgraph.evaluate.evaluator import evaluate
from rankgraph.evaluate.readout import heldout_eval_data, tune_readout
from rankgraph.graph.store import HeteroGraph
from rankgraph.model.inference import layerwise_embed
from rankgraph.train.trainer import READOUT_MAX_USERS, Trainer

DAY = 86400


def lagged_log_q(relations: list, item_types: list[str], fraction: float, until: int) -> np.ndarray:
    """log q over the stacked `item_types`: the newest `fraction` of edges no newer than `until`."""
    times = np.concatenate([np.asarray(r.time) for r in relations])
    since = np.quantile(times[times <= until], 1.0 - fraction, method="lower")
    degree: dict[str, np.ndarray] = {}
    for rel in relations:
        t = np.asarray(rel.time)
        counted = (t >= since) & (t <= until)
        degree[rel.dst_type] = degree.get(rel.dst_type, 0.0) + np.bincount(
            rel.dst_index()[counted], minlength=rel.num_dst
        )
    total = sum(float((d + 1.0).sum()) for d in degree.values())
    return np.concatenate([np.log((degree[t] + 1.0) / total) for t in item_types]).astype(
        np.float32
    )


def choose(
    trials: dict[tuple[float, float], dict[int, tuple[float, float]]], lags: list[int]
) -> tuple[float, float, float]:
    """(window, user beta, item beta) maximising the recalls averaged over `lags`, as
    `rankgraph.evaluate.readout.tune_readout` chooses (ties: smaller beta, longer window)."""
    best = None
    for fraction in sorted({f for f, _ in trials}, reverse=True):
        betas = sorted(b for f, b in trials if f == fraction)
        side = [
            max(betas, key=lambda b: (np.mean([trials[fraction, b][lag][s] for lag in lags]), -b))
            for s in (0, 1)
        ]
        total = sum(
            np.mean([trials[fraction, b][lag][s] for lag in lags]) for s, b in enumerate(side)
        )
        if best is None or total > best[0]:
            best = (total, fraction, side[0], side[1])
    return best[1], best[2], best[3]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument(
        "--config", type=Path, help="the run's config (default: RUN_DIR/data/rankgraph.yaml)"
    )
    parser.add_argument("model", help="MODEL_DIR:SEED, trained on RUN_DIR's graph")
    parser.add_argument("--horizon-days", type=float, default=365.0)
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], help="config override key=value"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    graph = HeteroGraph.load(args.run_dir / "graph")
    model_dir, seed = args.model.rsplit(":", 1)
    cfg = load_config(
        args.config or args.run_dir / "data" / "rankgraph.yaml",
        ["train.tensorboard=false", *args.overrides, f"train.seed={int(seed)}"],
    )
    trainer = Trainer(graph, cfg, model_dir)
    trainer.fit(resume=True)
    heldout = trainer.heldout_vectors()
    user_type = cfg.data.user_type
    val = trainer.sampler.val
    held = [
        (name, val.src[val.rel == i], val.dst[val.rel == i])
        for i, name in enumerate(trainer.sampler.names)
    ]
    data = heldout_eval_data(trainer.graph, held, user_type)
    relations = [
        r
        for r in trainer.graph.relations.values()
        if r.kind == "engagement" and r.src_type == user_type and r.dst_type != user_type
    ]
    train_end = int(max(np.asarray(r.time).max() for r in relations))
    span = (
        int(
            max(
                np.asarray(r.time).max()
                for r in graph.relations.values()
                if r.name in {x.name for x in relations}
            )
        )
        - train_end
    )
    gap = max(0, int(args.horizon_days * DAY) - span)
    lags = [0, gap // 2, gap]
    print(
        f"held-out span {span / DAY:.0f} days; lags {[round(x / DAY) for x in lags]} days",
        flush=True,
    )
    items = np.concatenate([heldout[t] for t in data.item_types])
    ecfg = replace(
        cfg.evaluate, max_users=min(cfg.evaluate.max_users or READOUT_MAX_USERS, READOUT_MAX_USERS)
    )
    trials: dict[tuple[float, float], dict[int, tuple[float, float]]] = {}
    k, w = ecfg.tuning_k, ecfg.tune_cross_domain_weight
    for lag in lags:
        log_q = {
            f: lagged_log_q(relations, data.item_types, f, train_end - lag)
            for f in ecfg.popularity_recent_grid
        }
        choice = tune_readout(
            heldout[user_type],
            items,
            log_q,
            data,
            ecfg,
            trainer.tcfg.temperature,
            ecfg.popularity_readout_grid,
        )
        for t in choice.trials:  # the objective of tune_readout (`tuning_score`) per side
            trials.setdefault((t["recent_fraction"], t["beta"]), {})[lag] = tuple(
                t[f"{part}.recall@{k}"] + w * (t[f"{part}.cross_domain.recall@{k}"] or 0.0)
                for part in ("user_item", "engagement_recall")
            )
    choices = {f"lag {round(lag / DAY)} days": choose(trials, [lag]) for lag in lags}
    choices["mean over lags"] = choose(trials, lags)
    trainer.model.load_state_dict(trainer.final_state())
    vectors = {
        t: np.asarray(v) for t, v in layerwise_embed(trainer.model, graph, device="cpu").items()
    }
    events = read_events(cfg.data)
    cut = json.loads((args.run_dir / "metrics.json").read_text())["cut"]
    for name, (fraction, users, items_beta) in choices.items():
        readout = {"users": users, "items": items_beta, "recent_fraction": fraction}
        emb = embedding_set_from_vectors(graph, vectors, cfg, meta={"popularity_readout": readout})
        test = eval_data_for(emb, events, cut)
        metrics = evaluate(
            test,
            embedding_recommender(emb, test, cfg),
            cfg.evaluate,
            parts=("engagement_recall", "user_item"),
        )
        figures = {c: None if v is None else round(v, 4) for c, v in headline(metrics, 100).items()}
        print(json.dumps({"tuned on": name, "readout": readout, **figures}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
