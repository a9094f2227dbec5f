"""Ranking metrics over ranked lists and per-user truth sets (pure numpy, vectorised).

Conventions shared by every metric here:
- `ranked` is [U, L] int64 item rows, best first, padded with -1 (a list shorter than K,
  e.g. K larger than the candidate set, simply has fewer chances to hit);
- `truth` gives each ranked row's relevant items as CSR (indptr [U+1], indices) or a scipy
  CSR matrix with one row per ranked row;
- a user with no relevant item gets NaN (skipped) and `summarize` counts them;
- Recall@K divides by min(K, |truth|), so a perfect list scores 1 whatever |truth| is;
- ties were broken before (scores descending, then row ascending: `rank_scores`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from rankgraph.embed.index import top_k

Truth = tuple[np.ndarray, np.ndarray] | sp.csr_array | sp.csr_matrix


def _csr(truth: Truth, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    if sp.issparse(truth):
        m = sp.csr_array(truth)
        m.sum_duplicates()
        indptr, indices = m.indptr.astype(np.int64), m.indices.astype(np.int64)
    else:
        indptr, indices = (np.asarray(a, dtype=np.int64) for a in truth)
    if indptr.size != n_rows + 1:
        raise ValueError(f"truth has {indptr.size - 1} rows, ranked lists have {n_rows}")
    return indptr, indices


def rank_scores(scores: np.ndarray, k: int) -> np.ndarray:
    """Ranked rows [U, k] from dense scores [U, N]: descending score, ties by lower row, -inf never."""
    return top_k(np.asarray(scores), k)[1]


def hits(ranked: np.ndarray, truth: Truth) -> tuple[np.ndarray, np.ndarray]:
    """(hit [U, L] bool, truth size [U]): whether each ranked item is relevant to its row's user.

    Duplicate entries in a ranked row count once (the first occurrence).
    """
    ranked = np.asarray(ranked, dtype=np.int64)
    u, length = ranked.shape
    indptr, indices = _csr(truth, u)
    n_truth = np.diff(indptr)
    base = int(max(ranked.max(initial=-1), indices.max(initial=-1))) + 2
    rows = np.repeat(np.arange(u, dtype=np.int64), n_truth)
    truth_keys = np.unique(rows * base + indices)
    sizes = np.bincount(truth_keys // base, minlength=u) if truth_keys.size else np.zeros(u, np.int64)
    keys = np.arange(u, dtype=np.int64)[:, None] * base + ranked
    hit = np.isin(keys, truth_keys) & (ranked >= 0)
    if hit.any():
        # a repeated item in one list hits only at its first position
        order = np.argsort(keys, axis=1, kind="stable")
        sk = np.take_along_axis(keys, order, axis=1)
        dup_sorted = np.zeros_like(sk, dtype=bool)
        dup_sorted[:, 1:] = sk[:, 1:] == sk[:, :-1]
        dup = np.zeros_like(dup_sorted)
        np.put_along_axis(dup, order, dup_sorted, axis=1)
        hit &= ~dup
    return hit, sizes


def recall_at_k(ranked: np.ndarray, truth: Truth, k: int) -> np.ndarray:
    """Per-user |top-k ∩ truth| / min(k, |truth|); NaN where truth is empty."""
    hit, size = hits(ranked, truth)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(size > 0, hit[:, :k].sum(axis=1) / np.minimum(k, size), np.nan)


def ndcg_at_k(ranked: np.ndarray, truth: Truth, k: int) -> np.ndarray:
    """Per-user binary NDCG@k: DCG of the list over the DCG of min(k, |truth|) hits at the top."""
    hit, size = hits(ranked, truth)
    kk = min(k, hit.shape[1])
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (hit[:, :kk] * disc[:kk]).sum(axis=1)
    ideal = np.concatenate([[0.0], np.cumsum(disc)])[np.minimum(k, size)]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(size > 0, dcg / ideal, np.nan)


def hit_rate_at_k(ranked: np.ndarray, truth: Truth, k: int) -> np.ndarray:
    """Per-user 1 if any of the top-k is relevant, else 0; NaN where truth is empty."""
    hit, size = hits(ranked, truth)
    return np.where(size > 0, hit[:, :k].any(axis=1).astype(np.float64), np.nan)


def summarize(values: np.ndarray) -> dict[str, float | int]:
    """Mean over users with a value; how many were scored and how many skipped (NaN)."""
    values = np.asarray(values, dtype=np.float64)
    ok = ~np.isnan(values)
    return {
        "mean": float(values[ok].mean()) if ok.any() else float("nan"),
        "users": int(ok.sum()),
        "skipped_users": int((~ok).sum()),
    }


def ranking_report(ranked: np.ndarray, truth: Truth, ks: list[int], *, ndcg: bool = True) -> dict[str, float | int]:
    """Recall@K, (NDCG@K,) HitRate@K means for every K, plus users scored and skipped."""
    out: dict[str, float | int] = {}
    users = skipped = 0
    for k in ks:
        r = summarize(recall_at_k(ranked, truth, k))
        out[f"recall@{k}"] = r["mean"]
        users, skipped = r["users"], r["skipped_users"]
        if ndcg:
            out[f"ndcg@{k}"] = summarize(ndcg_at_k(ranked, truth, k))["mean"]
            out[f"hit_rate@{k}"] = summarize(hit_rate_at_k(ranked, truth, k))["mean"]
    out["users"], out["skipped_users"] = users, skipped
    return out


def edge_recall(ranked: np.ndarray, edge_rows: np.ndarray, edge_items: np.ndarray, ks: list[int]) -> dict[str, float | int]:
    """Share of edges (ranked row, item) whose item is in that row's top-K, for every K."""
    ranked = np.asarray(ranked, dtype=np.int64)
    edge_rows = np.asarray(edge_rows, dtype=np.int64)
    edge_items = np.asarray(edge_items, dtype=np.int64)
    out: dict[str, float | int] = {"edges": int(edge_rows.size)}
    if edge_rows.size == 0:
        out.update({f"recall@{k}": float("nan") for k in ks})
        return out
    match = ranked[edge_rows] == edge_items[:, None]  # [E, L]
    # position of the first match, L when absent
    first = np.where(match.any(axis=1), match.argmax(axis=1), ranked.shape[1])
    for k in ks:
        out[f"recall@{k}"] = float((first < k).mean())
    return out
