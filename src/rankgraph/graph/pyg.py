"""Export a graph artifact to `torch_geometric.data.HeteroData` (optional dependency).

Edge types are `(src_type, rel, dst_type)` where `rel` is the middle part of the relation's
name `<src>__<rel>__<dst>` (PyG joins edge types with `__` itself, so it warns on names that
contain it; see `edge_type`); `edge_index` is `[2, E]` int64 with
row 0 = source and row 1 = destination (PyG's convention), `edge_weight` float32 [E].
Node stores carry `num_nodes` and one tensor per encoded feature: categorical int64 [n],
dense float32 [n, d], multi_hot as `<name>_values` int64 [nnz] + `<name>_offsets` int64 [n+1].
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rankgraph.capabilities import WITH_PYG
from rankgraph.errors import RankGraphError
from rankgraph.graph.store import HeteroGraph


def edge_type(name: str, src_type: str, dst_type: str) -> tuple[str, str, str]:
    """PyG edge type of a relation: `user__engaged__post` -> ('user', 'engaged', 'post')."""
    prefix, suffix = f"{src_type}__", f"__{dst_type}"
    if name.startswith(prefix) and name.endswith(suffix) and len(name) > len(prefix) + len(suffix):
        return src_type, name[len(prefix):-len(suffix)], dst_type
    return src_type, name, dst_type


def to_heterodata(graph: HeteroGraph) -> Any:
    """The graph as a `HeteroData` (tensors are copies: PyG wants owned, writable memory)."""
    if not WITH_PYG:
        raise RankGraphError("to_heterodata needs torch_geometric: pip install torch_geometric")
    import torch
    from torch_geometric.data import HeteroData

    data = HeteroData()
    for t, n in graph.num_nodes.items():
        data[t].num_nodes = int(n)
        for name, col in graph.features.get(t, {}).items():
            if col.kind == "multi_hot":
                data[t][f"{name}_values"] = torch.from_numpy(np.array(col.values, dtype=np.int64))
                data[t][f"{name}_offsets"] = torch.from_numpy(np.array(col.offsets, dtype=np.int64))
            elif col.kind == "dense":
                data[t][name] = torch.from_numpy(np.array(col.values, dtype=np.float32))
            else:
                data[t][name] = torch.from_numpy(np.array(col.values, dtype=np.int64))
    for rel in graph.relations.values():
        src = np.asarray(rel.indices, dtype=np.int64)
        edge_index = np.stack([src, rel.dst_index()])
        store = data[edge_type(rel.name, rel.src_type, rel.dst_type)]
        store.edge_index = torch.from_numpy(edge_index)
        store.edge_weight = torch.from_numpy(np.array(rel.weight, dtype=np.float32))
    return data
