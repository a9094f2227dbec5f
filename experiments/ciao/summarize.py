"""Mean and spread of `score_models.py` rows, against the stronger of ALS and LightGCN.

    python experiments/ciao/summarize.py RUN_DIR RESULTS NAME=TAG,TAG,... [NAME=TAG,... ...]

Each NAME groups runs (seeds, or ensembles of disjoint seeds). A column counts as beaten
when the group's mean leads the stronger of ALS and LightGCN in RUN_DIR/metrics.json by
more than the group's sample standard deviation, the criterion of issue #6.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from rankgraph.evaluate.compare import headline

COLUMNS = ("ER@100", "ER@100 xd", "R@100", "R@100 xd")


def main(argv: list[str]) -> None:
    if len(argv) < 3:
        sys.exit(__doc__)
    run_dir, results = Path(argv[0]), Path(argv[1])
    methods = json.loads((run_dir / "metrics.json").read_text())["methods"]
    compared = [m for m in ("als", "lightgcn") if m in methods]
    if not compared:
        sys.exit(
            f"{run_dir / 'metrics.json'}: neither ALS nor LightGCN was run (rankgraph run --baselines als,lightgcn)"
        )
    baseline = {c: max(headline(methods[m], 100)[c] or 0.0 for m in compared) for c in COLUMNS}
    rows = {}
    for line in results.read_text().splitlines():
        row = json.loads(line)
        rows[row["tag"]] = row  # a tag scored again replaces its earlier row
    print(
        f"stronger of {' / '.join(compared)}: "
        + ", ".join(f"{c} {baseline[c]:.4f}" for c in COLUMNS)
    )
    for group in argv[2:]:
        name, _, tags = group.partition("=")
        missing = [t for t in tags.split(",") if t not in rows]
        if missing:
            sys.exit(f"{results}: no row tagged {', '.join(missing)}")
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
