"""Engagement Recall@K, the RankGraph paper's offline metric.

For each item, its top-`neighbours` (20) most similar items; for each user, the triggers
are their last `triggers` (20) engagements before the cut, weighted by event type; a
candidate's score is the sum over triggers of weight x similarity; already-engaged items
are left out; the ranked candidates are scored with Recall@K against the user's
engagements after the cut (denominator min(K, |test items|), see `metrics`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from rankgraph.embed.index import select_top
from rankgraph.evaluate.data import EvalData
from rankgraph.evaluate.protocol import Recommender


def trigger_matrix(data: EvalData, n_triggers: int, weights: dict[str, float]) -> sp.csr_array:
    """[n_users, n_items] summed weight of each user's last `n_triggers` train events.

    Only events strictly before `data.cut` count (defence in depth: a future event that
    slipped into train never becomes a trigger). Ties in time go to the later-listed event.
    """
    tr = data.train
    keep = np.ones(len(tr), dtype=bool) if data.cut is None else tr.ts < data.cut
    idx = np.flatnonzero(keep)
    order = idx[np.lexsort((-idx, -tr.ts[idx], tr.user[idx]))]  # user asc, newest first
    users = tr.user[order]
    first = np.searchsorted(users, users, side="left")
    recent = order[(np.arange(order.size) - first) < n_triggers]
    w = data.event_weights(weights)[tr.event[recent]]
    m = sp.csr_array((w, (tr.user[recent], tr.item[recent])), shape=(data.n_users, data.n_items))
    m.sum_duplicates()
    return m


def trigger_neighbours(rec: Recommender, triggers: sp.csr_array, n_items: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """([n_items, k] scores, items) of `rec`'s top-k neighbours of every item some row of
    `triggers` uses; other rows stay empty (-inf, -1).

    Only trigger items' neighbours are ever read, and searching the whole catalogue instead
    was most of an evaluation's time on large catalogues (92k products on Ciao).
    """
    scores = np.full((n_items, k), -np.inf, dtype=np.float32)
    items = np.full((n_items, k), -1, dtype=np.int64)
    rows = np.unique(sp.csr_array(triggers).indices).astype(np.int64)
    if rows.size:
        s, r = rec.similar_items(rows, k)
        scores[rows, : s.shape[1]] = s
        items[rows, : r.shape[1]] = r
    return scores, items


def candidates_from_triggers(
    triggers: sp.csr_array,
    nbr_scores: np.ndarray,
    nbr_items: np.ndarray,
    k: int,
    *,
    exclude: tuple[np.ndarray, np.ndarray] | None = None,
    batch: int = 8192,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k candidates per row of `triggers` ([u, n_items] weights): sum of weight x similarity.

    `nbr_items`/`nbr_scores` are [n_items, M] (-1 padded); `exclude` is CSR over the rows.
    """
    triggers = sp.csr_array(triggers)
    n_rows, n_items = triggers.shape
    out_s = np.full((n_rows, k), -np.inf, dtype=np.float32)
    out_r = np.full((n_rows, k), -1, dtype=np.int64)
    m = nbr_items.shape[1]
    for start in range(0, n_rows, batch):
        stop = min(n_rows, start + batch)
        t = triggers[start:stop]
        b = stop - start
        tu = np.repeat(np.arange(b, dtype=np.int64), np.diff(t.indptr))
        cu = np.repeat(tu, m)
        ci = nbr_items[t.indices].ravel().astype(np.int64)
        cs = (t.data[:, None] * nbr_scores[t.indices]).ravel().astype(np.float64)
        ok = ci >= 0
        cu, ci, cs = cu[ok], ci[ok], cs[ok]
        keys = cu * (n_items + 1) + ci
        uniq, inv = np.unique(keys, return_inverse=True)
        summed = np.bincount(inv, weights=cs, minlength=uniq.size)
        uu, ii = uniq // (n_items + 1), uniq % (n_items + 1)
        if exclude is not None:
            p = exclude[0][start : stop + 1]
            eu = np.repeat(np.arange(b, dtype=np.int64), np.diff(p))
            ekeys = eu * (n_items + 1) + exclude[1][p[0] : p[-1]]
            keepc = ~np.isin(uniq, ekeys)
            uu, ii, summed = uu[keepc], ii[keepc], summed[keepc]
        s, r = select_top(uu, ii, summed, b, k)
        out_s[start:stop], out_r[start:stop] = s, r
    return out_s, out_r
