"""The graph artifact: id maps, encoded node features and one CSR per relation.

Layout of a graph directory::

    manifest.json                      config, counts, degree statistics, file checksums
    nodes/<type>/ids.parquet           column `id`: raw id of each row (row order = node index)
    nodes/<type>/feat.<name>.npy       categorical: int64 [n]; dense: float32 [n, d]
    nodes/<type>/feat.<name>.offsets.npy, feat.<name>.npy   multi_hot: CSR of ids per node
    relations/<name>/indptr.npy        int64 [num_dst + 1]
    relations/<name>/indices.npy       int32 or int64 [nnz]: source node index of each edge
    relations/<name>/weight.npy        float32 [nnz]

Each relation is a CSR over its *destination* nodes: the in-neighbours of destination `i`
are `indices[indptr[i]:indptr[i+1]]`, which is what message passing into `i` reads.
Arrays are loaded memory-mapped, so opening a 100M-edge graph copies nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from rankgraph.artifact import atomic_dir, read_manifest, verify_files, write_manifest
from rankgraph.errors import ArtifactError

GRAPH_KIND = "graph"
RelationKind = Literal["engagement", "semantic", "side"]
FeatureKind = Literal["categorical", "multi_hot", "dense"]


@dataclass
class Relation:
    """One relation `src_type -name-> dst_type`, stored as a CSR over destinations."""

    name: str
    src_type: str
    dst_type: str
    indptr: np.ndarray
    indices: np.ndarray
    weight: np.ndarray
    kind: RelationKind = "engagement"
    reverse: str | None = None
    # int64 [nnz]: time of each edge's first event (engagement relations built from events),
    # for a temporal validation split (`train.val_split: temporal`); None elsewhere
    time: np.ndarray | None = None

    @property
    def num_dst(self) -> int:
        return int(self.indptr.shape[0] - 1)

    @property
    def num_edges(self) -> int:
        return int(self.indices.shape[0])

    def in_degree(self) -> np.ndarray:
        """Number of in-edges of each destination node."""
        return np.diff(self.indptr)

    def dst_index(self) -> np.ndarray:
        """Destination node of each edge (the CSR expanded to COO rows)."""
        return np.repeat(np.arange(self.num_dst, dtype=np.int64), self.in_degree())

    def validate(self, num_src: int, num_dst: int) -> None:
        """Refuse a relation whose arrays disagree with each other or with the node counts."""
        where = f"relation '{self.name}'"
        if self.indptr.ndim != 1 or self.indptr.shape[0] != num_dst + 1:
            raise ArtifactError(f"{where}: indptr has {self.indptr.shape[0]} entries, expected {num_dst + 1}")
        if self.indices.shape != self.weight.shape:
            raise ArtifactError(f"{where}: {self.indices.shape[0]} indices but {self.weight.shape[0]} weights")
        if int(self.indptr[0]) != 0 or int(self.indptr[-1]) != self.indices.shape[0]:
            raise ArtifactError(f"{where}: indptr must run from 0 to {self.indices.shape[0]}")
        if self.indices.shape[0] and num_src and int(self.indices.max(initial=0)) >= num_src:
            raise ArtifactError(f"{where}: source index out of range (num_src={num_src})")
        if self.time is not None and self.time.shape != self.indices.shape:
            raise ArtifactError(f"{where}: {self.indices.shape[0]} edges but {self.time.shape[0]} edge times")


@dataclass
class FeatureColumn:
    """An encoded node feature.

    categorical: `values` int64 [n] in [0, cardinality); multi_hot: `offsets` int64 [n+1] and
    `values` int64 [nnz]; dense: `values` float32 [n, dim].
    """

    name: str
    kind: FeatureKind
    values: np.ndarray
    offsets: np.ndarray | None = None
    cardinality: int = 0

    @property
    def dim(self) -> int:
        return int(self.values.shape[1]) if self.kind == "dense" else 0


@dataclass
class HeteroGraph:
    """A heterogeneous graph in memory (arrays may be memory-mapped views of the artifact)."""

    num_nodes: dict[str, int]
    relations: dict[str, Relation] = field(default_factory=dict)
    features: dict[str, dict[str, FeatureColumn]] = field(default_factory=dict)
    ids: dict[str, pa.Array] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def node_types(self) -> list[str]:
        return list(self.num_nodes)

    def relations_into(self, dst_type: str) -> list[Relation]:
        return [r for r in self.relations.values() if r.dst_type == dst_type]

    def validate(self) -> None:
        for rel in self.relations.values():
            for t in (rel.src_type, rel.dst_type):
                if t not in self.num_nodes:
                    raise ArtifactError(f"relation '{rel.name}' names unknown node type '{t}'")
            rel.validate(self.num_nodes[rel.src_type], self.num_nodes[rel.dst_type])
            if rel.reverse is not None and rel.reverse not in self.relations:
                raise ArtifactError(f"relation '{rel.name}': reverse '{rel.reverse}' is missing")
        for t, cols in self.features.items():
            n = self.num_nodes.get(t)
            if n is None:
                raise ArtifactError(f"features given for unknown node type '{t}'")
            for col in cols.values():
                rows = col.offsets.shape[0] - 1 if col.offsets is not None else col.values.shape[0]
                if rows != n:
                    raise ArtifactError(f"feature '{t}.{col.name}': {rows} rows, expected {n}")
        for t, ids in self.ids.items():
            if len(ids) != self.num_nodes[t]:
                raise ArtifactError(f"id map of '{t}': {len(ids)} ids, expected {self.num_nodes[t]}")

    def id_to_row(self, node_type: str) -> dict[Any, int]:
        """Raw id -> row for one node type (builds a dict: for lookups, not hot paths)."""
        return {v: i for i, v in enumerate(self.ids[node_type].to_pylist())}

    def degree_stats(self) -> dict[str, dict[str, float]]:
        out = {}
        for name, rel in self.relations.items():
            deg = rel.in_degree()
            out[name] = {
                "edges": rel.num_edges,
                "dst_with_edges": int((deg > 0).sum()),
                "mean_in_degree": float(deg.mean()) if deg.size else 0.0,
                "max_in_degree": int(deg.max()) if deg.size else 0,
            }
        return out

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike[str], extra_manifest: dict[str, Any] | None = None) -> Path:
        """Write the graph atomically: a temporary directory renamed into place when complete."""
        self.validate()
        path = Path(path)
        with atomic_dir(path) as tmp:
            nodes: dict[str, Any] = {}
            for t, n in self.num_nodes.items():
                d = tmp / "nodes" / t
                d.mkdir(parents=True)
                if t in self.ids:
                    pq.write_table(pa.table({"id": self.ids[t]}), d / "ids.parquet")
                feats = {}
                for name, col in self.features.get(t, {}).items():
                    np.save(d / f"feat.{name}.npy", np.ascontiguousarray(col.values))
                    if col.offsets is not None:
                        np.save(d / f"feat.{name}.offsets.npy", np.ascontiguousarray(col.offsets))
                    feats[name] = {"kind": col.kind, "cardinality": col.cardinality, "dim": col.dim}
                nodes[t] = {"count": int(n), "features": feats, "has_ids": t in self.ids}
            relations: dict[str, Any] = {}
            for name, rel in self.relations.items():
                d = tmp / "relations" / name
                d.mkdir(parents=True)
                np.save(d / "indptr.npy", np.ascontiguousarray(rel.indptr, dtype=np.int64))
                np.save(d / "indices.npy", np.ascontiguousarray(rel.indices))
                np.save(d / "weight.npy", np.ascontiguousarray(rel.weight, dtype=np.float32))
                if rel.time is not None:
                    np.save(d / "time.npy", np.ascontiguousarray(rel.time, dtype=np.int64))
                relations[name] = {
                    "src_type": rel.src_type,
                    "dst_type": rel.dst_type,
                    "kind": rel.kind,
                    "reverse": rel.reverse,
                    "edges": rel.num_edges,
                    "has_time": rel.time is not None,
                }
            body = {
                "nodes": nodes,
                "relations": relations,
                "degree_stats": self.degree_stats(),
                "meta": self.meta,
                **(extra_manifest or {}),
            }
            write_manifest(tmp, GRAPH_KIND, body)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, mmap: bool = True, checksums: bool = False) -> HeteroGraph:
        """Open a graph artifact; arrays are memory-mapped unless `mmap=False`.

        Sizes and `.npy` shapes are always checked against the manifest (cheap); full
        checksums read every byte and are off by default for that reason.
        """
        path = Path(path)
        manifest = read_manifest(path, kind=GRAPH_KIND)
        verify_files(path, manifest, checksums=checksums)
        mode = "r" if mmap else None

        def arr(rel: str) -> np.ndarray:
            return np.load(path / rel, mmap_mode=mode)

        try:
            num_nodes = {t: int(v["count"]) for t, v in manifest["nodes"].items()}
            features: dict[str, dict[str, FeatureColumn]] = {}
            ids: dict[str, pa.Array] = {}
            for t, info in manifest["nodes"].items():
                if info.get("has_ids"):
                    ids[t] = pq.read_table(path / "nodes" / t / "ids.parquet").column("id").combine_chunks()
                cols = {}
                for name, f in info["features"].items():
                    offsets = arr(f"nodes/{t}/feat.{name}.offsets.npy") if f["kind"] == "multi_hot" else None
                    cols[name] = FeatureColumn(
                        name=name,
                        kind=f["kind"],
                        values=arr(f"nodes/{t}/feat.{name}.npy"),
                        offsets=offsets,
                        cardinality=int(f["cardinality"]),
                    )
                if cols:
                    features[t] = cols
            relations = {
                name: Relation(
                    name=name,
                    src_type=r["src_type"],
                    dst_type=r["dst_type"],
                    indptr=arr(f"relations/{name}/indptr.npy"),
                    indices=arr(f"relations/{name}/indices.npy"),
                    weight=arr(f"relations/{name}/weight.npy"),
                    kind=r["kind"],
                    reverse=r.get("reverse"),
                    time=arr(f"relations/{name}/time.npy") if r.get("has_time") else None,
                )
                for name, r in manifest["relations"].items()
            }
        except (KeyError, TypeError, FileNotFoundError) as exc:
            raise ArtifactError(f"{path}/manifest.json: malformed graph manifest ({exc!r})") from exc
        graph = cls(num_nodes=num_nodes, relations=relations, features=features, ids=ids, meta=manifest.get("meta", {}))
        graph.validate()
        return graph


def csr_from_coo(
    src: np.ndarray, dst: np.ndarray, weight: np.ndarray, num_dst: int, index_dtype: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort COO edges by destination (stable) and return `(indptr, indices, weight)`.

    Index dtype defaults to int32 when the sources fit, halving memory for large graphs.
    """
    dst = np.asarray(dst, dtype=np.int64)
    order = np.argsort(dst, kind="stable")
    counts = np.bincount(dst, minlength=num_dst) if dst.size else np.zeros(num_dst, dtype=np.int64)
    indptr = np.zeros(num_dst + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    if index_dtype is None:
        index_dtype = np.int32 if (src.size == 0 or int(np.max(src)) < 2**31 - 1) else np.int64
    return indptr, np.asarray(src)[order].astype(index_dtype), np.asarray(weight, dtype=np.float32)[order]


def reverse_relation(rel: Relation, name: str, num_src: int) -> Relation:
    """The explicit reverse of `rel`: same edges and weights, CSR over the old sources."""
    indptr, indices, weight = csr_from_coo(rel.dst_index(), np.asarray(rel.indices), np.asarray(rel.weight), num_src)
    return Relation(
        name=name,
        src_type=rel.dst_type,
        dst_type=rel.src_type,
        indptr=indptr,
        indices=indices,
        weight=weight,
        kind=rel.kind,
        reverse=rel.name,
    )
