"""Score trained RankGraph models, alone or as one ensemble, on a `rankgraph run`'s test split.

The figures of docs/results.md (rounds 5 and 6) come from this script. It runs the stages of
`rankgraph run` after the graph build, on the run's graph and config: train each model (or
resume a finished one), tune the popularity read-out on the held-out edges, embed with
exact layer-wise inference, evaluate on the run's test period. With several models it serves
them as `train.ensemble` does (`rankgraph.model.ensemble.combine_member_vectors`), tuning the
read-out once on the combined held-out vectors of the last model's split. Under
`train.val_split: temporal` (the Tang default) every seed holds out the same newest
user->item edges, which are all the tuning scores, so models trained separately combine
cleanly; their untimed (semantic, side) edges are split per seed, where `train.ensemble`
shares the first seed's split.

    python experiments/ciao/score_models.py RUN_DIR TAG MODEL_DIR:SEED [MODEL_DIR:SEED ...]
        [--set key=value ...] [--results results.jsonl]

RUN_DIR is the output of `rankgraph run --dataset tang --path ../shared/data/ciao --out RUN_DIR`
(its graph/, metrics.json and data/rankgraph.yaml). A MODEL_DIR that holds no finished
training is trained there first with `train.seed=SEED` (~13 min per model on Ciao, one core).
One JSON line per call goes to --results: the read-out chosen, the headline figures at K=100
and the tuning trials.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from rankgraph.config import load_config
from rankgraph.data.events import read_events
from rankgraph.embed.export import embedding_set_from_vectors
from rankgraph.evaluate.compare import embedding_recommender, eval_data_for, headline
from rankgraph.evaluate.evaluator import evaluate
from rankgraph.graph.store import HeteroGraph
from rankgraph.model.ensemble import combine_member_vectors
from rankgraph.model.inference import layerwise_embed
from rankgraph.train.trainer import Trainer


def rounded(value: float | None) -> float | None:
    """A figure as the tables print it; None where no user could be scored."""
    return None if value is None else round(value, 4)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument(
        "--config", type=Path, help="the run's config (default: RUN_DIR/data/rankgraph.yaml)"
    )
    parser.add_argument("tag")
    parser.add_argument("models", nargs="+", help="MODEL_DIR:SEED, one per member")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], help="config override key=value"
    )
    parser.add_argument("--results", type=Path, default=Path("results.jsonl"))
    return parser.parse_args(argv)


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    torch.set_num_threads(1)
    run_metrics = json.loads((args.run_dir / "metrics.json").read_text())
    graph = HeteroGraph.load(args.run_dir / "graph")
    started = time.time()
    heldout, full, trainer, cfg = [], [], None, None
    for spec in args.models:
        model_dir, seed = spec.rsplit(":", 1)
        overrides = ["train.tensorboard=false", *args.overrides, f"train.seed={int(seed)}"]
        cfg = load_config(args.config or args.run_dir / "data" / "rankgraph.yaml", overrides)
        trainer = Trainer(graph, cfg, model_dir)
        trainer.fit(resume=True)
        heldout.append(trainer.heldout_vectors())
        trainer.model.load_state_dict(trainer.final_state())
        full.append(
            {
                t: np.asarray(v)
                for t, v in layerwise_embed(trainer.model, graph, device="cpu").items()
            }
        )
    trained = time.time()
    if len(args.models) == 1:
        choice, vectors = trainer.tune_readout(), full[0]
    else:
        choice, vectors = (
            trainer.tune_readout(vectors=combine_member_vectors(heldout)),
            combine_member_vectors(full),
        )
    tuned = time.time()
    readout = {
        k: v for k, v in choice.to_dict().items() if k in ("users", "items", "recent_fraction")
    }
    emb = embedding_set_from_vectors(graph, vectors, cfg, meta={"popularity_readout": readout})
    data = eval_data_for(emb, read_events(cfg.data), run_metrics["cut"])
    metrics = evaluate(
        data,
        embedding_recommender(emb, data, cfg),
        cfg.evaluate,
        parts=("engagement_recall", "user_item"),
    )
    row = {
        "tag": args.tag,
        "models": args.models,
        "overrides": args.overrides,
        "train_s": round(trained - started),
        "tune_s": round(tuned - trained),
        "readout": readout,
        **{k: rounded(v) for k, v in headline(metrics, 100).items()},
        "by_activity": {
            b: rounded(v["recall@100"]) for b, v in metrics["user_item"]["by_activity"].items()
        },
        "trials": choice.trials,
    }
    print(json.dumps({k: v for k, v in row.items() if k != "trials"}), flush=True)
    with args.results.open("a") as out:
        out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
