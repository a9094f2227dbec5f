"""Tuning the popularity read-out (`rankgraph.embed.readout`) on held-out edges.

The best beta depends on the data (how much of future engagement popularity explains), so it
is chosen at the end of training on the validation edges the trainer held out of both
positives and message passing, never on test: one beta for user->item retrieval and one for
the item->item neighbours behind Engagement Recall, each by the evaluation's own metric code.
How recent the counted popularity is (`evaluate.popularity_recent_grid`) is chosen with them;
only a temporal hold-out (`train.val_split: temporal`) can tell which window predicts the
future, since random held-out edges are spread over all of train time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    """The betas and popularity window chosen on held-out edges, with every trial (for the
    training summary)."""

    users: float
    items: float
    metric: str
    trials: list[dict[str, Any]] = field(default_factory=list)
    recent_fraction: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "users": self.users,
            "items": self.items,
            "recent_fraction": self.recent_fraction,
            "metric": self.metric,
            "trials": self.trials,
        }


def heldout_eval_data(
    graph: HeteroGraph,
    held_out: Sequence[tuple[str, np.ndarray, np.ndarray]],
    user_type: str,
) -> EvalData | None:
    """An `EvalData` whose train part is `graph`'s user->item engagement edges and whose test
    part is the held-out `(relation name, user rows, item rows)` edges of those relations.

    Every train edge becomes one `engagement` event at its first event time (0 where the
    relation has no times) and every held-out edge one after all of them, so a user's
    Engagement Recall triggers are their latest train items, as at test.
    Returns None when no user->item edge was held out.
    """
    relations = {
        n: r for n, r in graph.relations.items() if r.kind == "engagement" and r.src_type == user_type and r.dst_type != user_type
    }
    item_types = sorted({r.dst_type for r in relations.values()})
    if not item_types:
        return None
    offsets = dict(zip(item_types, np.cumsum([0] + [graph.num_nodes[t] for t in item_types[:-1]])))
    train_u, train_i, train_t, test_u, test_i = [], [], [], [], []
    for name, rel in relations.items():
        train_u.append(np.asarray(rel.indices, np.int64))
        train_i.append(rel.dst_index() + offsets[rel.dst_type])
        train_t.append(np.zeros(rel.num_edges, np.int64) if rel.time is None else np.asarray(rel.time, np.int64))
    for name, users, items in held_out:
        if name in relations:
            test_u.append(np.asarray(users, np.int64))
            test_i.append(np.asarray(items, np.int64) + offsets[relations[name].dst_type])
    if not test_u or sum(u.size for u in test_u) == 0:
        return None
    cut = int(max((int(t.max()) for t in train_t if t.size), default=0)) + 1

    def interactions(users: list[np.ndarray], items: list[np.ndarray], ts: np.ndarray) -> Interactions:
        u, i = np.concatenate(users), np.concatenate(items)
        zeros = np.zeros(u.size, np.int32)
        return Interactions(u, i, zeros, ts, zeros)

    n_test = sum(u.size for u in test_u)
    return EvalData(
        user_ids=pa.array(np.arange(graph.num_nodes[user_type])),
        item_types=item_types,
        item_ids={t: pa.array(np.arange(graph.num_nodes[t])) for t in item_types},
        events=["engagement"],
        domains=["all"],
        train=interactions(train_u, train_i, np.concatenate(train_t)),
        test=interactions(test_u, test_i, np.full(n_test, cut, np.int64)),
        cut=cut,
    )


def tune_readout(
    users: np.ndarray,
    items: np.ndarray,
    log_q: np.ndarray | Mapping[float, np.ndarray],
    data: EvalData,
    cfg: EvaluateConfig,
    temperature: float,
    grid: Sequence[float],
) -> ReadoutChoice:
    """The betas of `grid` that maximise held-out Recall@K (user->item) and Engagement Recall@K
    (item->item) on `data`, K = `cfg.tuning_k` as in baseline tuning; ties keep the smaller beta.

    `log_q` is one log-popularity per item row, or several keyed by the recent fraction of
    edges they count: then the fraction whose best user and item recalls sum highest wins
    (one log q serves both searches), ties keeping the longer window.
    """
    from rankgraph.evaluate.evaluator import evaluate
    from rankgraph.evaluate.protocol import EmbeddingRecommender

    by_fraction = {1.0: log_q} if isinstance(log_q, np.ndarray) else dict(log_q)
    k = cfg.tuning_k
    keys = {"users": ("user_item", f"recall@{k}"), "items": ("engagement_recall", f"recall@{k}")}
    trials: list[dict[str, Any]] = []
    choices: list[tuple[float, float, dict[str, tuple[float, float]]]] = []  # (total, fraction, side -> (score, beta))
    pure_cosine: dict[str, Any] | None = None  # beta 0 ignores log q: scored once for every window
    for fraction in sorted(by_fraction, reverse=True):
        best = {"users": (float("-inf"), 0.0), "items": (float("-inf"), 0.0)}
        readout = PopularityReadout(np.asarray(by_fraction[fraction], np.float32), temperature)
        recommender = EmbeddingRecommender(users, items, cfg.index, readout=readout)  # one index for every beta
        for beta in sorted(float(b) for b in grid):
            if beta == 0.0 and pure_cosine is not None:
                metrics = pure_cosine
            else:
                recommender.set_betas(beta, beta)
                metrics = evaluate(data, recommender, cfg, parts=tuple(p for p, _ in keys.values()))
                if beta == 0.0:
                    pure_cosine = metrics
            trial: dict[str, Any] = {"recent_fraction": float(fraction), "beta": beta}
            for side, (part, name) in keys.items():
                score = metrics[part]["all"][name]  # None when no held-out user could be scored
                trial[f"{part}.{name}"] = None if score is None else float(score)
                if score is not None and float(score) > best[side][0]:
                    best[side] = (float(score), beta)
            trials.append(trial)
        total = sum(score for score, _ in best.values() if score > float("-inf"))
        choices.append((total, float(fraction), best))
    _, fraction, best = max(choices, key=lambda c: c[0])  # first (longest window) among equals
    return ReadoutChoice(
        users=best["users"][1],
        items=best["items"][1],
        metric=f"recall@{k}",
        trials=trials,
        recent_fraction=fraction,
    )
