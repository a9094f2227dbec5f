"""Small embeddings and graph artifacts for the service tests (built in tmp dirs)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from rankgraph.embed.artifact import EmbeddingSet
from rankgraph.embed.cluster import kmeans
from rankgraph.graph.store import HeteroGraph, Relation, csr_from_coo, reverse_relation

USERS = list(range(1000, 1030))
POSTS = list(range(40))
VIDEOS = [f"v{i}" for i in range(20)]
SEEN = {1000: [("post", 0), ("post", 3), ("post", 4), ("video", "v0")]}


def make_set(seed: int, *, clusters: bool = True) -> EmbeddingSet:
    rng = np.random.default_rng(seed)
    emb = EmbeddingSet.from_raw(
        {"user": rng.normal(size=(len(USERS), 8)), "post": rng.normal(size=(len(POSTS), 8)), "video": rng.normal(size=(len(VIDEOS), 8))},
        {"user": USERS, "post": POSTS, "video": VIDEOS},
        domains={"post": ["feed" if i % 2 else "groups" for i in POSTS], "video": ["reels"] * len(VIDEOS)},
        meta={"seed": seed},
    )
    if clusters:
        labels, centroids = kmeans(emb.types["post"].vectors, 3, seed=0, use_faiss=False)
        emb = emb.with_clusters("post", labels, centroids)
    return emb


def make_graph(*, reverse_user_order: bool = False) -> HeteroGraph:
    """Engagement relations user__engaged__{post,video} (+ reverses) holding `SEEN`.

    `reverse_user_order` lists the graph's users in the opposite order to the embeddings',
    so a test can check that seen items are matched by id, not by row.
    """
    users = USERS[::-1] if reverse_user_order else USERS
    urow = {u: i for i, u in enumerate(users)}
    ids = {"user": pa.array(users), "post": pa.array(POSTS), "video": pa.array(VIDEOS)}
    relations = {}
    for t, items in (("post", POSTS), ("video", VIDEOS)):
        irow = {v: i for i, v in enumerate(items)}
        pairs = [(urow[u], irow[i]) for u, lst in SEEN.items() for tt, i in lst if tt == t]
        src = np.array([p[0] for p in pairs], np.int64)
        dst = np.array([p[1] for p in pairs], np.int64)
        indptr, indices, weight = csr_from_coo(src, dst, np.ones(len(pairs)), len(items))
        name, rev = f"user__engaged__{t}", f"{t}__rev_engaged__user"
        fwd = Relation(name, "user", t, indptr, indices, weight, kind="engagement", reverse=rev)
        relations[name] = fwd
        relations[rev] = reverse_relation(fwd, rev, len(users))
    return HeteroGraph(num_nodes={"user": len(users), "post": len(POSTS), "video": len(VIDEOS)}, relations=relations, ids=ids)
