"""Mean and spread of `score_models.py` rows, against the stronger of ALS and LightGCN.

    python experiments/ciao/summarize.py RUN_DIR RESULTS NAME=TAG,TAG,... [NAME=TAG,... ...]
        [--baselines METRICS_JSON]

Each NAME groups runs (seeds, or ensembles of disjoint seeds). A column counts as beaten
when the group's mean leads the stronger of ALS and LightGCN in RUN_DIR/metrics.json by
more than the group's sample standard deviation, the criterion of issue #6.
`--baselines` takes them from another metrics file instead, e.g. `rankgraph evaluate --out`
under the same tuning overrides as the RESULTS rows.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from rankgraph.evaluate.compare import headline

COLUMNS = ("ER@100", "ER@100 xd", "R@100", "R@100 xd")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("results", type=Path)
    parser.add_argument("groups", nargs="+", help="NAME=TAG,TAG,...")
    parser.add_argument("--baselines", type=Path, help="metrics JSON to take ALS and LightGCN from")
    return parser.parse_args(argv)


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    baselines_at = args.baselines or args.run_dir / "metrics.json"
    methods = json.loads(baselines_at.read_text())["methods"]
    compared = [m for m in ("als", "lightgcn") if m in methods]
    if not compared:
        sys.exit(
            f"{baselines_at}: neither ALS nor LightGCN was run (rankgraph run --baselines als,lightgcn)"
        )
    baseline = {c: max(headline(methods[m], 100)[c] or 0.0 for m in compared) for c in COLUMNS}
    rows = {}
    for line in args.results.read_text().splitlines():
        row = json.loads(line)
        rows[row["tag"]] = row  # a tag scored again replaces its earlier row
    print(
        f"stronger of {' / '.join(compared)}: "
        + ", ".join(f"{c} {baseline[c]:.4f}" for c in COLUMNS)
    )
    for group in args.groups:
        name, _, tags = group.partition("=")
        missing = [t for t in tags.split(",") if t not in rows]
        if missing:
            sys.exit(f"{args.results}: no row tagged {', '.join(missing)}")
        values = {
            c: np.array([rows[t][c] for t in tags.split(",")], dtype=np.float64)
            for c in (*COLUMNS, "NDCG@100")
        }
        print(f"{name} ({len(tags.split(','))} runs)")
        for column, v in values.items():
            spread = v.std(ddof=1) if v.size > 1 else float("nan")
            line = f"  {column:10s} {v.mean():.4f} ± {spread:.4f}"
            if column in baseline:
                margin = v.mean() - baseline[column]
                verdict = "beaten" if margin > spread else "level" if margin > -spread else "behind"
                line += f"  margin {margin:+.4f}: {verdict}"
            print(line)


if __name__ == "__main__":
    main(sys.argv[1:])
