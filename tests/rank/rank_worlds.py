"""Helpers: a tiny planted world for the ranker tests: two domains, conversions on the ad domain.

Users 0..23 each click 14 items at ts in [0, 300) (cut 200, validation window [150, 200)):
taste group g = user % 2 prefers items of its half of each domain; every ad click of a
group-0 user converts. Each test builds its own copy so a test may plant events.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from rankgraph.config.rank import RankConfig, RankExamplesConfig, RankModelConfig, RankTrainConfig

CUT = 200
VAL_WINDOW = 50


def planted_events(seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    n_users, per_user = 24, 14
    user = np.repeat(np.arange(n_users), per_user)
    group = user % 2
    is_ad = rng.random(user.size) < 0.35
    half = rng.integers(0, 10, user.size) + 10 * group
    item = np.where(is_ad, 100 + half, half)
    ts = rng.integers(0, 300, user.size)
    rows = {
        "user_id": user.astype(np.int64),
        "item_id": item.astype(np.int64),
        "item_type": np.where(is_ad, "ad", "post"),
        "domain": np.where(is_ad, "ads", "feed"),
        "event": np.full(user.size, "click"),
        "ts": ts.astype(np.int64),
    }
    conv = is_ad & (group == 0)
    for k in ("user_id", "item_id", "item_type", "domain", "ts"):
        rows[k] = np.concatenate([rows[k], rows[k][conv]])  # the conversion at the click's time
    rows["event"] = np.concatenate([rows["event"], np.full(int(conv.sum()), "convert")])
    return table(rows)


def table(rows: dict) -> pa.Table:
    n = len(rows["user_id"])
    return pa.table({
        "user_id": pa.array(rows["user_id"], pa.int64()),
        "item_id": pa.array(rows["item_id"], pa.int64()),
        "item_type": pa.array(rows["item_type"], pa.string()),
        "domain": pa.array(rows["domain"], pa.string()),
        "event": pa.array(rows["event"], pa.string()),
        "ts": pa.array(rows["ts"], pa.int64()),
        "value": pa.array(np.ones(n), pa.float64()),
    })


def connect(events: pa.Table) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.register("events", events)
    return con


def small_config(**examples) -> RankConfig:
    ex = dict(val_window=VAL_WINDOW, max_history=8, max_positives=4, negatives_per_positive=2, gap_unit=1,
              gap_buckets=12)
    ex.update(examples)
    return RankConfig(
        examples=RankExamplesConfig(**ex),
        model=RankModelConfig(dim=16, layers=1, heads=2, dropout=0.0, neighbours=4),
        train=RankTrainConfig(epochs=2, batch_size=64, lr=5e-3),
        seeds=[0],
    )
