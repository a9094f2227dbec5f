"""The embeddings artifact: per node type an L2-normalised float32 matrix plus its id map.

Layout (see docs/architecture.md)::

    EMB_DIR/<type>.npy              float32 [n, E], unit rows, in id-map order
    EMB_DIR/<type>_ids.parquet      column `id` (+ `domain` for items when known)
    EMB_DIR/<type>_clusters.npy     optional int32 [n]
    EMB_DIR/<type>_centroids.npy    optional float32 [c, E]
    EMB_DIR/manifest.json           kind `embeddings`: dims, counts, source, checksums
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from rankgraph.artifact import atomic_dir, read_manifest, verify_files, write_manifest
from rankgraph.errors import ArtifactError

KIND = "embeddings"
NORM_TOLERANCE = 1e-3


def l2_normalize(x: np.ndarray, *, where: str = "embeddings") -> np.ndarray:
    """Rows of `x` scaled to unit length (float32); a zero or non-finite row is an error."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ArtifactError(f"{where}: expected a 2-D matrix, got shape {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    bad = np.flatnonzero(~np.isfinite(norms[:, 0]) | (norms[:, 0] == 0))
    if bad.size:
        raise ArtifactError(f"{where}: row {int(bad[0])} is zero or not finite, cannot normalise")
    return x / norms


def check_matrix(x: np.ndarray, where: str, *, unit: bool = True, chunk: int = 1 << 16) -> None:
    """Refuse anything but a finite float32 [n, E] matrix with (when `unit`) unit-norm rows.

    Checked in row chunks so a memory-mapped matrix is streamed, not copied.
    """
    if x.dtype != np.float32 or x.ndim != 2:
        raise ArtifactError(f"{where}: expected float32 [n, E], got {x.dtype} {list(x.shape)}")
    for start in range(0, x.shape[0], chunk):
        block = np.asarray(x[start : start + chunk])
        finite = np.isfinite(block).all(axis=1)
        if not finite.all():
            raise ArtifactError(f"{where}: row {start + int(np.argmin(finite))} is not finite")
        if unit:
            dev = np.abs(np.linalg.norm(block, axis=1) - 1.0)
            if (dev > NORM_TOLERANCE).any():
                row = start + int(np.argmax(dev > NORM_TOLERANCE))
                raise ArtifactError(f"{where}: row {row} has norm {1 - dev.max():.4g} or so, expected 1 (not L2-normalised)")


@dataclass
class NodeEmbeddings:
    """One node type: vectors [n, E] (unit rows), raw ids [n], optional domain/clusters/centroids.

    `log_popularity` (float32 [n], items only) is log q(i), the item's share of engaged users in
    the training graph: the retrieval read-out adds it back to logQ-trained scores.
    """

    vectors: np.ndarray
    ids: pa.Array
    domain: pa.Array | None = None
    clusters: np.ndarray | None = None
    centroids: np.ndarray | None = None
    log_popularity: np.ndarray | None = None

    @property
    def count(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def validate(self, node_type: str) -> None:
        """Check shapes and values agree; raises ArtifactError naming the type and field."""
        check_matrix(self.vectors, f"embeddings of '{node_type}'")
        n = self.count
        if len(self.ids) != n:
            raise ArtifactError(f"'{node_type}': {len(self.ids)} ids for {n} embedding rows")
        if self.domain is not None and len(self.domain) != n:
            raise ArtifactError(f"'{node_type}': {len(self.domain)} domains for {n} embedding rows")
        if self.log_popularity is not None:
            lp = self.log_popularity
            if lp.dtype != np.float32 or lp.shape != (n,) or not np.isfinite(lp).all():
                raise ArtifactError(f"'{node_type}' log_popularity: expected finite float32 [{n}], got {lp.dtype} {list(lp.shape)}")
        if self.clusters is not None:
            c = self.clusters
            if c.dtype != np.int32 or c.shape != (n,):
                raise ArtifactError(f"'{node_type}' clusters: expected int32 [{n}], got {c.dtype} {list(c.shape)}")
            if self.centroids is None:
                raise ArtifactError(f"'{node_type}': clusters without centroids")
            if n and (c.min() < 0 or c.max() >= self.centroids.shape[0]):
                raise ArtifactError(f"'{node_type}' clusters: ids outside [0, {self.centroids.shape[0]})")
        if self.centroids is not None:
            check_matrix(self.centroids, f"centroids of '{node_type}'", unit=False)
            if self.centroids.shape[1] != self.dim:
                raise ArtifactError(f"'{node_type}' centroids: dim {self.centroids.shape[1]}, embeddings dim {self.dim}")


@dataclass
class EmbeddingSet:
    """Every node type's served embedding, as written by `rankgraph embed`.

    `item_types` orders the item types of the global item row space used by retrieval and
    evaluation: global row = `item_offsets()[type] + row`.
    """

    types: dict[str, NodeEmbeddings]
    user_type: str = "user"
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for t, node in self.types.items():
            node.validate(t)

    @classmethod
    def from_raw(
        cls,
        vectors: dict[str, np.ndarray],
        ids: dict[str, pa.Array | np.ndarray | list],
        *,
        domains: dict[str, pa.Array | np.ndarray | list] | None = None,
        user_type: str = "user",
        meta: dict[str, Any] | None = None,
    ) -> EmbeddingSet:
        """Normalise raw model outputs (e.g. `layerwise_embed`) into an EmbeddingSet."""
        domains = domains or {}
        types = {}
        for t, x in vectors.items():
            if t not in ids:
                raise ArtifactError(f"no id map given for node type '{t}'")
            dom = domains.get(t)
            types[t] = NodeEmbeddings(
                vectors=l2_normalize(x, where=f"embeddings of '{t}'"),
                ids=pa.array(ids[t]) if not isinstance(ids[t], pa.Array) else ids[t],
                domain=None if dom is None else (dom if isinstance(dom, pa.Array) else pa.array(dom, pa.string())),
            )
        return cls(types=types, user_type=user_type, meta=dict(meta or {}))

    @property
    def item_types(self) -> list[str]:
        return sorted(t for t in self.types if t != self.user_type)

    def item_offsets(self) -> dict[str, int]:
        """Start of each item type in the global item row space (types in sorted order)."""
        offsets, start = {}, 0
        for t in self.item_types:
            offsets[t] = start
            start += self.types[t].count
        return offsets

    def stacked_items(self, item_types: list[str] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(vectors [N, E], item_type code [N] int32 into `item_types`, domain strings [N] object).

        Concatenates item types in the global row order; domain is None where unknown.
        """
        item_types = item_types or self.item_types
        vecs = [np.asarray(self.types[t].vectors) for t in item_types]
        codes = [np.full(self.types[t].count, i, dtype=np.int32) for i, t in enumerate(item_types)]
        doms = [
            np.asarray(self.types[t].domain.to_pylist(), dtype=object)
            if self.types[t].domain is not None
            else np.full(self.types[t].count, None, dtype=object)
            for t in item_types
        ]
        if not vecs:
            raise ArtifactError("embedding set has no item types")
        return np.concatenate(vecs), np.concatenate(codes), np.concatenate(doms)

    def with_log_popularity(self, values: dict[str, np.ndarray]) -> EmbeddingSet:
        """A copy with log q(i) attached to each named item type."""
        types = dict(self.types)
        for node_type, lp in values.items():
            types[node_type] = replace(types[node_type], log_popularity=np.asarray(lp, np.float32))
        return EmbeddingSet(types=types, user_type=self.user_type, meta=self.meta)

    def with_clusters(self, node_type: str, clusters: np.ndarray, centroids: np.ndarray) -> EmbeddingSet:
        """A copy with cluster ids and centroids attached to `node_type`."""
        types = dict(self.types)
        types[node_type] = replace(
            types[node_type], clusters=np.asarray(clusters, np.int32), centroids=np.asarray(centroids, np.float32)
        )
        return EmbeddingSet(types=types, user_type=self.user_type, meta=self.meta)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the artifact atomically (temp dir renamed into place) with checksums."""
        final = Path(path)
        with atomic_dir(final) as tmp:
            body_types = {}
            for t, node in self.types.items():
                np.save(tmp / f"{t}.npy", np.ascontiguousarray(node.vectors, dtype=np.float32))
                cols = {"id": node.ids}
                if node.domain is not None:
                    cols["domain"] = node.domain
                pq.write_table(pa.table(cols), tmp / f"{t}_ids.parquet")
                if node.log_popularity is not None:
                    np.save(tmp / f"{t}_log_popularity.npy", node.log_popularity)
                if node.clusters is not None:
                    np.save(tmp / f"{t}_clusters.npy", node.clusters)
                    np.save(tmp / f"{t}_centroids.npy", np.asarray(node.centroids, np.float32))
                body_types[t] = {
                    "count": node.count,
                    "dim": node.dim,
                    "has_domain": node.domain is not None,
                    "has_log_popularity": node.log_popularity is not None,
                    "clusters": None if node.centroids is None else int(node.centroids.shape[0]),
                }
            write_manifest(tmp, KIND, {"user_type": self.user_type, "types": body_types, "source": self.meta})
        return final

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, mmap: bool = True, checksums: bool = True) -> EmbeddingSet:
        """Read an artifact, refusing missing, truncated, altered or inconsistent files.

        Checksums read every byte once; `checksums=False` skips them for huge artifacts (size,
        shape and dtype are still checked against the manifest, values are still validated).
        """
        root = Path(path)
        manifest = read_manifest(root, KIND)
        verify_files(root, manifest, checksums=checksums)
        mode = "r" if mmap else None
        types = {}
        for t, info in manifest.get("types", {}).items():
            try:
                vectors = np.load(root / f"{t}.npy", mmap_mode=mode)
                table = pq.read_table(root / f"{t}_ids.parquet")
                clusters = centroids = log_popularity = None
                if info.get("has_log_popularity"):
                    log_popularity = np.load(root / f"{t}_log_popularity.npy")
                if info.get("clusters") is not None:
                    clusters = np.load(root / f"{t}_clusters.npy")
                    centroids = np.load(root / f"{t}_centroids.npy")
            except (OSError, ValueError, pa.ArrowException) as exc:
                raise ArtifactError(f"{root}: cannot read node type '{t}' ({exc})") from exc
            if vectors.shape != (info["count"], info["dim"]):
                raise ArtifactError(f"{root / (t + '.npy')}: shape {list(vectors.shape)}, manifest says [{info['count']}, {info['dim']}]")
            if "id" not in table.column_names:
                raise ArtifactError(f"{root / (t + '_ids.parquet')}: no column 'id'")
            types[t] = NodeEmbeddings(
                vectors=vectors,
                ids=table.column("id").combine_chunks(),
                domain=table.column("domain").combine_chunks() if "domain" in table.column_names else None,
                clusters=clusters,
                centroids=centroids,
                log_popularity=log_popularity,
            )
        return cls(types=types, user_type=manifest.get("user_type", "user"), meta=manifest.get("source", {}))
