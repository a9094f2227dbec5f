"""Analysis: a domain-aware read-out. Does an offset for unfamiliar domains lift cross-domain recall?

User->item scores get `delta` added for items in a domain the user never engaged with before
the cut; item->item neighbour scores get `delta` for neighbours in another domain than the
query item. Both ride as one more inner-product dimension per domain (a one-hot on the item
side), so a FAISS index would answer them as it answers the popularity read-out. Scored on
RUN_DIR's test period with the run's own embeddings and tuned read-out; docs/results.md,
round 6 (on a validation-year run from `validation_year.py`):

    python experiments/ciao/domain_offset.py RUN_DIR [--user-deltas -1,0,0.5,1,2,4] [--item-deltas 0,0.5,1,2,4]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from rankgraph.config import load_config
from rankgraph.data.events import read_events
from rankgraph.embed.artifact import EmbeddingSet
from rankgraph.embed.index import EmbeddingIndex
from rankgraph.embed.readout import PopularityReadout, probability_scale
from rankgraph.evaluate.compare import eval_data_for, headline
from rankgraph.evaluate.data import EvalData
from rankgraph.evaluate.evaluator import evaluate
from rankgraph.evaluate.protocol import self_exclusion


class DomainOffsetRecommender:
    """The popularity read-out of `rankgraph.embed.readout` plus a per-domain offset."""

    def __init__(
        self, emb: EmbeddingSet, data: EvalData, readout: PopularityReadout, index_cfg
    ) -> None:
        items, _, _ = emb.stacked_items(data.item_types)
        self.items = np.asarray(items, np.float32)
        self.users = np.asarray(emb.types[emb.user_type].vectors, np.float32)
        self.readout = readout
        domain = np.full(self.items.shape[0], -1, np.int64)
        for part in (data.train, data.test):
            domain[part.item] = part.domain
        self.item_domain = np.zeros((self.items.shape[0], len(data.domains)), np.float32)
        self.item_domain[domain >= 0, domain[domain >= 0]] = 1.0
        self.user_domain = np.zeros((self.users.shape[0], len(data.domains)), np.float32)
        self.user_domain[data.train.user, data.train.domain] = 1.0
        targets = np.concatenate([self.items, readout.log_q[:, None], self.item_domain], axis=1)
        self.index = EmbeddingIndex(targets, index_cfg)
        self.user_delta = self.item_delta = 0.0

    def _query(
        self, vectors: np.ndarray, beta: float, unfamiliar: np.ndarray, delta: float
    ) -> np.ndarray:
        beta_column = np.full((vectors.shape[0], 1), beta, np.float32)
        return np.concatenate(
            [vectors / self.readout.temperature, beta_column, delta * unfamiliar], axis=1
        ).astype(np.float32)

    def score_users(self, user_rows, k, exclude=None):
        rows = np.asarray(user_rows, np.int64)
        query = self._query(
            self.users[rows], self.readout.users, 1.0 - self.user_domain[rows], self.user_delta
        )
        return self.index.search(query, k, exclude=exclude)

    def similar_items(self, item_rows, k):
        rows = np.asarray(item_rows, np.int64)
        query = self._query(
            self.items[rows], self.readout.items, 1.0 - self.item_domain[rows], self.item_delta
        )
        scores, neighbours = self.index.search(query, k, exclude=self_exclusion(rows))
        return probability_scale(scores, self.readout.temperature), neighbours


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument(
        "--config", type=Path, help="the run's config (default: RUN_DIR/data/rankgraph.yaml)"
    )
    parser.add_argument("--user-deltas", default="-1,0,0.5,1,2,4")
    parser.add_argument("--item-deltas", default="0,0.5,1,2,4")
    args = parser.parse_args(argv)
    cfg = load_config(args.config or args.run_dir / "data" / "rankgraph.yaml", [])
    emb = EmbeddingSet.load(args.run_dir / "embeddings")
    cut = json.loads((args.run_dir / "metrics.json").read_text())["cut"]
    data = eval_data_for(emb, read_events(cfg.data), cut)
    readout = PopularityReadout.of(emb, data.item_types, "auto", cfg.train.temperature)
    if readout is None:
        sys.exit(f"{args.run_dir / 'embeddings'}: no popularity read-out to add the offset to")
    recommender = DomainOffsetRecommender(emb, data, readout, cfg.evaluate.index)
    for delta in (float(d) for d in args.user_deltas.split(",")):
        recommender.user_delta = delta
        figures = headline(evaluate(data, recommender, cfg.evaluate, parts=("user_item",)), 100)
        print(
            json.dumps(
                {
                    "user delta": delta,
                    "R@100": round(figures["R@100"], 4),
                    "R@100 xd": round(figures["R@100 xd"], 4),
                }
            )
        )
    recommender.user_delta = 0.0
    for delta in (float(d) for d in args.item_deltas.split(",")):
        recommender.item_delta = delta
        figures = headline(
            evaluate(data, recommender, cfg.evaluate, parts=("engagement_recall",)), 100
        )
        print(
            json.dumps(
                {
                    "item delta": delta,
                    "ER@100": round(figures["ER@100"], 4),
                    "ER@100 xd": round(figures["ER@100 xd"], 4),
                }
            )
        )


if __name__ == "__main__":
    main(sys.argv[1:])
