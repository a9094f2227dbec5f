"""Two gloo processes on one machine against one process, through `torchrun` and the CLI."""

import json
import os
import socket
import subprocess
import sys

import torch
from safetensors.torch import load_file

from graphs import planted_graph
from rankgraph.config import load_config
from rankgraph.train.trainer import train_graph

# Data parallelism shards each step's positives over ranks. In-batch negatives come from a
# rank's own shard, so the candidate sets (hence the loss) differ from one process's; with
# them off, and dropout off, every rank computes the mean loss over its half of the anchors
# and the averaged gradient equals the single-process one up to float summation order.
OPTS = [
    "train.steps=8",
    "train.batch_size=64",
    "train.negatives.pool_size=32",
    "train.negatives.pool_samples=16",
    "train.negatives.in_batch=false",
    "train.eval_every=4",
    "model.dim=8",
    "model.feature_dim=8",
    "model.dropout=0.0",
    "train.log_every=1",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(args: list[str], tmp_path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(args, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_two_gloo_processes_match_single_process_training(tmp_path):
    graph, _, _ = planted_graph()
    graph.save(tmp_path / "graph")
    sets = [x for o in OPTS for x in ("--set", o)]
    cli = ["-m", "rankgraph.cli.main", "train", "--graph", str(tmp_path / "graph"), "--quiet"]
    train_graph(graph, load_config(None, OPTS), tmp_path / "one")  # in-process: saves a start-up
    torchrun = [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
        "--master-addr", "127.0.0.1", "--master-port", str(_free_port()),
    ]
    _run([*torchrun, *cli, "--out", str(tmp_path / "two"), *sets], tmp_path)
    one = load_file(str(tmp_path / "one" / "model.safetensors"))
    two = load_file(str(tmp_path / "two" / "model.safetensors"))
    for k in one:
        assert torch.allclose(one[k], two[k], atol=1e-4, rtol=1e-4), k
    loss = {}
    for run in ("one", "two"):
        log = (tmp_path / run / "metrics.jsonl").read_text().splitlines()
        loss[run] = [r["loss"] for r in map(json.loads, log) if r["event"] == "train"]
    assert len(loss["one"]) == 8 and loss["one"][-1] < loss["one"][0]  # it really trained
    assert len(loss["two"]) == 8
    assert all(abs(a - b) < 1e-4 for a, b in zip(loss["one"], loss["two"]))
    assert torch.load(tmp_path / "two" / "checkpoints" / "last.pt", weights_only=True)["world"] == 2
