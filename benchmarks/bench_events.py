"""Time `open_events` (read + validate) on N synthetic events against a pandas reference.

The reference does the same work the obvious way: pandas reads the file and runs the same
checks vectorised (null ids, unknown events, unparseable time, negative/NaN value). Prints
both times and the ratio pandas / rankgraph.

    .venv/bin/python benchmarks/bench_events.py --rows 10000000 --format parquet
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import duckdb

from rankgraph.config.data import DataConfig
from rankgraph.data.events import open_events

EVENTS = ["click", "like", "share", "convert"]
TS = {
    "iso": "strftime(TIMESTAMP '2020-01-01' + INTERVAL (i % 31536000) SECOND, '%Y-%m-%dT%H:%M:%S')",
    "int": "1577836800 + i % 31536000",
}


def make_file(path: Path, rows: int, fmt: str, ts: str = "iso") -> None:
    con = duckdb.connect()
    kind = {"parquet": "(FORMAT parquet)", "csv": "(HEADER)"}[fmt]
    con.execute(
        f"""COPY (SELECT (i * 7919) % 1000003 AS user_id, (i * 104729) % 200003 AS item_id,
                  ['post','video','ad'][1 + i % 3] AS item_type, 'd' || (i % 11) AS domain,
                  {EVENTS}[1 + i % 4] AS event,
                  {TS[ts]} AS ts,
                  (i % 5)::DOUBLE AS value
           FROM range({rows}) t(i)) TO '{path}' {kind}"""
    )


def pandas_reference(path: Path, fmt: str) -> int:
    import numpy as np
    import pandas as pd

    df = pd.read_parquet(path) if fmt == "parquet" else pd.read_csv(path)
    for col in ("user_id", "item_id", "event"):
        bad = df[col].isna().to_numpy()
        assert not bad.any()
    assert df["event"].isin(EVENTS).all()
    if df["ts"].dtype.kind in "iu":
        ts = pd.to_datetime(df["ts"], unit="s", utc=True)
    else:
        ts = pd.to_datetime(df["ts"], errors="coerce", utc=True)
    assert not ts.isna().any()
    v = df["value"].to_numpy(dtype=float)
    assert not (np.isnan(v) | (v < 0)).any()
    df["ts"] = ts.astype("int64") // 10**9
    return len(df)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    ap.add_argument("--ts", choices=sorted(TS), default="int", help="time column: unix seconds or ISO text")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"events.{args.format}"
        make_file(path, args.rows, args.format, args.ts)
        cfg = DataConfig(events=[str(path)], event_types=EVENTS)
        t0 = time.perf_counter()
        con = duckdb.connect()
        n = open_events(con, cfg)
        kind = con.execute("SELECT table_type FROM information_schema.tables WHERE table_name = 'events'").fetchall()[0][0]
        t_open = time.perf_counter() - t0
        t0 = time.perf_counter()
        m = pandas_reference(path, args.format)
        t_ref = time.perf_counter() - t0
    assert n == m == args.rows
    print(f"rows={n} format={args.format} ts={args.ts}")
    print(f"open_events (read+validate -> {kind}): {t_open:.2f} s")
    print(f"pandas reference (read+same checks): {t_ref:.2f} s")
    print(f"ratio pandas/rankgraph: {t_ref / t_open:.2f}x")


if __name__ == "__main__":
    main()
