"""Export every node's served embedding from a trained model: the `rankgraph embed` stage.

Uses exact layer-wise inference (no sampling), attaches raw ids and item domains from the
graph artifact, optionally clusters, and writes the embeddings artifact atomically.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from rankgraph.config import RankGraphConfig
from rankgraph.embed.artifact import EmbeddingSet
from rankgraph.embed.cluster import cluster_embeddings
from rankgraph.errors import ConfigError
from rankgraph.graph.store import HeteroGraph


def item_domains(graph: HeteroGraph) -> dict[str, pa.Array]:
    """Domain name of each item row, decoded from the graph's `domain` feature."""
    vocabularies: dict[str, list[Any]] = graph.meta.get("domains", {}) or {}
    out = {}
    for node_type, vocab in vocabularies.items():
        col = graph.features.get(node_type, {}).get("domain")
        if col is None or not vocab:
            continue
        codes = np.asarray(col.values, dtype=np.int64)
        names = np.asarray([str(v) for v in vocab] + [None], dtype=object)
        # codes past the vocabulary are the reserved "missing" code
        out[node_type] = pa.array(names[np.minimum(codes, len(vocab))], pa.string())
    return out


def item_log_popularity(graph: HeteroGraph, user_type: str, recent_fraction: float = 1.0) -> dict[str, np.ndarray]:
    """log q(i) per item type: the item's share of (user, item) engagement edges, +1 smoothed.

    Normalised over every engaged item type together, because retrieval ranks one stacked
    catalogue. Counts come from the engagement relations out of `user_type` (train graph only).
    With `recent_fraction` < 1 only the newest fraction of those edges (by first event time)
    count: on data whose popularity drifts, the recent past predicts the next period better
    than all of history (docs/results.md, round 3).
    """
    if not 0.0 < recent_fraction <= 1.0:
        raise ConfigError(f"popularity recent_fraction must be in (0, 1], got {recent_fraction}")
    relations = [
        rel
        for rel in graph.relations.values()
        if rel.kind == "engagement" and rel.src_type == user_type and rel.dst_type != user_type
    ]
    if not relations:
        return {}
    since = None
    if recent_fraction < 1.0:
        untimed = [rel.name for rel in relations if rel.time is None]
        if untimed:
            raise ConfigError(
                f"a recent-popularity read-out (fraction {recent_fraction}) needs edge times, and relation(s) "
                f"{', '.join(untimed)} have none (rebuild the graph with `rankgraph build`, or keep the fraction at 1)"
            )
        times = np.concatenate([np.asarray(rel.time) for rel in relations])
        since = np.quantile(times, 1.0 - recent_fraction, method="lower") if times.size else None
    degree: dict[str, np.ndarray] = {}
    for rel in relations:
        if since is None:
            deg = np.asarray(rel.in_degree(), dtype=np.float64)
        else:
            recent = np.asarray(rel.time) >= since
            deg = np.bincount(rel.dst_index()[recent], minlength=rel.num_dst).astype(np.float64)
        degree[rel.dst_type] = degree.get(rel.dst_type, 0.0) + deg
    total = sum(float((d + 1.0).sum()) for d in degree.values())
    return {t: np.log((d + 1.0) / total).astype(np.float32) for t, d in degree.items()}


def embedding_set_from_vectors(
    graph: HeteroGraph,
    vectors: dict[str, np.ndarray],
    cfg: RankGraphConfig,
    out: str | os.PathLike[str] | None = None,
    *,
    meta: dict[str, Any] | None = None,
) -> EmbeddingSet:
    """Attach `graph`'s ids, item domains and item log-popularity to `vectors`, cluster, save."""
    ids = {t: graph.ids[t] if t in graph.ids else pa.array(np.arange(n)) for t, n in graph.num_nodes.items()}
    emb = EmbeddingSet.from_raw(
        vectors,
        ids,
        domains=item_domains(graph),
        user_type=cfg.data.user_type,
        meta={"train_until": graph.meta.get("train_until"), **(meta or {})},
    )
    tuned = (meta or {}).get("popularity_readout") or {}
    recent = float(tuned.get("recent_fraction", 1.0))
    emb = emb.with_log_popularity(item_log_popularity(graph, cfg.data.user_type, recent))
    emb = cluster_embeddings(emb, cfg.evaluate.cluster)
    if out is not None:
        emb.save(out)
    return emb


def export_embeddings(
    graph: HeteroGraph,
    model: Any,
    cfg: RankGraphConfig,
    out: str | os.PathLike[str] | None = None,
    *,
    device: str = "cpu",
    on_progress: Callable[[int, int], None] | None = None,
    source: dict[str, Any] | None = None,
) -> EmbeddingSet:
    """Embed every node of `graph` with `model` (exact layer-wise inference) and save to `out`."""
    from rankgraph.model.inference import layerwise_embed

    vectors = layerwise_embed(model, graph, device=device, progress=on_progress)
    return embedding_set_from_vectors(graph, vectors, cfg, out, meta=source)
