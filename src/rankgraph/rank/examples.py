"""Ranking examples: per-user history snapshots and labelled candidates from the temporal split.

Two windows share one construction (`window_examples`):

- **train**: candidates from the validation window ``[val_start, cut)`` at the end of the
  train period, history = events before ``val_start``;
- **test**: candidates from the test period (``ts >= cut``, the `temporal_split` test view),
  history = events before ``cut``.

A window's history is a snapshot taken at its start (``ref_ts``), shared by every candidate
of the user in that window, so nothing at or after ``ref_ts`` can enter a candidate's
features; graph embeddings must come from a graph built before ``val_start``
(`rankgraph.rank.pipeline.graph_embeddings` does so), which covers both windows.

Candidates: every distinct item the user engaged in the window (positives, at most
`max_positives` per user, a seeded sample) plus `negatives_per_positive` items of the
positive's domain that the user did not engage in the window, drawn by popularity (event
count before ``val_start``) or uniformly from the vocabulary (items seen before ``val_start``);
engaged items outside the vocabulary are left out, so both windows draw from one item set.
Labels: ``click`` = engaged; ``conv`` = a `conversion_events` event on the item in the
window, defined (``conv_mask``) on candidates of domains where conversions occur
(``conversion_among="candidates"``, synthetic ads) or on engaged candidates (``"engaged"``,
Ciao ratings >= 4). ``cold``: the user has no history event in the candidate's domain.

Index conventions (shared with the model): items 0 = padding, 1 = out of vocabulary (first
seen after ``val_start``), 2.. = `RankVocab` rows; domains, events and gap buckets 0 =
padding; event 1 = the candidate marker; users 0 = unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from rankgraph.config.rank import RankExamplesConfig
from rankgraph.data.events import qident, qlit, to_arrow
from rankgraph.data.split import temporal_split
from rankgraph.errors import InputError

PAD, OOV = 0, 1
CANDIDATE_EVENT = 1
ITEM_OFFSET = 2
EVENT_OFFSET = 2


@dataclass
class RankVocab:
    """Items, users, domains and events the ranker can embed, all known before ``val_start``.

    `item_type`/`item_id`: raw keys of item rows (index = ITEM_OFFSET + row);
    `item_domain`: domain index of each item row; `item_count`: events before ``val_start``.
    """

    item_type: pa.Array
    item_id: pa.Array
    item_domain: np.ndarray
    item_count: np.ndarray
    user_id: pa.Array
    domains: list[str]
    events: list[str]

    @property
    def n_items(self) -> int:
        """Size of the item index space, padding and OOV included."""
        return len(self.item_id) + ITEM_OFFSET

    @property
    def n_users(self) -> int:
        return len(self.user_id) + 1

    @property
    def n_domains(self) -> int:
        return len(self.domains) + 1

    @property
    def n_events(self) -> int:
        return len(self.events) + EVENT_OFFSET


@dataclass
class RankExamples:
    """One window's examples. History arrays are per user row [U, L], right-aligned
    (most recent last, padding first); candidate arrays are per example [N]."""

    ref_ts: int
    user_id: pa.Array  # [U] raw ids
    user: np.ndarray  # [U] int64 user index (0 unknown)
    hist_item: np.ndarray  # [U, L] int64
    hist_event: np.ndarray  # [U, L] int64
    hist_domain: np.ndarray  # [U, L] int64
    hist_gap: np.ndarray  # [U, L] int64
    row: np.ndarray  # [N] int64 user row of each example
    cand_item: np.ndarray  # [N] int64
    cand_domain: np.ndarray  # [N] int64
    click: np.ndarray  # [N] float32
    conv: np.ndarray  # [N] float32
    conv_mask: np.ndarray  # [N] bool
    cold: np.ndarray  # [N] bool

    def __len__(self) -> int:
        return int(self.row.shape[0])


@dataclass
class RankData:
    """Vocabulary plus the train (validation window) and test examples, and their cuts."""

    vocab: RankVocab
    train: RankExamples
    test: RankExamples
    val_start: int
    cut: int
    report: dict[str, int]


def gap_bucket(gap: np.ndarray, unit: int, buckets: int) -> np.ndarray:
    """1 + floor(log2(1 + gap / unit)) clipped to [1, buckets - 1]; 0 stays padding.

    Example: unit 3600 (hours): a 30-minute gap is bucket 1, 3 hours bucket 3, a week bucket 8.
    """
    g = np.maximum(np.asarray(gap, dtype=np.float64), 0.0) / float(unit)
    return np.clip(1 + np.floor(np.log2(1.0 + g)).astype(np.int64), 1, buckets - 1)


def build_vocab(con: duckdb.DuckDBPyConnection, hist: str, every: str, event_types: list[str] | None = None) -> RankVocab:
    """The vocabulary of the view `hist` (events before ``val_start``); domains/events from `every`."""
    items = to_arrow(con.sql(
        f"SELECT item_type, item_id, arg_min(domain, ts) AS domain, count(*) AS n FROM {qident(hist)} "
        "GROUP BY item_type, item_id ORDER BY item_type, item_id"
    ))
    domains = [r[0] for r in con.execute(f"SELECT DISTINCT domain FROM {qident(every)} ORDER BY 1").fetchall()]
    events = list(event_types) if event_types else [
        r[0] for r in con.execute(f"SELECT DISTINCT event FROM {qident(every)} ORDER BY 1").fetchall()
    ]
    users = to_arrow(con.sql(f"SELECT DISTINCT user_id FROM {qident(hist)} ORDER BY user_id")).column(0).combine_chunks()
    if len(items) == 0:
        raise InputError(f"no events before the validation window in {hist}", path=hist, column="ts")
    dom_index = {d: i + 1 for i, d in enumerate(domains)}
    item_domain = np.array([dom_index.get(d, PAD) for d in items.column("domain").to_pylist()], dtype=np.int64)
    return RankVocab(
        item_type=items.column("item_type").combine_chunks(),
        item_id=items.column("item_id").combine_chunks(),
        item_domain=item_domain,
        item_count=items.column("n").to_numpy().astype(np.float64),
        user_id=users,
        domains=domains,
        events=events,
    )


def _register_vocab(con: duckdb.DuckDBPyConnection, vocab: RankVocab) -> None:
    n = len(vocab.item_id)
    con.register("__rk_items", pa.table({
        "item_type": vocab.item_type, "item_id": vocab.item_id,
        "idx": pa.array(np.arange(ITEM_OFFSET, ITEM_OFFSET + n, dtype=np.int64)),
    }))
    con.register("__rk_domains", pa.table({
        "domain": pa.array(vocab.domains, pa.string()),
        "idx": pa.array(np.arange(1, len(vocab.domains) + 1, dtype=np.int64)),
    }))
    con.register("__rk_events", pa.table({
        "event": pa.array(vocab.events, pa.string()),
        "idx": pa.array(np.arange(EVENT_OFFSET, EVENT_OFFSET + len(vocab.events), dtype=np.int64)),
    }))
    con.register("__rk_users", pa.table({
        "user_id": vocab.user_id, "idx": pa.array(np.arange(1, len(vocab.user_id) + 1, dtype=np.int64)),
    }))


def _rank_within(group: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Position of each element within its group after sorting by `key` (vectorised)."""
    order = np.lexsort((key, group))
    g = group[order]
    starts = np.searchsorted(g, g, side="left")
    pos = np.empty_like(order)
    pos[order] = np.arange(order.size) - starts
    return pos


def window_examples(
    con: duckdb.DuckDBPyConnection,
    hist: str,
    cand: str,
    ref_ts: int,
    vocab: RankVocab,
    cfg: RankExamplesConfig,
    rng: np.random.Generator,
) -> RankExamples:
    """Examples whose history comes from view `hist` (all ts < ref_ts) and candidates from `cand`."""
    _register_vocab(con, vocab)
    L = cfg.max_history
    h, c = qident(hist), qident(cand)
    users = to_arrow(con.sql(
        f"SELECT DISTINCT user_id FROM {c} WHERE user_id IN (SELECT user_id FROM {h}) ORDER BY user_id"
    )).column(0).combine_chunks()
    if cfg.max_users is not None and len(users) > cfg.max_users:
        keep = np.sort(rng.choice(len(users), cfg.max_users, replace=False))
        users = users.take(pa.array(keep))
    n_users = len(users)
    con.register("__rk_cand_users", pa.table({"user_id": users, "row": pa.array(np.arange(n_users, dtype=np.int64))}))
    user_idx = to_arrow(con.sql(
        "SELECT coalesce(v.idx, 0) AS idx FROM __rk_cand_users u LEFT JOIN __rk_users v USING (user_id) ORDER BY u.row"
    )).column(0).to_numpy().astype(np.int64)

    # History: the last L events before ref_ts, most recent last (right-aligned).
    rows = to_arrow(con.sql(f"""
        WITH h AS (
            SELECT u.row, coalesce(i.idx, {OOV}) AS item, coalesce(d.idx, 0) AS dom, coalesce(v.idx, 0) AS ev, e.ts,
                   row_number() OVER (PARTITION BY u.row ORDER BY e.ts DESC, coalesce(i.idx, {OOV}) DESC,
                                      coalesce(v.idx, 0) DESC) AS rn
            FROM {h} e JOIN __rk_cand_users u USING (user_id)
            LEFT JOIN __rk_items i USING (item_type, item_id)
            LEFT JOIN __rk_domains d ON d.domain = e.domain
            LEFT JOIN __rk_events v ON v.event = e.event
            WHERE e.ts < {int(ref_ts)})
        SELECT row, rn, item, dom, ev, ts FROM h WHERE rn <= {L}
    """))
    r = rows.column("row").to_numpy().astype(np.int64)
    col = L - rows.column("rn").to_numpy().astype(np.int64)
    shape = (n_users, L)
    hist_item, hist_event, hist_domain, hist_gap = (np.zeros(shape, np.int64) for _ in range(4))
    hist_item[r, col] = rows.column("item").to_numpy()
    hist_event[r, col] = rows.column("ev").to_numpy()
    hist_domain[r, col] = rows.column("dom").to_numpy()
    hist_gap[r, col] = gap_bucket(ref_ts - rows.column("ts").to_numpy(), cfg.gap_unit, cfg.gap_buckets)

    # Domains each user touched before ref_ts (whole history, not only the last L events).
    seen = to_arrow(con.sql(f"""
        SELECT DISTINCT u.row, d.idx AS dom FROM {h} e JOIN __rk_cand_users u USING (user_id)
        JOIN __rk_domains d ON d.domain = e.domain WHERE e.ts < {int(ref_ts)}
    """))
    nd = vocab.n_domains
    seen_keys = seen.column("row").to_numpy().astype(np.int64) * nd + seen.column("dom").to_numpy().astype(np.int64)

    # Positives: distinct engaged items of the window.
    conv_list = ", ".join(qlit(e) for e in cfg.conversion_events) or "NULL"
    pos = to_arrow(con.sql(f"""
        SELECT u.row, coalesce(i.idx, {OOV}) AS item, coalesce(d.idx, 0) AS dom,
               bool_or(e.event IN ({conv_list})) AS conv
        FROM {c} e JOIN __rk_cand_users u USING (user_id)
        LEFT JOIN __rk_items i USING (item_type, item_id)
        LEFT JOIN __rk_domains d ON d.domain = e.domain
        GROUP BY u.row, e.item_type, e.item_id, i.idx, d.idx
        ORDER BY u.row, e.item_type, e.item_id, d.idx
    """))
    p_row = pos.column("row").to_numpy().astype(np.int64)
    p_item = pos.column("item").to_numpy().astype(np.int64)
    p_dom = pos.column("dom").to_numpy().astype(np.int64)
    p_conv = pos.column("conv").to_numpy(zero_copy_only=False).astype(bool)
    engaged_keys = np.unique(p_row * vocab.n_items + p_item)
    # An item first seen after val_start has no trained embedding and could never be drawn as
    # a negative (so OOV would mean "positive"): such candidates are left out.
    known = p_item >= ITEM_OFFSET
    p_row, p_item, p_dom, p_conv = p_row[known], p_item[known], p_dom[known], p_conv[known]
    keep = _rank_within(p_row, rng.random(p_row.size)) < cfg.max_positives
    p_row, p_item, p_dom, p_conv = p_row[keep], p_item[keep], p_dom[keep], p_conv[keep]

    # Negatives: per positive, k items of its domain the user did not engage in the window.
    k = cfg.negatives_per_positive
    n_row, n_item, n_dom = [], [], []
    for d in np.unique(p_dom):
        pool = np.flatnonzero(vocab.item_domain == d)
        sel = np.flatnonzero(p_dom == d)
        if pool.size == 0 or sel.size == 0:
            continue
        if cfg.negative_sampling == "popularity":
            w = vocab.item_count[pool]
            draw = rng.choice(pool, size=sel.size * k, p=w / w.sum())
        else:
            draw = rng.choice(pool, size=sel.size * k)
        n_row.append(np.repeat(p_row[sel], k))
        n_item.append(draw.astype(np.int64) + ITEM_OFFSET)
        n_dom.append(np.full(sel.size * k, d, np.int64))
    neg_row = np.concatenate(n_row) if n_row else np.zeros(0, np.int64)
    neg_item = np.concatenate(n_item) if n_item else np.zeros(0, np.int64)
    neg_dom = np.concatenate(n_dom) if n_dom else np.zeros(0, np.int64)
    fresh = ~np.isin(neg_row * vocab.n_items + neg_item, engaged_keys)
    neg_row, neg_item, neg_dom = neg_row[fresh], neg_item[fresh], neg_dom[fresh]

    row = np.concatenate([p_row, neg_row])
    cand_item = np.concatenate([p_item, neg_item])
    cand_domain = np.concatenate([p_dom, neg_dom])
    click = np.concatenate([np.ones(p_row.size, np.float32), np.zeros(neg_row.size, np.float32)])
    conv = np.concatenate([p_conv.astype(np.float32), np.zeros(neg_row.size, np.float32)])
    if cfg.conversion_among == "engaged":
        conv_mask = click > 0
    else:
        conv_domains = to_arrow(con.sql(
            f"SELECT DISTINCT d.idx FROM {h} e JOIN __rk_domains d ON d.domain = e.domain "
            f"WHERE e.event IN ({conv_list})"
        )).column(0).to_numpy().astype(np.int64)
        conv_mask = np.isin(cand_domain, conv_domains)
    cold = ~np.isin(row * nd + cand_domain, seen_keys)
    for name in ("__rk_items", "__rk_domains", "__rk_events", "__rk_users", "__rk_cand_users"):
        con.unregister(name)
    return RankExamples(
        ref_ts=int(ref_ts), user_id=users, user=user_idx, hist_item=hist_item, hist_event=hist_event,
        hist_domain=hist_domain, hist_gap=hist_gap, row=row, cand_item=cand_item, cand_domain=cand_domain,
        click=click, conv=conv, conv_mask=conv_mask, cold=cold,
    )


def validation_start(con: duckdb.DuckDBPyConnection, train_view: str, cut: int, cfg: RankExamplesConfig) -> int:
    """Start of the validation window: ``cut - val_window``, or the last `val_fraction` of the train span."""
    if cfg.val_window is not None:
        start = int(cut) - int(cfg.val_window)
    else:
        lo = con.execute(f"SELECT min(ts) FROM {qident(train_view)}").fetchall()[0][0]
        start = int(cut) - int(np.ceil((int(cut) - int(lo)) * cfg.val_fraction))
    return start


def make_examples(
    con: duckdb.DuckDBPyConnection,
    cut: int,
    cfg: RankExamplesConfig,
    *,
    source: str = "events",
    event_types: list[str] | None = None,
) -> RankData:
    """Train (validation-window) and test examples from the canonical events view `source`.

    Uses `rankgraph.data.split.temporal_split` twice: at `cut` (test) and at ``val_start``
    inside the train view (the ranker's training window), so both windows follow the one
    split rule: a candidate's user and item must have been seen before its window.
    """
    split = temporal_split(con, cut=int(cut), source=source, prefix="__rk_")
    val_start = validation_start(con, split.train, split.cut, cfg)
    val = temporal_split(con, cut=val_start, source=split.train, prefix="__rk_val_")
    vocab = build_vocab(con, val.train, split.train, event_types)
    rng = np.random.default_rng(cfg.seed)
    train = window_examples(con, val.train, val.test, val_start, vocab, cfg, rng)
    test = window_examples(con, split.train, split.test, split.cut, vocab, cfg, rng)
    if len(train) == 0 or len(test) == 0:
        raise InputError(
            f"no ranking examples in the {'validation' if len(train) == 0 else 'test'} window "
            f"(val_start={val_start}, cut={split.cut})", path=source, column="ts")
    report = {
        "cut": split.cut, "val_start": val_start, "items": len(vocab.item_id), "users": len(vocab.user_id),
        "train_examples": len(train), "test_examples": len(test),
        "train_users": int(train.user.size), "test_users": int(test.user.size),
    }
    return RankData(vocab=vocab, train=train, test=test, val_start=val_start, cut=split.cut, report=report)
