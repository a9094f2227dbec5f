"""Item-based collaborative filtering: cosine of item co-engagement (scipy.sparse).

sim(i, j) = |U_i ∩ U_j| / (|U_i|^alpha |U_j|^(1-alpha) + shrink), alpha = 0.5 is cosine;
each item keeps its `neighbours` most similar items. A user's score for j is the sum of
sim(i, j) over the items i they engaged with; items with no link to them are not ranked.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from rankgraph.embed.index import DENSE_BLOCK, Exclude, exclude_to_csr, select_top
from rankgraph.evaluate.baselines._common import rank_dense_rows, sparse_row_topk
from rankgraph.evaluate.data import EvalData


class ItemCF:
    def __init__(self, neighbours: int = 100, alpha: float = 0.5, shrink: float = 0.0, batch: int = 2048) -> None:
        self.neighbours, self.alpha, self.shrink, self.batch = neighbours, alpha, shrink, batch
        self.sim: sp.csr_array | None = None
        self.user_items: sp.csr_array | None = None

    def fit(self, data: EvalData) -> ItemCF:
        x = data.train_matrix(binary=True)
        self.user_items = x
        co = (x.T @ x).tocsr()
        co.setdiag(0)
        co.eliminate_zeros()
        deg = np.asarray(x.sum(axis=0)).ravel().astype(np.float64)
        r = np.repeat(np.arange(co.shape[0]), np.diff(co.indptr))
        c = co.indices
        val = co.data / (deg[r] ** self.alpha * deg[c] ** (1 - self.alpha) + self.shrink)
        s, cols = select_top(r.astype(np.int64), c.astype(np.int64), val, co.shape[0], self.neighbours)
        ok = cols >= 0
        rows = np.repeat(np.arange(co.shape[0]), ok.sum(axis=1))
        self.sim = sp.csr_array((s[ok], (rows, cols[ok])), shape=co.shape)
        return self

    def score_users(self, user_rows: np.ndarray, k: int, exclude: Exclude = None):
        user_rows = np.asarray(user_rows, dtype=np.int64)
        excl = exclude_to_csr(exclude, user_rows.size)
        out_s = np.full((user_rows.size, k), -np.inf, np.float32)
        out_r = np.full((user_rows.size, k), -1, np.int64)
        batch = max(1, min(self.batch, DENSE_BLOCK // max(self.sim.shape[0], 1)))
        for start in range(0, user_rows.size, batch):
            stop = min(user_rows.size, start + batch)
            block = (self.user_items[user_rows[start:stop]] @ self.sim).toarray()
            out_s[start:stop], out_r[start:stop] = rank_dense_rows(block, k, excl, start, drop_zero=True)
        return out_s, out_r

    def similar_items(self, item_rows: np.ndarray, k: int):
        return sparse_row_topk(self.sim[np.asarray(item_rows, dtype=np.int64)], k)
