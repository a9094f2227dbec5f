"""Layer-wise inference of every node of the ~6M-edge synthetic graph: time and peak memory.

Default model (dim 64, 2 layers, 2 projection heads, id embeddings, served concat E=128)
on the graph of `bench_layer.py`. Peak memory is the process's peak resident set (VmHWM,
reset after the graph and model are built, so it counts what inference adds). Reference in
the same run (`--mode both`, each in a fresh subprocess): `forward_full` under `no_grad`,
which holds every layer of the full graph at once.

    .venv/bin/python benchmarks/bench_inference.py [--scale 1.0] [--chunk 65536] [--mode both]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import torch
from bench_layer import synthetic_graph

from rankgraph.config.model import ModelConfig
from rankgraph.model.inference import layerwise_embed
from rankgraph.model.rankgraph_model import RankGraphModel
from rankgraph.model.schema import GraphSchema
from rankgraph.model.tensors import GraphTensors


def _rss_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux)
    except OSError:
        pass


def run(mode: str, scale: float, chunk: int, memmap_dir: str | None) -> None:
    graph = synthetic_graph(scale)
    torch.manual_seed(0)
    model = RankGraphModel(ModelConfig(), GraphSchema.from_graph(graph)).eval()
    base = _rss_mib("VmRSS")
    _reset_peak()
    t0 = time.perf_counter()
    if mode == "layerwise":
        emb = layerwise_embed(model, graph, chunk=chunk, memmap_dir=memmap_dir)
    else:
        with torch.no_grad():
            gt = GraphTensors.from_graph(graph)
            out = model.forward_full(gt)
            emb = {t: model.served(h).numpy() for t, h in out.items()}
    dt = time.perf_counter() - t0
    nodes = sum(e.shape[0] for e in emb.values())
    peak = _rss_mib("VmHWM")
    print(f"{mode}{' (memmap states)' if memmap_dir else ''}: {nodes:,} nodes in {dt:.1f} s "
          f"({nodes / dt:,.0f} nodes/s); peak RSS {peak:,.0f} MiB, {peak - base:,.0f} MiB above the "
          f"{base:,.0f} MiB of graph + model; output {sum(e.nbytes for e in emb.values()) / 2**20:,.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--chunk", type=int, default=65536)
    parser.add_argument("--mode", choices=["both", "layerwise", "full"], default="both")
    parser.add_argument("--memmap-dir", default=None, help="keep intermediate layer states in memmap files here")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: the 2 shared cores are oversubscribed)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.mode != "both":
        run(args.mode, args.scale, args.chunk, args.memmap_dir)
        return
    print(f"scale {args.scale}, chunk {args.chunk}, torch threads {args.threads}")
    for mode in ("layerwise", "full"):
        cmd = [sys.executable, __file__, "--mode", mode, "--scale", str(args.scale), "--chunk", str(args.chunk),
               "--threads", str(args.threads)]
        if args.memmap_dir and mode == "layerwise":
            cmd += ["--memmap-dir", args.memmap_dir]
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
