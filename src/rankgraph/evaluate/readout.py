"""Tuning the popularity read-out (`rankgraph.embed.readout`) on held-out edges.

The best beta depends on the data (how much of future engagement popularity explains), so it
is chosen at the end of training on the validation edges the trainer held out of both
positives and message passing, never on test: one beta for user->item retrieval and one for
the item->item neighbours behind Engagement Recall, each by the evaluation's own metric code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from rankgraph.config.evaluate import EvaluateConfig
from rankgraph.embed.readout import PopularityReadout
from rankgraph.evaluate.data import EvalData, Interactions
from rankgraph.graph.store import HeteroGraph


@dataclass
class ReadoutChoice:
    """The betas chosen on held-out edges, with every trial (for the training summary)."""

    users: float
    items: float
    metric: str
    trials: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"users": self.users, "items": self.items, "metric": self.metric, "trials": self.trials}


def heldout_eval_data(
    graph: HeteroGraph,
    held_out: Sequence[tuple[str, np.ndarray, np.ndarray]],
    user_type: str,
) -> EvalData | None:
    """An `EvalData` whose train part is `graph`'s user->item engagement edges and whose test
    part is the held-out `(relation name, user rows, item rows)` edges of those relations.

    Every train edge becomes one `engagement` event at time 0 and every held-out edge one at
    time 1 (edge times are not used; triggers are then a user's first `triggers` train items).
    Returns None when no user->item edge was held out.
    """
    relations = {
        n: r for n, r in graph.relations.items() if r.kind == "engagement" and r.src_type == user_type and r.dst_type != user_type
    }
    item_types = sorted({r.dst_type for r in relations.values()})
    if not item_types:
        return None
    offsets = dict(zip(item_types, np.cumsum([0] + [graph.num_nodes[t] for t in item_types[:-1]])))
    train_u, train_i, test_u, test_i = [], [], [], []
    for name, rel in relations.items():
        train_u.append(np.asarray(rel.indices, np.int64))
        train_i.append(rel.dst_index() + offsets[rel.dst_type])
    for name, users, items in held_out:
        if name in relations:
            test_u.append(np.asarray(users, np.int64))
            test_i.append(np.asarray(items, np.int64) + offsets[relations[name].dst_type])
    if not test_u or sum(u.size for u in test_u) == 0:
        return None

    def interactions(users: list[np.ndarray], items: list[np.ndarray], ts: int) -> Interactions:
        u, i = np.concatenate(users), np.concatenate(items)
        zeros = np.zeros(u.size, np.int32)
        return Interactions(u, i, zeros, np.full(u.size, ts, np.int64), zeros)

    return EvalData(
        user_ids=pa.array(np.arange(graph.num_nodes[user_type])),
        item_types=item_types,
        item_ids={t: pa.array(np.arange(graph.num_nodes[t])) for t in item_types},
        events=["engagement"],
        domains=["all"],
        train=interactions(train_u, train_i, 0),
        test=interactions(test_u, test_i, 1),
        cut=1,
    )


def tune_readout(
    users: np.ndarray,
    items: np.ndarray,
    log_q: np.ndarray,
    data: EvalData,
    cfg: EvaluateConfig,
    temperature: float,
    grid: Sequence[float],
) -> ReadoutChoice:
    """The betas of `grid` that maximise held-out Recall@K (user->item) and Engagement Recall@K
    (item->item) on `data`, K = `cfg.tuning_k` as in baseline tuning; ties keep the smaller beta."""
    from rankgraph.evaluate.evaluator import evaluate
    from rankgraph.evaluate.protocol import EmbeddingRecommender

    k = cfg.tuning_k
    keys = {"users": ("user_item", f"recall@{k}"), "items": ("engagement_recall", f"recall@{k}")}
    trials: list[dict[str, Any]] = []
    best = {"users": (float("-inf"), 0.0), "items": (float("-inf"), 0.0)}
    readout = PopularityReadout(np.asarray(log_q, np.float32), temperature)
    recommender = EmbeddingRecommender(users, items, cfg.index, readout=readout)  # one index for every beta
    for beta in sorted(float(b) for b in grid):
        recommender.set_betas(beta, beta)
        metrics = evaluate(data, recommender, cfg, parts=tuple(p for p, _ in keys.values()))
        trial: dict[str, Any] = {"beta": beta}
        for side, (part, name) in keys.items():
            score = metrics[part]["all"][name]  # None when no held-out user could be scored
            trial[f"{part}.{name}"] = None if score is None else float(score)
            if score is not None and float(score) > best[side][0]:
                best[side] = (float(score), beta)
        trials.append(trial)
    return ReadoutChoice(users=best["users"][1], items=best["items"][1], metric=f"recall@{k}", trials=trials)
