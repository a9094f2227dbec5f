"""Time `generate_world` for a ~1M-event world.

Prints seconds and events/s, and the ratio against a reference measured in the same run:
writing an already-built table of the same rows to Parquet (the I/O floor), so a slower or
faster machine moves both numbers together.

    .venv/bin/python benchmarks/bench_generate.py [--users 16000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from rankgraph.data.synthetic import WorldConfig, generate_world


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=16_000, help="16,000 users give about 1M events")
    parser.add_argument("--events-per-user", type=float, default=40.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cfg = WorldConfig(n_users=args.users, events_per_user=args.events_per_user, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        gen, ref = [], []
        for i in range(args.repeat):
            out = Path(tmp) / f"w{i}"
            t0 = time.perf_counter()
            summary = generate_world(out, cfg)
            gen.append(time.perf_counter() - t0)
            table = pq.read_table(out / "events.parquet")
            t0 = time.perf_counter()
            pq.write_table(table, Path(tmp) / "ref.parquet")
            ref.append(time.perf_counter() - t0)
            shutil.rmtree(out)
    best, best_ref = min(gen), min(ref)
    print(f"users={cfg.n_users:,} events={summary.events:,} follows={summary.follows:,}")
    print(f"generate_world: {best:.2f} s (best of {args.repeat}), {summary.events / best:,.0f} events/s")
    print(f"reference (write the same events table to Parquet): {best_ref:.2f} s")
    print(f"ratio generate / reference write: {best / best_ref:.1f}x")


if __name__ == "__main__":
    main()
