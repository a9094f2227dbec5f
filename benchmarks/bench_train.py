"""Training throughput (positive pairs/s): full-graph vs mini-batch, and 1 vs 2 DDP processes.

Graphs: the synthetic world (`--users` users, ~65 events each -> ~1M events at 16,000) and,
when present, Ciao from ../shared/data/ciao (Tang et al. format). Both are built once into
`--work` and reused. Each configuration runs `--steps` timed steps after 2 warm-up steps with
the default model (dim 64, 2 layers, 2 heads) and batch 1024; the figure is the median
per-step throughput from the trainer's own log (global pairs per second of wall time).

Ratios printed: mini-batch / full-graph on the same graph (`--threads` intra-op threads,
default 1: on a shared, overloaded 2-core machine 2 threads ran ~7x slower than 1); 2 processes / 1 process (DDP
on gloo over 127.0.0.1, one intra-op thread each) against 1 process with 1 and 2 threads.

    .venv/bin/python benchmarks/bench_train.py [--users 16000] [--steps 10] [--work /tmp/bench_train]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CIAO = REPO.parent / "shared" / "data" / "ciao"


def world_graph(work: Path, users: int) -> Path:
    from rankgraph.config import load_config
    from rankgraph.data.synthetic import WorldConfig, generate_world
    from rankgraph.graph.build import build_graph

    world, graph = work / f"world{users}", work / f"world{users}_graph"
    if not (graph / "manifest.json").is_file():
        if not (world / "rankgraph.yaml").is_file():
            generate_world(world, WorldConfig(n_users=users, seed=0), force=True)
        build_graph(load_config(world / "rankgraph.yaml"), graph)
    return graph


def ciao_graph(work: Path) -> Path | None:
    if not CIAO.is_dir():
        return None
    from rankgraph.config import load_config
    from rankgraph.data.tang import convert_tang
    from rankgraph.graph.build import build_graph

    data, graph = work / "ciao", work / "ciao_graph"
    if not (graph / "manifest.json").is_file():
        if not (data / "rankgraph.yaml").is_file():
            convert_tang(CIAO, data)
        build_graph(load_config(data / "rankgraph.yaml"), graph)
    return graph


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(graph: Path, out: Path, steps: int, sets: list[str], nproc: int, threads: int) -> float:
    """Median pairs/s over the timed steps of one `rankgraph train` run (metrics.jsonl)."""
    opts = [
        f"train.steps={steps + 2}",
        "train.val_fraction=0.0",
        "train.log_every=1",
        f"train.checkpoint_every={steps + 100}",
        "train.batch_size=1024",
        *sets,
    ]
    cli = ["-m", "rankgraph.cli.main", "train", "--graph", str(graph), "--out", str(out), "--quiet"]
    cli += [x for o in opts for x in ("--set", o)]
    if nproc > 1:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
                    "--master-addr", "127.0.0.1", "--master-port", str(_free_port())]
    else:
        launcher = [sys.executable]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run([*launcher, *cli], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"training failed:\n{proc.stderr[-4000:]}")
    recs = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    rates = [r["pairs_per_s"] for r in recs if r.get("event") == "train" and r["step"] > 2]
    return statistics.median(rates)


def describe(graph: Path) -> str:
    m = json.loads((graph / "manifest.json").read_text())
    nodes = sum(v["count"] for v in m["nodes"].values())
    edges = sum(v["edges"] for v in m["relations"].values())
    return f"{nodes:,} nodes, {edges:,} edges (both directions), {len(m['relations'])} relations"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=16000)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_train"))
    ap.add_argument("--skip-ddp", action="store_true")
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads for the full/mini comparison")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    graphs = {"synthetic": world_graph(args.work, args.users)}
    ciao = ciao_graph(args.work)
    if ciao is not None:
        graphs["ciao"] = ciao
    print(f"graphs ready in {time.perf_counter() - t0:.0f}s")
    for name, g in graphs.items():
        print(f"\n== {name}: {describe(g)}")
        full = run_cli(g, args.work / f"out_{name}_full", args.steps, ["model.mode=full"], 1, args.threads)
        mini = run_cli(g, args.work / f"out_{name}_mini", args.steps, ["model.mode=minibatch"], 1, args.threads)
        print(f"full-graph : {full:10,.0f} pairs/s")
        print(f"mini-batch : {mini:10,.0f} pairs/s   (fanouts 15,10)   ratio mini/full = {mini / full:.2f}")
    if not args.skip_ddp:
        g = graphs["synthetic"]
        print("\n== DDP on the synthetic graph, mini-batch mode")
        sets = ["model.mode=minibatch"]
        one1 = run_cli(g, args.work / "ddp_1x1", args.steps, sets, 1, 1)
        one2 = run_cli(g, args.work / "ddp_1x2", args.steps, sets, 1, 2)
        two = run_cli(g, args.work / "ddp_2x1", args.steps, sets, 2, 1)
        print(f"1 process, 1 thread  : {one1:10,.0f} pairs/s")
        print(f"1 process, 2 threads : {one2:10,.0f} pairs/s")
        print(f"2 processes x 1 thread (gloo): {two:10,.0f} pairs/s   "
              f"ratio vs 1x1 = {two / one1:.2f}, vs 1x2 = {two / one2:.2f}")
    print(f"\ntotal {time.perf_counter() - t0:.0f}s, load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)
    main()
