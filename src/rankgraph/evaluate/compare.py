"""Score RankGraph embeddings and the baselines on one temporal split, by the same code.

The evaluation row space is the embeddings' id maps (users, and the item types that occur
in events), so RankGraph, every baseline and every ablation rank exactly the same items for
exactly the same users. Baselines are tuned on a validation slice carved from the end of
train, never on test.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from rankgraph.config import RankGraphConfig
from rankgraph.embed.artifact import EmbeddingSet
from rankgraph.embed.readout import PopularityReadout
from rankgraph.errors import ConfigError
from rankgraph.evaluate.data import EvalData
from rankgraph.evaluate.evaluator import evaluate
from rankgraph.evaluate.protocol import EmbeddingRecommender


def evaluation_item_types(emb: EmbeddingSet, events: pa.Table) -> list[str]:
    """Item types that users engage with (e.g. not `advertiser`), in sorted order."""
    present = set(events.column("item_type").unique().to_pylist())
    return [t for t in emb.item_types if t in present]


def eval_data_for(emb: EmbeddingSet, events: pa.Table, cut: int) -> EvalData:
    """EvalData over the embeddings' id maps, split at `cut`."""
    types = evaluation_item_types(emb, events)
    return EvalData.from_events(
        events,
        cut,
        user_ids=emb.types[emb.user_type].ids,
        item_ids={t: emb.types[t].ids for t in types},
    )


def embedding_recommender(emb: EmbeddingSet, data: EvalData, cfg: RankGraphConfig) -> EmbeddingRecommender:
    """RankGraph as a `Recommender`: user vectors against the evaluated item types' vectors,
    with the popularity read-out of `evaluate.popularity_readout` (see `PopularityReadout.of`)."""
    items, _, _ = emb.stacked_items(data.item_types)
    users = np.asarray(emb.types[emb.user_type].vectors, dtype=np.float32)
    readout = PopularityReadout.of(emb, data.item_types, cfg.evaluate.popularity_readout, cfg.train.temperature)
    return EmbeddingRecommender(users, items, cfg.evaluate.index, readout=readout)


def evaluate_baselines(
    data: EvalData,
    cfg: RankGraphConfig,
    names: list[str] | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Tune (on a validation slice of train), fit and score each named baseline."""
    from rankgraph.evaluate.baselines import BASELINES, DEFAULT_GRIDS
    from rankgraph.evaluate.tune import tune

    on_stage = on_stage or (lambda _m: None)
    results: dict[str, dict[str, Any]] = {}
    for name in names if names is not None else cfg.evaluate.baselines:
        if name not in BASELINES:
            raise ConfigError(f"evaluate.baselines: unknown baseline '{name}' (known: {sorted(BASELINES)})")
        started = time.perf_counter()
        on_stage(f"baseline {name}: tuning")
        params, trials = tune(BASELINES[name], DEFAULT_GRIDS.get(name, {}), data, cfg.evaluate)
        on_stage(f"baseline {name}: fitting")
        model = BASELINES[name](**params).fit(data)
        metrics = evaluate(data, model, cfg.evaluate)
        metrics["params"] = params
        metrics["tuning"] = trials
        metrics["seconds"] = round(time.perf_counter() - started, 2)
        results[name] = metrics
    return results


def headline(metrics: dict[str, Any], k: int) -> dict[str, float | None]:
    """The figures a summary table shows: ER@k, R@k, NDCG@k overall and cross-domain."""
    out: dict[str, float | None] = {}
    for part, short in (("engagement_recall", "ER"), ("user_item", "R")):
        for slice_name, suffix in (("all", ""), ("cross_domain", " xd")):
            out[f"{short}@{k}{suffix}"] = metrics.get(part, {}).get(slice_name, {}).get(f"recall@{k}")
    out[f"NDCG@{k}"] = metrics.get("user_item", {}).get("all", {}).get(f"ndcg@{k}")
    return out
