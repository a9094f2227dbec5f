"""Score one `Recommender` on one `EvalData` split: every metric, every slice, one dict.

Targets are the distinct (user, item) pairs of the test period that the user had not
engaged with in train (a retrieval that excludes seen items could never hit the others;
their number is reported). Slices restrict the targets, never the retrieval:
`all`; `cross_domain` (pairs whose domain the user never engaged with before the cut);
`in_domain` (the complement); `by_domain[d]`; `by_activity[b]` (users by the number of
distinct items they engaged before the cut, `activity_buckets`: where a method wins or
loses, light or heavy users). A user with no target in a slice is skipped for that slice
and counted.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rankgraph.config.evaluate import EvaluateConfig
from rankgraph.evaluate.data import EvalData
from rankgraph.evaluate.engagement_recall import candidates_from_triggers, trigger_matrix, trigger_neighbours
from rankgraph.evaluate.metrics import edge_recall, ranking_report
from rankgraph.evaluate.protocol import Recommender

PARTS = ("engagement_recall", "user_item", "edge_recall")


def target_pairs(data: EvalData) -> dict[str, np.ndarray]:
    """Distinct test (user, item) pairs not seen in train, with the domain of their first event."""
    te, tr = data.test, data.train
    n = data.n_items + 1
    order = np.lexsort((te.ts, te.item, te.user))
    keys = te.user[order] * n + te.item[order]
    first = np.ones(keys.size, dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    keys, dom = keys[first], te.domain[order][first]
    seen = np.isin(keys, tr.user * n + tr.item)
    # domains each user touched before the cut
    nd = max(len(data.domains), 1)
    user_dom = np.unique(tr.user * nd + tr.domain)
    u = keys // n
    cross = ~np.isin(u * nd + dom, user_dom)
    return {
        "user": u[~seen],
        "item": keys[~seen] % n,
        "domain": dom[~seen],
        "cross_domain": cross[~seen],
        "repeat_pairs": np.asarray(int(seen.sum())),
    }


def activity_labels(edges: list[int]) -> list[str]:
    """Bucket names for bucket edges: [5, 20] -> ["0-4", "5-19", "20+"]."""
    lows = [0, *edges]
    return [f"{lo}-{hi - 1}" for lo, hi in zip(lows, edges)] + [f"{lows[-1]}+"]


def user_activity(data: EvalData, users: np.ndarray, edges: list[int]) -> np.ndarray:
    """Activity bucket (index into `activity_labels(edges)`) of each of `users`: distinct train items."""
    tr = data.train
    pairs = np.unique(tr.user.astype(np.int64) * (data.n_items + 1) + tr.item)
    counts = np.bincount(pairs // (data.n_items + 1), minlength=data.n_users + 1)
    return np.searchsorted(np.asarray(edges), counts[users], side="right")


def _truth(pos: np.ndarray, items: np.ndarray, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((items, pos))
    indptr = np.concatenate([[0], np.cumsum(np.bincount(pos, minlength=n_rows))]).astype(np.int64)
    return indptr, items[order].astype(np.int64)


def _clean(obj: Any) -> Any:
    """JSON-safe: NaN -> None, numpy scalars -> Python."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj


def evaluate(
    data: EvalData, rec: Recommender, cfg: EvaluateConfig, *, parts: tuple[str, ...] = PARTS
) -> dict[str, Any]:
    """All metrics of `rec` on `data`, per slice, as a JSON-serialisable dict."""
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ValueError(f"unknown evaluation parts {sorted(unknown)}; known: {list(PARTS)}")
    tg = target_pairs(data)
    users = np.unique(tg["user"])
    if cfg.max_users is not None and users.size > cfg.max_users:
        rng = np.random.default_rng(cfg.seed)
        users = np.sort(rng.choice(users, cfg.max_users, replace=False))
        keep = np.isin(tg["user"], users)
        tg = {k: (v[keep] if v.ndim else v) for k, v in tg.items()}
    pos = np.searchsorted(users, tg["user"])
    slices: dict[str, np.ndarray] = {
        "all": np.ones(pos.size, dtype=bool),
        "cross_domain": tg["cross_domain"],
        "in_domain": ~tg["cross_domain"],
    }
    for code, name in enumerate(data.domains):
        slices[f"domain:{name}"] = tg["domain"] == code
    activity = activity_labels(cfg.activity_buckets)
    bucket = user_activity(data, users, cfg.activity_buckets)[pos]
    for code, name in enumerate(activity):
        slices[f"activity:{name}"] = bucket == code
    truths = {name: _truth(pos[m], tg["item"][m], users.size) for name, m in slices.items()}

    def per_slice(ranked: np.ndarray, ndcg: bool) -> dict[str, Any]:
        out = {name: ranking_report(ranked, truths[name], cfg.ks, ndcg=ndcg) for name in ("all", "cross_domain", "in_domain")}
        out["by_domain"] = {
            name: ranking_report(ranked, truths[f"domain:{name}"], cfg.ks, ndcg=ndcg) for name in data.domains
        }
        out["by_activity"] = {
            name: ranking_report(ranked, truths[f"activity:{name}"], cfg.ks, ndcg=ndcg) for name in activity
        }
        return out

    k_max = max(cfg.ks)
    seen = data.seen(users)
    result: dict[str, Any] = {
        "counts": {
            "users": int(data.n_users),
            "items": int(data.n_items),
            "train_events": len(data.train),
            "test_events": len(data.test),
            "test_pairs": int(pos.size),
            "test_repeat_pairs_dropped": int(tg["repeat_pairs"]),
            "evaluated_users": int(users.size),
            "cross_domain_pairs": int(tg["cross_domain"].sum()),
            **{f"dropped_{k}": v for k, v in data.dropped.items()},
        },
        "ks": list(cfg.ks),
    }
    if "engagement_recall" in parts:
        trig = trigger_matrix(data, cfg.triggers, cfg.trigger_weights)[users]
        nbr_s, nbr = trigger_neighbours(rec, trig, data.n_items, cfg.neighbours)
        _, cand = candidates_from_triggers(trig, nbr_s, nbr, k_max, exclude=seen)
        result["engagement_recall"] = per_slice(cand, ndcg=False)
    if "user_item" in parts or "edge_recall" in parts:
        _, ranked = rec.score_users(users, k_max, seen)
        if "user_item" in parts:
            result["user_item"] = per_slice(ranked, ndcg=True)
        if "edge_recall" in parts:
            rng = np.random.default_rng(cfg.seed)
            sample = np.arange(pos.size)
            if pos.size > cfg.edge_sample:
                sample = np.sort(rng.choice(pos.size, cfg.edge_sample, replace=False))
            er: dict[str, Any] = {}
            for name, m in slices.items():
                s = sample[m[sample]]
                er[name] = edge_recall(ranked, pos[s], tg["item"][s], cfg.ks)
            result["edge_recall"] = {
                "all": er["all"],
                "cross_domain": er["cross_domain"],
                "in_domain": er["in_domain"],
                "by_domain": {name: er[f"domain:{name}"] for name in data.domains},
            }
    return _clean(result)
