"""Shared pieces of the baselines: ranking one global score vector with per-user exclusions."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from rankgraph.embed.index import Exclude, exclude_to_csr, select_top, top_k


def rank_global(scores: np.ndarray, n_queries: int, k: int, exclude: Exclude) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of one score vector shared by every query, minus each query's exclusions.

    Over-fetches k + (largest exclusion list) items once, then filters per query vectorised.
    """
    n = scores.size
    excl = exclude_to_csr(exclude, n_queries)
    longest = 0 if excl is None else int(np.diff(excl[0]).max(initial=0))
    fetch = min(n, k + longest)
    _, head = top_k(scores[None, :], fetch)
    head = head[0][head[0] >= 0]
    q = np.repeat(np.arange(n_queries, dtype=np.int64), head.size)
    c = np.tile(head, n_queries)
    if excl is not None:
        eq = np.repeat(np.arange(n_queries, dtype=np.int64), np.diff(excl[0]))
        ok = ~np.isin(q * (n + 1) + c, eq * (n + 1) + excl[1])
        q, c = q[ok], c[ok]
    return select_top(q, c, scores[c].astype(np.float64), n_queries, k)


def rank_dense_rows(
    scores: np.ndarray, k: int, exclude: tuple[np.ndarray, np.ndarray] | None, start: int, *, drop_zero: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of each row of a dense [b, N] score block for queries [start, start+b)."""
    scores = np.array(scores, dtype=np.float64, copy=True)
    if drop_zero:
        scores[scores == 0] = -np.inf
    if exclude is not None:
        b = scores.shape[0]
        p = exclude[0][start : start + b + 1]
        q = np.repeat(np.arange(b), np.diff(p))
        scores[q, exclude[1][p[0] : p[-1]]] = -np.inf
    return top_k(scores, k)


def sparse_row_topk(m: sp.csr_array, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k entries of each row of a sparse matrix: (scores [n, k], columns [n, k], -1 padded)."""
    m = sp.csr_array(m)
    r = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
    return select_top(r, m.indices.astype(np.int64), m.data.astype(np.float64), m.shape[0], k)
