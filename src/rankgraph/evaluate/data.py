"""Evaluation input as plain arrays, so RankGraph and every baseline are scored by the same code.

`EvalData` holds the train and test interactions of a temporal split encoded as rows: users
in the user id map, items in one global item row space across item types
(global row = `item_offsets[type index] + row in that type's id map`), events and domains as
codes into sorted vocabularies.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from rankgraph.errors import InputError

REQUIRED = ("user_id", "item_id", "item_type", "domain", "event", "ts")


@dataclass
class Interactions:
    """Encoded events: one entry per event, arrays of equal length."""

    user: np.ndarray  # int64 user row
    item: np.ndarray  # int64 global item row
    event: np.ndarray  # int32 code into EvalData.events
    ts: np.ndarray  # int64
    domain: np.ndarray  # int32 code into EvalData.domains

    def __len__(self) -> int:
        return int(self.user.size)

    def take(self, mask_or_idx: np.ndarray) -> Interactions:
        return Interactions(*(getattr(self, f)[mask_or_idx] for f in ("user", "item", "event", "ts", "domain")))


def _sorted_unique(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    u = pc.unique(col)
    return pc.take(u, pc.sort_indices(u))


@dataclass
class EvalData:
    """Train/test interactions of one temporal split, in row space (see module docstring)."""

    user_ids: pa.Array
    item_types: list[str]
    item_ids: dict[str, pa.Array]
    events: list[str]
    domains: list[str]
    train: Interactions
    test: Interactions
    cut: int | None = None
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def item_offsets(self) -> np.ndarray:
        sizes = [len(self.item_ids[t]) for t in self.item_types]
        return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

    @property
    def n_items(self) -> int:
        return int(self.item_offsets[-1])

    @classmethod
    def from_tables(
        cls,
        train: pa.Table,
        test: pa.Table,
        *,
        user_ids: pa.Array | None = None,
        item_ids: dict[str, pa.Array] | None = None,
        cut: int | None = None,
    ) -> EvalData:
        """Encode canonical event tables (`rankgraph.data` columns) against id maps.

        Id maps default to the sorted ids seen in `train` (what a model fitted on train can
        know). Events with unknown ids are dropped and counted in `dropped`; with `cut`, train
        events at or after it and test events before it are dropped too (never leak).
        """
        for name, table in (("train", train), ("test", test)):
            missing = [c for c in REQUIRED if c not in table.column_names]
            if missing:
                raise InputError(f"{name} events lack columns {missing}", column=missing[0])
        if user_ids is None:
            user_ids = _sorted_unique(train.column("user_id"))
        if item_ids is None:
            types = _sorted_unique(train.column("item_type")).to_pylist()
            item_ids = {
                t: _sorted_unique(train.filter(pc.equal(train.column("item_type"), t)).column("item_id")) for t in types
            }
        item_types = sorted(item_ids)
        events = sorted(set(_sorted_unique(train.column("event")).to_pylist()) | set(_sorted_unique(test.column("event")).to_pylist()))
        domains = sorted(
            set(_sorted_unique(train.column("domain")).to_pylist()) | set(_sorted_unique(test.column("domain")).to_pylist())
        )
        offsets = np.concatenate([[0], np.cumsum([len(item_ids[t]) for t in item_types])]).astype(np.int64)
        dropped: dict[str, int] = {}

        def encode(table: pa.Table, name: str) -> Interactions:
            n = table.num_rows
            user = pc.index_in(table.column("user_id"), value_set=user_ids).to_numpy(zero_copy_only=False)
            user = np.where(np.isnan(user.astype(np.float64)), -1, user).astype(np.int64) if n else np.zeros(0, np.int64)
            item = np.full(n, -1, dtype=np.int64)
            itype = table.column("item_type").to_numpy(zero_copy_only=False).astype(object) if n else np.zeros(0, object)
            for ti, t in enumerate(item_types):
                rows = np.flatnonzero(itype == t)
                if rows.size == 0:
                    continue
                local = pc.index_in(pc.take(table.column("item_id"), pa.array(rows)), value_set=item_ids[t])
                local = local.to_numpy(zero_copy_only=False).astype(np.float64)
                item[rows] = np.where(np.isnan(local), -1, local + offsets[ti]).astype(np.int64)
            ev = pc.index_in(table.column("event"), value_set=pa.array(events)).to_numpy(zero_copy_only=False)
            dom = pc.index_in(table.column("domain"), value_set=pa.array(domains)).to_numpy(zero_copy_only=False)
            ts = table.column("ts").to_numpy(zero_copy_only=False).astype(np.int64)
            inter = Interactions(user, item, np.asarray(ev, np.int32), ts, np.asarray(dom, np.int32))
            keep = (user >= 0) & (item >= 0)
            dropped[f"{name}_unknown_user"] = int((user < 0).sum())
            dropped[f"{name}_unknown_item"] = int(((user >= 0) & (item < 0)).sum())
            if cut is not None:
                wrong_side = (ts >= cut) if name == "train" else (ts < cut)
                dropped[f"{name}_wrong_side_of_cut"] = int((keep & wrong_side).sum())
                keep &= ~wrong_side
            return inter.take(keep)

        return cls(
            user_ids=user_ids,
            item_types=item_types,
            item_ids=dict(item_ids),
            events=events,
            domains=domains,
            train=encode(train, "train"),
            test=encode(test, "test"),
            cut=cut,
            dropped=dropped,
        )

    @classmethod
    def from_events(cls, events: pa.Table, cut: int, **kwargs) -> EvalData:
        """Split one event table at `cut` (train: ts < cut, test: ts >= cut) and encode it."""
        ts = events.column("ts")
        return cls.from_tables(
            events.filter(pc.less(ts, cut)), events.filter(pc.greater_equal(ts, cut)), cut=cut, **kwargs
        )

    @classmethod
    def from_split(cls, split, **kwargs) -> EvalData:
        """Encode a `rankgraph.data.split.temporal_split` result (the project's one split)."""
        return cls.from_tables(split.to_arrow("train"), split.to_arrow("test"), cut=int(split.cut), **kwargs)

    def carve_validation(self, fraction: float) -> EvalData:
        """A split of the train part alone: its last `fraction` of events (by time) become the test.

        Id maps are kept, so a model tuned on it scores the same rows. Used for tuning, never
        touching the real test events.
        """
        if not 0 < fraction < 1:
            raise InputError(f"validation fraction must be in (0, 1), got {fraction}", column="validation_fraction")
        if len(self.train) == 0:
            raise InputError("no train events to carve a validation slice from")
        cut = int(np.quantile(self.train.ts, 1 - fraction, method="higher"))
        if cut <= self.train.ts.min():
            cut = int(np.unique(self.train.ts)[-1])
        early = self.train.ts < cut
        return replace(self, train=self.train.take(early), test=self.train.take(~early), cut=cut, dropped={})

    def train_matrix(self, weights: np.ndarray | None = None, *, binary: bool = False) -> sp.csr_array:
        """[n_users, n_items] sum of train event weights (weights indexed by event code)."""
        w = np.ones(len(self.train), np.float32) if weights is None else np.asarray(weights, np.float32)[self.train.event]
        m = sp.csr_array((w, (self.train.user, self.train.item)), shape=(self.n_users, self.n_items))
        m.sum_duplicates()
        if binary:
            m.data[:] = 1.0
        return m

    def seen(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """CSR (indptr, indices) of the train items of each given user: the exclusion lists."""
        m = self.train_matrix(binary=True)[np.asarray(users, dtype=np.int64)]
        return m.indptr.astype(np.int64), m.indices.astype(np.int64)

    def event_weights(self, weights: dict[str, float]) -> np.ndarray:
        """Weight per event code from a name -> weight mapping (missing names weigh 1)."""
        return np.asarray([float(weights.get(e, 1.0)) for e in self.events], dtype=np.float64)
