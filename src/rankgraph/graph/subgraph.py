"""Item-item and user-user subgraphs, extracted from a graph artifact on demand.

A subgraph is a standalone `Relation` (a CSR over destination nodes) usable without the rest
of the graph (for a homogeneous baseline, an item-to-item retrieval source, a clustering...).
When the graph holds a semantic relation of the right shape it is returned as it is;
otherwise co-engagement is computed from the engagement relations with one sparse product
(`A^T A` for items, `A A^T` for users, `A` the binary user x item matrix), scored like the
SQL builder (`rankgraph.graph.semantic`): `cocount`, `cosine` or the Adamic-Adar-like
`swing` approximation, filtered by `min_support` and pruned to exactly `top_k` in-neighbours
per node (ties: score rounded to 1e-9, then the smaller source row). Unlike the builder this
path has no timestamps, so `window_days` and recency-based hub capping do not apply;
`max_pivot_degree` drops hub pivots instead of capping them.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp

from rankgraph.errors import ConfigError
from rankgraph.graph.store import HeteroGraph, Relation

Score = Literal["cocount", "cosine", "swing"]


def topk_mask(group: np.ndarray, src: np.ndarray, score: np.ndarray, k: int, *, src_sorted: bool = False) -> np.ndarray:
    """Boolean mask keeping, in each group, the `k` entries of highest score.

    Ties are broken by the score rounded to 1e-9 (so float summation order cannot flip them),
    then by the smaller `src`. Example: group [0, 0, 0], src [5, 6, 7], score [0.2, 0.9, 0.9]
    with k=1 keeps src 6 only; with k=2, sources 6 and 7. `src_sorted=True` promises that
    `src` already ascends inside each group (a CSR with sorted indices), saving one sort.

    One stable sort of an int64 key `(group, -round(score * 1e9))` when it fits in 63 bits
    (~3x faster than a three-key lexsort), else the lexsort.
    """
    n = group.size
    if n == 0:
        return np.zeros(0, dtype=bool)
    order = np.arange(n) if src_sorted else np.argsort(src, kind="stable")
    q = np.rint(np.asarray(score, np.float64)[order] * 1e9)
    g = np.asarray(group, np.int64)[order]
    qmin, qmax = float(q.min()), float(q.max())
    gmin, gmax = int(g.min()), int(g.max())
    span = qmax - qmin + 1
    if np.isfinite(span) and (gmax - gmin + 1) * span < 2**62:
        key = (g - gmin) * np.int64(span) + (np.int64(qmax) - q.astype(np.int64))
        order = order[np.argsort(key, kind="stable")]
    else:
        order = order[np.lexsort((-q, g))]
    g = np.asarray(group, np.int64)[order]
    rank = np.arange(n) - np.searchsorted(g, g, side="left")
    mask = np.zeros(n, dtype=bool)
    mask[order[rank < k]] = True
    return mask


def topk_per_dst(
    dst: np.ndarray, src: np.ndarray, score: np.ndarray, k: int, num_dst: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR `(indptr, indices, weight)` keeping the `k` best-scored sources of each destination.

    Edges inside a destination come in ascending source order.
    """
    dst, src = np.asarray(dst, np.int64), np.asarray(src, np.int64)
    score = np.asarray(score, np.float64)
    keep = topk_mask(dst, src, score, k)
    dst, src, score = dst[keep], src[keep], score[keep]
    order = np.lexsort((src, dst))
    counts = np.bincount(dst, minlength=num_dst)
    indptr = np.zeros(num_dst + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    return indptr, src[order].astype(np.int32 if num_dst < 2**31 else np.int64), score[order].astype(np.float32)


def _incidence(rel: Relation, num_src: int) -> sp.csr_matrix:
    """Binary (dst x src) matrix of a relation's edges, straight from its CSR."""
    data = np.ones(rel.num_edges, dtype=np.float64)
    m = sp.csr_matrix((data, np.asarray(rel.indices), np.asarray(rel.indptr)), shape=(rel.num_dst, num_src))
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def co_engagement_pairs(
    a: sp.csr_matrix,
    *,
    score: Score,
    top_k: int,
    min_support: int,
    src_group: np.ndarray | None = None,
    max_pivot_degree: int | None = None,
    block_products: int = 50_000_000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-k co-engagement pairs among the rows of `a` (rows = nodes, columns = pivots).

    Returns COO `(dst, src, score)`: for each row `dst`, its `top_k` best rows `src`
    (per `src_group[src]` when given, e.g. the node type) sharing >= `min_support` pivots.
    Rows are processed in blocks of about `block_products` multiply-adds, so memory holds one
    block of `A_blk A^T` at a time, never the whole co-occurrence matrix.
    """
    if top_k < 1 or min_support < 1:
        raise ConfigError(f"top_k ({top_k}) and min_support ({min_support}) must be >= 1")
    a = a.tocsr().astype(np.float64)
    a.sum_duplicates()
    a.data[:] = 1.0
    pdeg = np.asarray(a.sum(axis=0)).ravel()
    if max_pivot_degree is not None:
        a = (a @ sp.diags((pdeg <= max_pivot_degree).astype(np.float64))).tocsr()
        a.eliminate_zeros()
        pdeg = np.asarray(a.sum(axis=0)).ravel()
    ndeg = np.asarray(a.sum(axis=1)).ravel()
    at = a.T.tocsr()
    if score == "swing":
        inv = np.zeros_like(pdeg)
        inv[pdeg > 0] = 1.0 / np.log1p(pdeg[pdeg > 0])
        aw_t = (sp.diags(inv) @ at).tocsr()
    elif score not in ("cocount", "cosine"):
        raise ConfigError(f"unknown co-engagement score '{score}' (cocount, cosine, swing)")
    group = np.zeros(a.shape[0], np.int64) if src_group is None else np.asarray(src_group, np.int64)
    n_groups = int(group.max(initial=0)) + 1
    work = np.cumsum(a @ pdeg)
    out_d, out_s, out_w = [], [], []
    start = 0
    while start < a.shape[0]:
        base = work[start - 1] if start else 0.0
        stop = int(np.searchsorted(work, base + block_products, side="right"))
        stop = min(max(stop, start + 1), a.shape[0])
        blk = a[start:stop]
        sup = (blk @ at).tocsr()
        vals = sup
        if score == "swing":
            vals = (blk @ aw_t).tocsr()  # same pattern as `sup`: every pivot weight is > 0
            if not (np.array_equal(vals.indptr, sup.indptr) and np.array_equal(vals.indices, sup.indices)):
                vals.sort_indices()
                sup.sort_indices()
        pos = np.flatnonzero(sup.data >= min_support)
        rows = start + np.searchsorted(sup.indptr, pos, side="right") - 1
        cols = sup.indices[pos].astype(np.int64)
        keep = rows != cols
        val = vals.data[pos[keep]]
        d, s_ = rows[keep], cols[keep]
        if score == "cosine":
            val = val / np.sqrt(ndeg[d] * ndeg[s_])
        m = topk_mask(d * n_groups + group[s_], s_, val, top_k)
        out_d.append(d[m])
        out_s.append(s_[m])
        out_w.append(val[m])
        start = stop
    if not out_d:
        z = np.zeros(0, np.int64)
        return z, z, np.zeros(0)
    return np.concatenate(out_d), np.concatenate(out_s), np.concatenate(out_w)


def co_engagement(
    a: sp.csr_matrix, *, score: Score, top_k: int, min_support: int, max_pivot_degree: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`co_engagement_pairs` of one node type as a CSR `(indptr, indices, weight)` over the rows."""
    d, s, w = co_engagement_pairs(a, score=score, top_k=top_k, min_support=min_support,
                                  max_pivot_degree=max_pivot_degree)
    return topk_per_dst(d, s, w, top_k, a.shape[0])


def _engagement_into(graph: HeteroGraph, node_type: str, user_type: str) -> list[Relation]:
    return sorted(
        (r for r in graph.relations.values()
         if r.kind == "engagement" and r.src_type == user_type and r.dst_type == node_type),
        key=lambda r: r.name,
    )  # fmt: skip


def _pick(graph: HeteroGraph, node_type: str, relation: str | None) -> Relation | None:
    if relation is not None:
        rel = graph.relations.get(relation)
        if rel is None:
            raise ConfigError(f"no relation '{relation}' in the graph (have: {', '.join(sorted(graph.relations))})")
        if rel.src_type != node_type or rel.dst_type != node_type:
            raise ConfigError(f"relation '{relation}' is {rel.src_type} -> {rel.dst_type}, not {node_type} -> {node_type}")
        return rel
    found = sorted(
        (r for r in graph.relations.values()
         if r.kind == "semantic" and r.src_type == node_type and r.dst_type == node_type),
        key=lambda r: r.name,
    )  # fmt: skip
    return found[0] if found else None


def item_item_subgraph(
    graph: HeteroGraph, item_type: str, relation: str | None = None, *, top_k: int = 20,
    score: Score = "cosine", min_support: int = 1, max_pivot_degree: int | None = None,
) -> Relation:
    """The item-item graph of `item_type`: the named or first semantic relation, else computed."""
    if item_type not in graph.num_nodes:
        raise ConfigError(f"unknown node type '{item_type}' (have: {', '.join(graph.node_types)})")
    found = _pick(graph, item_type, relation)
    if found is not None:
        return found
    user_type = graph.meta.get("user_type", "user")
    rels = _engagement_into(graph, item_type, user_type)
    if not rels:
        raise ConfigError(f"no semantic or engagement relation into '{item_type}' to derive an item-item graph from")
    a = _incidence(rels[0], graph.num_nodes[user_type])
    for r in rels[1:]:
        a = a + _incidence(r, graph.num_nodes[user_type])
    a.data[:] = 1.0
    indptr, indices, weight = co_engagement(a, score=score, top_k=top_k, min_support=min_support,
                                            max_pivot_degree=max_pivot_degree)
    name = f"{item_type}__co__{item_type}"
    return Relation(name, item_type, item_type, indptr, indices, weight, kind="semantic", reverse=name)


def user_user_subgraph(
    graph: HeteroGraph, relation: str | None = None, *, top_k: int = 20, score: Score = "cosine",
    min_support: int = 1, max_pivot_degree: int | None = None,
) -> Relation:
    """The user-user graph: the named or first semantic user relation, else computed over all items."""
    user_type = graph.meta.get("user_type", "user")
    found = _pick(graph, user_type, relation)
    if found is not None:
        return found
    blocks = [
        _incidence(r, graph.num_nodes[user_type])
        for t in graph.node_types if t != user_type
        for r in _engagement_into(graph, t, user_type)
    ]  # fmt: skip
    if not blocks:
        raise ConfigError("no engagement relation from users to derive a user-user graph from")
    a = sp.vstack(blocks).T.tocsr()  # users x (all items)
    indptr, indices, weight = co_engagement(a, score=score, top_k=top_k, min_support=min_support,
                                            max_pivot_degree=max_pivot_degree)
    name = f"{user_type}__co__{user_type}"
    return Relation(name, user_type, user_type, indptr, indices, weight, kind="semantic", reverse=name)
