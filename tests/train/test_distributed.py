"""Two gloo processes on one machine against one process.

The ranks are started with `torch.multiprocessing` (spawn) and join the process group from
the same RANK/WORLD_SIZE/MASTER_* environment that `torchrun` sets, through the same
`distributed.from_env` the CLI uses; the `torchrun -m rankgraph.cli.main train` path itself
is exercised by benchmarks/bench_train.py (a torchrun launcher here would cost a third
interpreter start-up on an already loaded test machine).
"""

import json
import os
import socket

import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file

from graphs import planted_graph
from rankgraph.config import load_config
from rankgraph.train.distributed import from_env, shutdown
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
    # logQ (on by default) corrects by the expected count in a rank's batch, which depends on
    # the world size, so it too makes one process differ from two.
    "train.negatives.logq_correction=false",
    "train.eval_every=4",
    "train.log_every=1",
    "model.dim=8",
    "model.feature_dim=8",
    "model.dropout=0.0",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(
        RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    torch.set_num_threads(1)
    graph, _, _ = planted_graph()
    ctx = from_env("cpu")
    try:
        assert ctx.world == world and ctx.backend == "gloo"
        train_graph(graph, load_config(None, OPTS), out, dist_ctx=ctx)
    finally:
        shutdown(ctx)


def test_two_gloo_processes_match_single_process_training(tmp_path):
    graph, _, _ = planted_graph()
    train_graph(graph, load_config(None, OPTS), tmp_path / "one")
    mp.start_processes(_worker, args=(2, _free_port(), str(tmp_path / "two")), nprocs=2, start_method="spawn")
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
