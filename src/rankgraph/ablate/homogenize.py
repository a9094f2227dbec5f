"""The homogeneous ablation: the same model on a graph with one node type and one relation.

`homogenize(graph)` stacks every node type into one type `node` (rows of type `t` are
`offsets[t] + row`, types in the graph's order), folds every engagement edge and its mirror
into one symmetric relation `node__engaged__node` (its own reverse, weights kept, duplicate
pairs summed), and drops semantic and side relations and every feature, so the model has
id embeddings only. What it removes is exactly what RankGraph adds over a plain GNN:
node/edge types, type-specific encoders, multi-hop semantic and side edges.

`split_vectors` maps the `node` rows back to per-type matrices, and
`export_homogeneous` writes an embeddings artifact with the ORIGINAL id maps and item
domains, so evaluation scores it exactly like any other run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from rankgraph.config import RankGraphConfig
from rankgraph.embed.artifact import EmbeddingSet
from rankgraph.errors import ArtifactError, ConfigError
from rankgraph.graph.store import HeteroGraph, Relation
from rankgraph.train.positives import is_reverse_name

NODE_TYPE = "node"
RELATION = f"{NODE_TYPE}__engaged__{NODE_TYPE}"


def type_offsets(graph: HeteroGraph) -> dict[str, int]:
    """Start row of each original node type inside the stacked `node` type."""
    starts = np.concatenate([[0], np.cumsum([graph.num_nodes[t] for t in graph.node_types])])
    return {t: int(s) for t, s in zip(graph.node_types, starts[:-1])}


def homogenize(graph: HeteroGraph) -> HeteroGraph:
    """One node type, one symmetric engagement relation, no features (see module docstring)."""
    offsets = type_offsets(graph)
    n = int(sum(graph.num_nodes.values()))
    src_parts, dst_parts, w_parts = [], [], []
    for name, rel in graph.relations.items():
        if rel.kind != "engagement" or is_reverse_name(name):
            continue  # the mirror of every forward edge is added below
        s = np.asarray(rel.indices, dtype=np.int64) + offsets[rel.src_type]
        d = rel.dst_index() + offsets[rel.dst_type]
        w = np.asarray(rel.weight, dtype=np.float32)
        src_parts += [s, d]
        dst_parts += [d, s]
        w_parts += [w, w]
    if not src_parts:
        raise ConfigError("homogeneous ablation: the graph has no engagement relation to keep")
    # CSR over destinations (rows = dst); duplicate (dst, src) pairs are summed.
    m = sp.csr_array((np.concatenate(w_parts), (np.concatenate(dst_parts), np.concatenate(src_parts))), shape=(n, n))
    m.sum_duplicates()
    m.sort_indices()
    index_dtype = np.int32 if n < 2**31 - 1 else np.int64
    rel = Relation(
        name=RELATION,
        src_type=NODE_TYPE,
        dst_type=NODE_TYPE,
        indptr=m.indptr.astype(np.int64),
        indices=m.indices.astype(index_dtype),
        weight=m.data.astype(np.float32),
        kind="engagement",
        reverse=RELATION,
    )
    meta: dict[str, Any] = {
        "train_until": graph.meta.get("train_until"),
        "homogeneous": {"types": list(graph.node_types), "offsets": offsets, "counts": dict(graph.num_nodes)},
    }
    out = HeteroGraph(
        num_nodes={NODE_TYPE: n},
        relations={RELATION: rel},
        features={},
        ids={NODE_TYPE: pa.array(np.arange(n, dtype=np.int64))},
        meta=meta,
    )
    out.validate()
    return out


def split_vectors(vectors: np.ndarray, homogeneous: HeteroGraph) -> dict[str, np.ndarray]:
    """The `node` rows of a homogenized graph back as one matrix per original type."""
    info = homogeneous.meta.get("homogeneous")
    if info is None:
        raise ArtifactError("graph is not a homogenized graph (meta['homogeneous'] is missing)")
    if vectors.shape[0] != homogeneous.num_nodes[NODE_TYPE]:
        raise ArtifactError(f"{vectors.shape[0]} vectors for {homogeneous.num_nodes[NODE_TYPE]} stacked nodes")
    return {t: vectors[info["offsets"][t] : info["offsets"][t] + info["counts"][t]] for t in info["types"]}


def export_homogeneous(
    homogeneous: HeteroGraph,
    original: HeteroGraph,
    model: Any,
    cfg: RankGraphConfig,
    out: str | os.PathLike[str] | None = None,
    *,
    device: str = "cpu",
    source: dict[str, Any] | None = None,
) -> EmbeddingSet:
    """Embed the homogenized graph and write it under the original graph's id maps and domains."""
    from rankgraph.embed.export import embedding_set_from_vectors
    from rankgraph.model.inference import layerwise_embed

    stacked = layerwise_embed(model, homogeneous, device=device)[NODE_TYPE]
    vectors = split_vectors(np.asarray(stacked), homogeneous)
    return embedding_set_from_vectors(
        original, vectors, cfg, None if out is None else Path(out), meta={"ablation": "homogeneous", **(source or {})}
    )
