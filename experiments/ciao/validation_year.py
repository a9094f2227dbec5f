"""A validation year for a converted Tang crawl: the same split one year earlier.

Decisions about the read-out or training must not be made on the test period. This writes
a copy of a `rankgraph run`'s converted data (RUN_DIR/data) that keeps only the events
before the run's cut (`graph.train_until`) and moves the cut one year back, so a
`rankgraph run` on it trains on everything up to a year before the real cut and is scored
on the year before it, with the test's 12-month horizon:

    python experiments/ciao/validation_year.py RUN_DIR/data OUT_DIR
    rankgraph run --dataset config --config OUT_DIR/rankgraph.yaml --out VAL_RUN --baselines popularity
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from rankgraph.artifact import atomic_dir
from rankgraph.data.split import SECONDS_PER_YEAR, format_cut, parse_cut


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        sys.exit(__doc__)
    source, out = Path(argv[0]), Path(argv[1])
    config = yaml.safe_load((source / "rankgraph.yaml").read_text())
    if config["data"].get("time_unit") != "seconds" or "train_until" not in config.get("graph", {}):
        sys.exit(
            f"{source / 'rankgraph.yaml'}: needs data.time_unit seconds and graph.train_until (a converted Tang crawl)"
        )
    cut = parse_cut(config["graph"]["train_until"])
    with atomic_dir(out) as tmp:
        for name in config["data"]["events"]:
            events = pq.read_table(source / name)
            kept = events.filter(pc.less(events[config["data"]["columns"]["ts"]], cut))
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(kept, tmp / name)
            print(
                f"{name}: kept {kept.num_rows:,} of {events.num_rows:,} events (before {format_cut(cut)})"
            )
        for edge in config["data"].get("side_edges", []):
            (tmp / edge["path"]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / edge["path"], tmp / edge["path"])  # untimed: the same links
        config["graph"]["train_until"] = format_cut(cut - SECONDS_PER_YEAR)
        (tmp / "rankgraph.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    print(
        f"wrote {out}: train until {config['graph']['train_until']}, validation year up to {format_cut(cut)}"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
