"""Nearest-neighbour search over an embedding matrix, with exclusion and domain filters.

`EmbeddingIndex` is exact inner product (faiss `IndexFlatIP`) below `IndexConfig.exact_below`
rows and IVF-Flat or HNSW above it; without faiss it falls back to numpy brute force.
Already-engaged rows are excluded by over-fetching `k + |excluded|` and filtering in one
vectorised pass, so an excluded row is never returned. Results are ordered by score, ties
by row, and padded with row -1 / score -inf when fewer than k rows qualify.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from rankgraph.capabilities import WITH_FAISS
from rankgraph.config.evaluate import IndexConfig
from rankgraph.embed.artifact import EmbeddingSet
from rankgraph.embed.readout import PopularityReadout, readout_queries, readout_targets
from rankgraph.errors import InputError

DENSE_BLOCK = 1 << 25  # entries of a dense score block (128 MiB of float32)

Exclude = list[np.ndarray] | sp.csr_array | sp.csr_matrix | tuple[np.ndarray, np.ndarray] | None


def exclude_to_csr(exclude: Exclude, n_queries: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Normalise an exclusion spec to CSR (indptr [q+1], indices) over query positions."""
    if exclude is None:
        return None
    if isinstance(exclude, tuple):
        indptr, indices = (np.asarray(a, dtype=np.int64) for a in exclude)
    elif sp.issparse(exclude):
        m = sp.csr_array(exclude)
        indptr, indices = m.indptr.astype(np.int64), m.indices.astype(np.int64)
    else:
        lens = np.fromiter((len(e) for e in exclude), dtype=np.int64, count=len(exclude))
        indptr = np.concatenate([[0], np.cumsum(lens)])
        indices = np.concatenate([np.asarray(e, dtype=np.int64).ravel() for e in exclude]) if len(exclude) else np.zeros(0, np.int64)
    if len(indptr) != n_queries + 1:
        raise InputError(f"exclusion lists cover {len(indptr) - 1} queries, expected {n_queries}", column="exclude")
    return indptr, indices


def select_top(
    r: np.ndarray, c: np.ndarray, s: np.ndarray, n_rows: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k per query from a flat (query, row, score) list: by score desc, ties by row asc.

    Returns (scores [n_rows, k] float32 padded -inf, rows [n_rows, k] int64 padded -1).
    Duplicated (query, row) pairs must already be merged.
    """
    scores = np.full((n_rows, k), -np.inf, dtype=np.float32)
    rows = np.full((n_rows, k), -1, dtype=np.int64)
    ok = np.isfinite(s) & (c >= 0)
    r, c, s = r[ok], c[ok], s[ok]
    if r.size == 0 or k == 0:
        return scores, rows
    order = np.lexsort((c, -s, r))
    r, c, s = r[order], c[order], s[order]
    starts = np.searchsorted(r, np.arange(n_rows))
    pos = np.arange(r.size) - starts[r]
    keep = pos < k
    scores[r[keep], pos[keep]] = s[keep]
    rows[r[keep], pos[keep]] = c[keep]
    return scores, rows


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic top-k of each row of a dense score matrix; -inf entries never returned.

    argpartition finds the k-th value, every entry tied with it is kept, and `select_top`
    breaks ties by column, so the result does not depend on partition order.
    """
    b, n = scores.shape
    k_eff = min(k, n)
    if k_eff <= 0:
        return select_top(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32), b, k)
    if k_eff < n:
        part = np.argpartition(-scores, k_eff - 1, axis=1)[:, :k_eff]
        kth = np.take_along_axis(scores, part, axis=1).min(axis=1)
        r, c = np.nonzero(scores >= kth[:, None])
    else:
        r, c = np.nonzero(np.ones_like(scores, dtype=bool))
    return select_top(r.astype(np.int64), c.astype(np.int64), scores[r, c], b, k)


def _drop_excluded(
    q: np.ndarray, c: np.ndarray, excl: tuple[np.ndarray, np.ndarray] | None, start: int, b: int, n: int
) -> np.ndarray:
    """Mask of (query, row) pairs of batch [start, start+b) that are not in the exclusion CSR."""
    if excl is None:
        return np.ones(q.shape, dtype=bool)
    indptr, indices = excl
    p = indptr[start : start + b + 1]
    excl_q = np.repeat(np.arange(b, dtype=np.int64), np.diff(p))
    excl_keys = excl_q * (n + 1) + indices[p[0] : p[-1]]
    return ~np.isin(q * (n + 1) + c, excl_keys)


@dataclass
class _Backend:
    """One searchable matrix: a faiss index or a numpy matrix, plus its rows in the parent."""

    rows: np.ndarray | None  # parent row of each local row (None = identity)
    vectors: np.ndarray
    faiss_index: Any = None
    kind: str = "exact"


class EmbeddingIndex:
    """Inner-product top-k search over `vectors` [N, E] (any float32; unit rows = cosine).

    `domain` [N] and `item_type` [N] (any hashable labels) enable `search(..., domain=d)`;
    filtered searches use a sub-index of the matching rows, built once on first use.
    """

    def __init__(
        self,
        vectors: np.ndarray,
        cfg: IndexConfig | None = None,
        *,
        domain: np.ndarray | None = None,
        item_type: np.ndarray | None = None,
        use_faiss: bool | None = None,
    ) -> None:
        self.cfg = cfg or IndexConfig()
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.vectors.ndim != 2:
            raise InputError(f"index vectors must be [N, E], got shape {self.vectors.shape}")
        if not np.isfinite(self.vectors).all():
            raise InputError("index vectors contain NaN or infinity")
        self.n, self.dim = self.vectors.shape
        for name, arr in (("domain", domain), ("item_type", item_type)):
            if arr is not None and len(arr) != self.n:
                raise InputError(f"{len(arr)} labels for {self.n} rows", column=name)
        self.domain = None if domain is None else np.asarray(domain, dtype=object)
        self.item_type = None if item_type is None else np.asarray(item_type, dtype=object)
        self.use_faiss = WITH_FAISS if use_faiss is None else (use_faiss and WITH_FAISS)
        self.kind = self._kind(self.n)
        self._main = self._build(self.vectors, None)
        self._subsets: dict[tuple[Any, Any], _Backend] = {}

    def _kind(self, n: int) -> str:
        kind = self.cfg.kind
        if kind == "auto":
            kind = "exact" if n < self.cfg.exact_below else self.cfg.approximate
        if not self.use_faiss:
            return "exact"
        return kind

    def _build(self, x: np.ndarray, rows: np.ndarray | None) -> _Backend:
        kind = self._kind(x.shape[0])
        if not self.use_faiss or x.shape[0] == 0:
            return _Backend(rows=rows, vectors=x, kind="exact")
        import faiss

        d = x.shape[1]
        if kind == "exact":
            index = faiss.IndexFlatIP(d)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(d, self.cfg.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = self.cfg.hnsw_ef_construction
            index.hnsw.efSearch = self.cfg.hnsw_ef_search
        else:
            n = x.shape[0]
            nlist = self.cfg.ivf_nlist or int(4 * np.sqrt(n))
            nlist = max(1, min(nlist, n // 39 or 1))
            quantizer = faiss.IndexFlatIP(d)
            index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
            rng = np.random.default_rng(self.cfg.seed)
            sample = x if n <= 256 * nlist else x[np.sort(rng.choice(n, 256 * nlist, replace=False))]
            index.cp.seed = self.cfg.seed
            index.train(np.ascontiguousarray(sample))
            index.nprobe = min(self.cfg.ivf_nprobe, nlist)
        index.add(x)
        return _Backend(rows=rows, vectors=x, faiss_index=index, kind=kind)

    def _backend(self, domain: Any, item_type: Any) -> _Backend:
        if domain is None and item_type is None:
            return self._main
        key = (domain, item_type)
        if key not in self._subsets:
            mask = np.ones(self.n, dtype=bool)
            for label, arr, name in ((domain, self.domain, "domain"), (item_type, self.item_type, "item_type")):
                if label is None:
                    continue
                if arr is None:
                    raise InputError(f"index has no {name} labels, cannot filter by {label!r}", column=name)
                mask &= arr == label
            rows = np.flatnonzero(mask)
            self._subsets[key] = self._build(np.ascontiguousarray(self.vectors[rows]), rows)
        return self._subsets[key]

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        exclude: Exclude = None,
        domain: Any = None,
        item_type: Any = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k rows per query: (scores [q, k] float32, rows [q, k] int64, -1 padded).

        `exclude`: per query, rows never to return (list of arrays, CSR with one row per
        query, or an (indptr, indices) pair). `domain`/`item_type`: only rows with that label.
        """
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise InputError(f"queries must be [q, {self.dim}], got shape {queries.shape}")
        nq = queries.shape[0]
        excl = exclude_to_csr(exclude, nq)
        be = self._backend(domain, item_type)
        if excl is not None and be.rows is not None:
            # map parent rows to the sub-index's local rows; rows outside it cannot be returned anyway
            local = np.full(self.n, -1, dtype=np.int64)
            local[be.rows] = np.arange(be.rows.size)
            mapped = local[excl[1]]
            keep = mapped >= 0
            qid = np.repeat(np.arange(nq, dtype=np.int64), np.diff(excl[0]))
            counts = np.bincount(qid[keep], minlength=nq)
            excl = (np.concatenate([[0], np.cumsum(counts)]), mapped[keep])
        out_s = np.full((nq, k), -np.inf, dtype=np.float32)
        out_r = np.full((nq, k), -1, dtype=np.int64)
        n_local = be.vectors.shape[0]
        if n_local == 0 or k == 0:
            return out_s, out_r
        # dense brute force holds a [batch, n] score block: keep it near 2^25 floats
        batch = self.cfg.batch if be.faiss_index is not None else max(1, min(self.cfg.batch, DENSE_BLOCK // n_local))
        for start in range(0, nq, batch):
            stop = min(nq, start + batch)
            s, r = self._search_batch(be, queries[start:stop], k, excl, start)
            out_s[start:stop], out_r[start:stop] = s, r
        if be.rows is not None:
            out_r = np.where(out_r >= 0, be.rows[np.maximum(out_r, 0)], -1)
        return out_s, out_r

    def _search_batch(
        self, be: _Backend, q: np.ndarray, k: int, excl: tuple[np.ndarray, np.ndarray] | None, start: int
    ) -> tuple[np.ndarray, np.ndarray]:
        b, n = q.shape[0], be.vectors.shape[0]
        if be.faiss_index is None:
            scores = q @ be.vectors.T
            if excl is not None:
                indptr, indices = excl
                lo, hi = indptr[start], indptr[start + b]
                qi = np.repeat(np.arange(b), np.diff(indptr[start : start + b + 1]))
                scores[qi, indices[lo:hi]] = -np.inf
            return top_k(scores, k)
        n_excl = 0 if excl is None else int(np.diff(excl[0][start : start + b + 1]).max(initial=0))
        fetch = min(n, k + n_excl)
        d, i = be.faiss_index.search(q, fetch)
        qi = np.repeat(np.arange(b, dtype=np.int64), fetch)
        c = i.ravel().astype(np.int64)
        s = d.ravel()
        ok = (c >= 0) & _drop_excluded(qi, c, excl, start, b, n)
        return select_top(qi[ok], c[ok], s[ok], b, k)


def measure_recall(index: EmbeddingIndex, queries: np.ndarray, k: int) -> float:
    """Recall@k of `index` against exact inner-product search over the same rows."""
    _, approx = index.search(queries, k)
    exact_index = EmbeddingIndex(index.vectors, IndexConfig(kind="exact", batch=index.cfg.batch), use_faiss=False)
    _, exact = exact_index.search(queries, k)
    nq = queries.shape[0]
    qi = np.repeat(np.arange(nq, dtype=np.int64), k)
    a_keys = (qi * (index.n + 1) + approx.ravel())[approx.ravel() >= 0]
    e_mask = exact.ravel() >= 0
    e_keys = (qi * (index.n + 1) + exact.ravel())[e_mask]
    if e_keys.size == 0:
        return 1.0
    return float(np.isin(e_keys, a_keys).sum() / e_keys.size)


class Retriever:
    """User->item, item->item and user->user neighbours over an EmbeddingSet, per domain.

    Items of every item type share one global row space (`EmbeddingSet.item_offsets`), so a
    result row is a global item row; `item_type_of`/`local_row` map it back.
    """

    def __init__(
        self,
        emb: EmbeddingSet,
        cfg: IndexConfig | None = None,
        *,
        item_types: list[str] | None = None,
        readout: PopularityReadout | None = None,
    ) -> None:
        self.emb = emb
        self.item_types = item_types or emb.item_types
        items, codes, domains = emb.stacked_items(self.item_types)
        self.item_type_code = codes
        self.item_vectors = items
        self.readout = readout
        indexed = items if readout is None else readout_targets(items, readout.log_q)
        self.items = EmbeddingIndex(indexed, cfg, domain=domains, item_type=np.asarray(self.item_types, dtype=object)[codes])
        self.users = EmbeddingIndex(np.asarray(emb.types[emb.user_type].vectors), cfg)
        sizes = [emb.types[t].count for t in self.item_types]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

    def global_rows(self, item_type: str, rows: np.ndarray) -> np.ndarray:
        return self.offsets[self.item_types.index(item_type)] + np.asarray(rows, dtype=np.int64)

    def item_query(self, vectors: np.ndarray, *, from_user: bool) -> np.ndarray:
        """Embeddings as queries of the item index: as they are, or with the popularity
        read-out's user->item or item->item beta (`rankgraph.embed.readout`)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if self.readout is None:
            return vectors
        beta = self.readout.users if from_user else self.readout.items
        return readout_queries(vectors, self.readout.temperature, beta).reshape(*vectors.shape[:-1], -1)

    def user_to_item(self, user_rows: np.ndarray, k: int, *, exclude: Exclude = None, domain: Any = None, item_type: str | None = None):
        """Top-k items (global rows) for each user, without the `exclude`d ones."""
        q = self.item_query(self.users.vectors[np.asarray(user_rows, dtype=np.int64)], from_user=True)
        return self.items.search(q, k, exclude=exclude, domain=domain, item_type=item_type)

    def item_to_item(self, item_rows: np.ndarray, k: int, *, domain: Any = None, item_type: str | None = None):
        """Top-k neighbours of each global item row, the item itself excluded."""
        item_rows = np.asarray(item_rows, dtype=np.int64)
        q = self.item_query(self.item_vectors[item_rows], from_user=False)
        excl = (np.arange(item_rows.size + 1, dtype=np.int64), item_rows)
        return self.items.search(q, k, exclude=excl, domain=domain, item_type=item_type)

    def user_to_user(self, user_rows: np.ndarray, k: int):
        """Top-k other users of each user."""
        user_rows = np.asarray(user_rows, dtype=np.int64)
        excl = (np.arange(user_rows.size + 1, dtype=np.int64), user_rows)
        return self.users.search(self.users.vectors[user_rows], k, exclude=excl)
