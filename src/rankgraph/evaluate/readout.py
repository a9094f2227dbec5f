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


def item_domains(graph: HeteroGraph, item_types: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Each item row's domain (the graph's `domain` feature, one global row space over
    `item_types` in order) as codes into a sorted vocabulary; items without a domain share
    the code of `""`. All `""` when the graph has no domain feature."""
    vocabs = graph.meta.get("domains", {})
    per_type = []
    for t in item_types:
        col = graph.features.get(t, {}).get("domain")
        if col is None or t not in vocabs:
            per_type.append(np.full(graph.num_nodes[t], "", dtype=object))
        else:
            names = np.array(["" if v is None else str(v) for v in vocabs[t]], dtype=object)
            per_type.append(names[np.asarray(col.values, np.int64)])
    labels = np.concatenate(per_type) if per_type else np.empty(0, dtype=object)
    vocab, codes = np.unique(labels.astype(str), return_inverse=True)
    return codes.astype(np.int32), [str(v) for v in vocab]


def heldout_eval_data(
    graph: HeteroGraph,
    held_out: Sequence[tuple[str, np.ndarray, np.ndarray]],
    user_type: str,
) -> EvalData | None:
    """An `EvalData` whose train part is `graph`'s user->item engagement edges and whose test
    part is the held-out `(relation name, user rows, item rows)` edges of those relations.

    Every train edge becomes one `engagement` event at its first event time (0 where the
    relation has no times) and every held-out edge one after all of them, so a user's
    Engagement Recall triggers are their latest train items, as at test. Events carry their
    item's domain (`item_domains`), so the cross-domain slice exists here too.
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

    domain_of, domains = item_domains(graph, item_types)

    def interactions(users: list[np.ndarray], items: list[np.ndarray], ts: np.ndarray) -> Interactions:
        u, i = np.concatenate(users), np.concatenate(items)
        return Interactions(u, i, np.zeros(u.size, np.int32), ts, domain_of[i])

    n_test = sum(u.size for u in test_u)
    return EvalData(
        user_ids=pa.array(np.arange(graph.num_nodes[user_type])),
        item_types=item_types,
        item_ids={t: pa.array(np.arange(graph.num_nodes[t])) for t in item_types},
        events=["engagement"],
        domains=domains,
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
    (item->item) on `data`, K = `cfg.tuning_k`, by the objective of baseline tuning
    (`tuning_score`: overall, plus the cross-domain slice when `cfg.tune_cross_domain_weight`
    is set); ties keep the smaller beta.

    `log_q` is one log-popularity per item row, or several keyed by the recent fraction of
    edges they count: then the fraction whose best user and item objectives sum highest wins
    (one log q serves both searches), ties keeping the longer window.
    """
    from rankgraph.evaluate.evaluator import evaluate
    from rankgraph.evaluate.protocol import EmbeddingRecommender
    from rankgraph.evaluate.tune import tuning_score

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
                overall, cross = metrics[part]["all"][name], metrics[part]["cross_domain"][name]
                trial[f"{part}.{name}"] = None if overall is None else float(overall)
                trial[f"{part}.cross_domain.{name}"] = None if cross is None else float(cross)
                score = tuning_score(metrics[part], name, cfg.tune_cross_domain_weight)  # None: nobody scored
                if score is not None and score > best[side][0]:
                    best[side] = (score, beta)
            trials.append(trial)
        total = sum(score for score, _ in best.values() if score > float("-inf"))
        choices.append((total, float(fraction), best))
    _, fraction, best = max(choices, key=lambda c: c[0])  # first (longest window) among equals
    return ReadoutChoice(
        users=best["users"][1],
        items=best["items"][1],
        metric=f"recall@{k}" + (f" + {w:g} x cross_domain" if (w := cfg.tune_cross_domain_weight) else ""),
        trials=trials,
        recent_fraction=fraction,
    )
