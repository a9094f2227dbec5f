"""Graph-construction throughput: `build_graph` vs a straightforward pandas build, same run.

Each measurement runs in its own subprocess so its peak resident memory (VmHWM from
/proc/self/status) is its own. Cases, per world size:

- `engagement`: events -> id maps, the engagement relations (+ reverses), the item domain
  feature, artifact write. No semantic relations, side edges or node tables.
- `pandas`: the same id maps and engagement weights with pandas groupby (the reference).
- `items`: engagement plus the item-item semantic top-k relations (one per item type).
- `full`: the world's whole `rankgraph.yaml` (engagement, item-item and user-user semantic
  top-k, side edges, node features), semantic engine `auto` (sparse), with `--max-item-degree`
  capping the user-user pivots.

Worlds come from `rankgraph.data.synthetic.generate_world` (cached under --work).

    .venv/bin/python benchmarks/bench_build.py --events 1000000 10000000 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

EVENTS_PER_USER = 40.0  # clicks; follow-ups add ~40% rows, measured below


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def ensure_world(work: Path, target_events: int) -> Path:
    from rankgraph.data.synthetic import WorldConfig, generate_world

    out = work / f"world_{target_events}"
    if (out / "rankgraph.yaml").exists():
        return out
    users = max(100, int(target_events / (EVENTS_PER_USER * 1.4)))
    generate_world(out, WorldConfig(n_users=users, events_per_user=EVENTS_PER_USER, seed=0), force=True)
    return out


def run_rankgraph(world: Path, out: Path, case: str, threads: int, max_item_degree: int) -> dict:
    from rankgraph.config import load_config
    from rankgraph.graph.build import build_graph

    sets = [f"graph.threads={threads}"]
    if case in ("engagement", "items"):
        sets += ["graph.use_side_edges=false", "data.node_tables=[]"]
    cfg = load_config(world / "rankgraph.yaml", sets)
    if case == "engagement":
        cfg.graph.semantic = []
    elif case == "items":
        cfg.graph.semantic = [r for r in cfg.graph.semantic if r.kind == "item_item"]
    for rel in cfg.graph.semantic:
        if rel.kind == "user_user":
            rel.max_item_degree = max_item_degree
    stages: dict[str, float] = {}
    last = [time.perf_counter(), "start"]

    def stage(msg: str) -> None:
        now = time.perf_counter()
        key = str(last[1])
        stages[key] = round(stages.get(key, 0.0) + now - float(last[0]), 2)
        last[0], last[1] = now, msg

    t0 = time.perf_counter()
    g = build_graph(cfg, out, stage=stage)
    stage("done")
    seconds = time.perf_counter() - t0
    manifest = json.loads((out / "manifest.json").read_text())
    return {
        "seconds": seconds,
        "events": manifest["counts"]["events_used"],
        "edges": {n: r.num_edges for n, r in g.relations.items()},
        "nodes": dict(g.num_nodes),
        "stages": stages,
    }


def run_pandas(world: Path, out: Path) -> dict:
    """The same engagement weights with pandas: groupby counts, log1p, coefficients, CSR."""
    import numpy as np
    import pandas as pd

    from rankgraph.config import load_config
    from rankgraph.graph.store import csr_from_coo

    from rankgraph.data.split import parse_cut

    cfg = load_config(world / "rankgraph.yaml")
    t0 = time.perf_counter()
    df = pd.read_parquet(cfg.data.events[0], columns=["user_id", "item_id", "item_type", "event", "ts"])
    if cfg.graph.train_until is not None:  # the same train events as build_graph
        df = df[df["ts"] < parse_cut(cfg.graph.train_until, cfg.data.time_unit)]
    users = np.sort(df["user_id"].unique())
    edges = 0
    for rel in cfg.graph.engagement:
        sub = df[df["event"].isin(list(rel.events)) & df["item_type"].isin(rel.item_types)]
        cnt = sub.groupby(["user_id", "item_type", "item_id", "event"], observed=True).size().reset_index(name="cnt")
        cnt["w"] = cnt["event"].map(rel.events).astype(float) * np.log1p(cnt["cnt"].to_numpy(float))
        w = cnt.groupby(["user_id", "item_type", "item_id"], observed=True)["w"].sum().reset_index()
        for t in rel.item_types:
            part = w[w["item_type"] == t]
            items = np.sort(df.loc[df["item_type"] == t, "item_id"].unique())
            src = np.searchsorted(users, part["user_id"].to_numpy())
            dst = np.searchsorted(items, part["item_id"].to_numpy())
            order = np.lexsort((src, dst))
            indptr, indices, weight = csr_from_coo(src[order], dst[order], part["w"].to_numpy()[order], len(items))
            np.save(out / f"{t}_indptr.npy", indptr)
            np.save(out / f"{t}_indices.npy", indices)
            np.save(out / f"{t}_weight.npy", weight)
            edges += len(indices)
    return {"seconds": time.perf_counter() - t0, "events": len(df), "edges": {"engagement": edges}}


def child(args: argparse.Namespace) -> None:
    world, out = Path(args.world), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.case == "pandas":
        res = run_pandas(world, out)
    else:
        res = run_rankgraph(world, out / "graph", args.case, args.threads, args.max_item_degree)
    import resource

    ru = resource.getrusage(resource.RUSAGE_SELF)
    res["cpu_seconds"] = ru.ru_utime + ru.ru_stime  # all threads; wall time depends on the machine's load
    res["peak_rss_mb"] = peak_rss_mb()
    print("RESULT " + json.dumps(res))


def measure(case: str, world: Path, work: Path, threads: int, max_item_degree: int) -> dict:
    cmd = [sys.executable, __file__, "--child", case, "--world", str(world), "--out", str(work / f"out_{case}"),
           "--threads", str(threads), "--max-item-degree", str(max_item_degree)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise SystemExit(f"{case} failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, nargs="+", default=[1_000_000])
    ap.add_argument("--work", type=Path, default=Path("/tmp/rankgraph-bench-build"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-item-degree", type=int, default=200, help="user-user pivot cap in the full case")
    ap.add_argument("--cases", nargs="+", default=["engagement", "pandas", "items", "full"])
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--world", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        args.case = args.child
        child(args)
        return
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"load average before: {os.getloadavg()}, cpus: {os.cpu_count()}, threads: {args.threads}")
    rows = []
    for n in args.events:
        world = ensure_world(args.work, n)
        res = {case: measure(case, world, args.work, args.threads, args.max_item_degree) for case in args.cases}
        for case, r in res.items():
            eps = r["events"] / r["seconds"]
            ratio = (res["pandas"]["seconds"] / r["seconds"]) if "pandas" in res else float("nan")
            rows.append((n, case, r["events"], r["seconds"], r["cpu_seconds"], eps, r["peak_rss_mb"], ratio))
            print(json.dumps({"target": n, "case": case, **r}))
    print(f"load average after: {os.getloadavg()}")
    print("\n| events | case | wall s | CPU s | events/s (wall) | peak RSS (MB) | wall speed vs pandas |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for _n, case, ev, sec, cpu, eps, rss, ratio in rows:
        print(f"| {ev:,} | {case} | {sec:.1f} | {cpu:.1f} | {eps:,.0f} | {rss:,.0f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
