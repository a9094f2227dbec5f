"""Data-parallel training with `torch.distributed` (launched by `torchrun`).

Every rank opens the same memory-mapped graph and holds a full model replica. Each step all
ranks draw the *same* global batch of positives and the same pool ids from identically
seeded generators; rank r keeps rows r, r+W, r+2W, ... (its shard of the positives), computes
its loss, and the gradients are averaged with one all-reduce over a flattened buffer before
the (identical) optimiser step. We all-reduce by hand instead of wrapping in
`DistributedDataParallel` because the trainer calls `forward_full` / `forward_sampled`, not
`forward`, which DDP's hooks do not see. Rank 0 writes checkpoints, logs and the artifact.

Backends: gloo on CPU, nccl on CUDA. One machine: `torchrun --nproc-per-node 2 -m
rankgraph.cli.main train ...`; several: add `--nnodes N --rdzv-backend c10d
--rdzv-endpoint HOST:PORT` on every machine (see docs/training.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistContext:
    """Where this process sits in the job (world 1 = plain single-process training)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def from_env(device: str) -> DistContext:
    """Join the process group that `torchrun` describes in RANK/WORLD_SIZE/LOCAL_RANK, if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if device.startswith("cuda"):
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistContext(rank=rank, world=world, local_rank=local_rank, backend=backend)


def device_for(ctx: DistContext, device: str) -> str:
    """`cuda` becomes `cuda:<local_rank>` under torchrun; CPU stays CPU."""
    if ctx.active and device == "cuda":
        return f"cuda:{ctx.local_rank}"
    return device


def broadcast_parameters(module: torch.nn.Module, ctx: DistContext) -> None:
    """Make every replica start from rank 0's weights (and buffers)."""
    if not ctx.active:
        return
    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, src=0)


def average_gradients(params: list[torch.nn.Parameter], ctx: DistContext) -> None:
    """All-reduce the mean gradient over ranks through one flat buffer.

    A parameter without a gradient on this rank contributes zeros, so every rank takes part
    in the same collective with the same buffer size.
    """
    if not ctx.active:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= ctx.world
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n


def all_reduce_mean(value: float, ctx: DistContext, device: str | torch.device = "cpu") -> float:
    """Mean of a scalar over ranks (for logging the global loss)."""
    if not ctx.active:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t.item()) / ctx.world


def barrier(ctx: DistContext) -> None:
    if ctx.active:
        dist.barrier()


def shutdown(ctx: DistContext) -> None:
    if ctx.active and dist.is_initialized():
        dist.destroy_process_group()
