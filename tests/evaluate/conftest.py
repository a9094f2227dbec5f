"""Small hand-built and planted event tables for the evaluation tests."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest


def events_table(rows: list[tuple]) -> pa.Table:
    """rows: (user_id, item_id, item_type, domain, event, ts)."""
    cols = list(zip(*rows))
    return pa.table(
        {
            "user_id": pa.array(cols[0], pa.int64()),
            "item_id": pa.array(cols[1], pa.int64()),
            "item_type": pa.array(cols[2], pa.string()),
            "domain": pa.array(cols[3], pa.string()),
            "event": pa.array(cols[4], pa.string()),
            "ts": pa.array(cols[5], pa.int64()),
            "value": pa.array([1.0] * len(rows), pa.float64()),
        }
    )


@pytest.fixture
def planted_events() -> pa.Table:
    """4 taste groups x 25 users x 40 items; Zipf(1.5) popularity within a group; cut at ts 100.

    Train: 5 events per user in [0, 100); test: 4 events per user in [100, 110).
    """
    rng = np.random.default_rng(0)
    groups, users_per, items_per = 4, 25, 40
    p = 1.0 / np.arange(1, items_per + 1) ** 1.5
    p /= p.sum()
    rows = []
    for g in range(groups):
        for u in range(users_per):
            uid = g * users_per + u
            for n, lo, hi in ((5, 0, 100), (4, 100, 110)):
                items = rng.choice(items_per, n, replace=False, p=p) + g * items_per
                for it, t in zip(items, rng.integers(lo, hi, n)):
                    rows.append((uid, int(it), "post", f"d{g}", "click", int(t)))
    return events_table(rows)
