"""k-means clusters of embeddings, assignment of new nodes, and a same-cluster retrieval source.

Clusters are spherical (centroids re-normalised), matching the cosine geometry of the
embeddings, so assignment is the centroid of highest inner product.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from rankgraph.capabilities import WITH_FAISS
from rankgraph.config.evaluate import ClusterConfig
from rankgraph.embed.artifact import EmbeddingSet
from rankgraph.embed.index import DENSE_BLOCK, Exclude, exclude_to_csr, top_k
from rankgraph.errors import InputError


def kmeans(
    vectors: np.ndarray,
    n_clusters: int,
    *,
    iterations: int = 20,
    restarts: int = 3,
    seed: int = 0,
    use_faiss: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Spherical k-means: (cluster id per row int32 [n], unit centroids float32 [c, E]).

    Runs `restarts` seeded initialisations and keeps the best objective (one random start
    often merges two true clusters).
    """
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    n = x.shape[0]
    if not 1 <= n_clusters <= n:
        raise InputError(f"cannot make {n_clusters} clusters of {n} vectors", column="clusters")
    if (WITH_FAISS if use_faiss is None else use_faiss and WITH_FAISS):
        import faiss

        km = faiss.Kmeans(x.shape[1], n_clusters, niter=iterations, seed=seed, spherical=True, verbose=False, nredo=restarts)
        km.max_points_per_centroid = max(256, -(-n // n_clusters))  # use every point, no silent subsample
        km.train(x)
        centroids = np.asarray(km.centroids, dtype=np.float32)
    else:
        rng = np.random.default_rng(seed)
        best = None
        for _ in range(max(1, restarts)):
            c = x[rng.choice(n, n_clusters, replace=False)].copy()
            for _ in range(iterations):
                labels = assign(x, c)
                sums = np.zeros_like(c)
                np.add.at(sums, labels, x)
                empty = ~sums.any(axis=1)
                sums[empty] = c[empty]
                c = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
            objective = float((x * c[assign(x, c)]).sum())
            if best is None or objective > best[0]:
                best = (objective, c)
        centroids = best[1]
    return assign(x, centroids), centroids


def assign(vectors: np.ndarray, centroids: np.ndarray, *, batch: int = 65536) -> np.ndarray:
    """Cluster id (int32) of each row: the centroid of highest inner product, ties to the lowest id."""
    x = np.asarray(vectors, dtype=np.float32)
    c = np.asarray(centroids, dtype=np.float32)
    if x.ndim != 2 or c.ndim != 2 or x.shape[1] != c.shape[1]:
        raise InputError(f"cannot assign vectors {x.shape} to centroids {c.shape}: dimensions differ")
    out = np.empty(x.shape[0], dtype=np.int32)
    for start in range(0, x.shape[0], batch):
        out[start : start + batch] = np.argmax(x[start : start + batch] @ c.T, axis=1)
    return out


def cluster_embeddings(emb: EmbeddingSet, cfg: ClusterConfig) -> EmbeddingSet:
    """Attach k-means clusters to each node type named in `cfg.clusters` (0 = skip)."""
    for node_type, n_clusters in cfg.clusters.items():
        if n_clusters <= 0:
            continue
        if node_type not in emb.types:
            raise InputError(f"no embeddings for node type '{node_type}'", column="evaluate.cluster.clusters")
        labels, centroids = kmeans(
            emb.types[node_type].vectors, n_clusters, iterations=cfg.iterations, restarts=cfg.restarts, seed=cfg.seed
        )
        emb = emb.with_clusters(node_type, labels, centroids)
    return emb


def same_cluster_items(
    item_clusters: np.ndarray,
    recent: sp.csr_array | sp.csr_matrix,
    k: int,
    *,
    item_scores: np.ndarray | None = None,
    exclude: Exclude = None,
    batch: int = 1024,
) -> tuple[np.ndarray, np.ndarray]:
    """Retrieval source: items in the clusters of each user's recent items.

    `recent` is [users, items] with a weight per recent engagement. A candidate's score is
    the total weight of the user's recent items in its cluster, ties broken by `item_scores`
    (e.g. popularity or similarity to the centroid; weights compared to 1e-6), then by row.
    Returns (scores [u, k], items [u, k], -1 padded); recent and `exclude`d items are left out.
    """
    recent = sp.csr_array(recent)
    n_users, n_items = recent.shape
    clusters = np.asarray(item_clusters, dtype=np.int64)
    if clusters.shape != (n_items,):
        raise InputError(f"{clusters.size} cluster ids for {n_items} items", column="clusters")
    n_c = int(clusters.max(initial=-1)) + 1
    onehot = sp.csr_array((np.ones(n_items, np.float32), (np.arange(n_items), clusters)), shape=(n_items, n_c))
    user_cluster = (recent @ onehot).tocsr()  # [users, clusters] weight of recent items per cluster
    # tie-break rank in [0, 1): higher item score first, then lower row (stable order)
    tie = np.zeros(n_items, np.float64)
    if item_scores is not None:
        order = np.argsort(-np.asarray(item_scores, dtype=np.float64), kind="stable")
        tie[order] = 1.0 - np.arange(1, n_items + 1) / (n_items + 1)
    excl = exclude_to_csr(exclude, n_users)
    out_s = np.full((n_users, k), -np.inf, dtype=np.float32)
    out_r = np.full((n_users, k), -1, dtype=np.int64)
    batch = max(1, min(batch, DENSE_BLOCK // max(n_items, 1)))
    for start in range(0, n_users, batch):
        stop = min(n_users, start + batch)
        w = user_cluster[start:stop].toarray()  # [b, C]
        weight = w[:, clusters].astype(np.float64)  # [b, items]
        # lexicographic (weight, tie) in one float64: weights are rescaled to integers-ish
        scores = np.where(weight > 0, np.round(weight * 1e6) + tie[None, :], -np.inf)
        rec = recent[start:stop]
        rq = np.repeat(np.arange(stop - start), np.diff(rec.indptr))
        scores[rq, rec.indices] = -np.inf
        if excl is not None:
            p = excl[0][start : stop + 1]
            eq = np.repeat(np.arange(stop - start), np.diff(p))
            scores[eq, excl[1][p[0] : p[-1]]] = -np.inf
        _, rows = top_k(scores, k)
        out_r[start:stop] = rows
        b_idx = np.repeat(np.arange(stop - start), k).reshape(-1, k)
        out_s[start:stop] = np.where(rows >= 0, weight[b_idx, np.maximum(rows, 0)], -np.inf)
    return out_s, out_r
