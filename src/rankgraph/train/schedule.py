"""Learning-rate schedule: linear warm-up, then cosine decay to `min_ratio` of the peak."""

from __future__ import annotations

import math

import torch


def warmup_cosine(step: int, warmup: int, total: int, min_ratio: float = 0.0) -> float:
    """LR multiplier at `step` (0-based): (step+1)/warmup during warm-up, then a half cosine.

    Example: warmup=2, total=6 -> 0.5, 1.0, 1.0, 0.75, 0.25, 0.0 (min_ratio=0).
    """
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    span = max(1, total - warmup - 1)
    progress = min(1.0, (step - warmup) / span)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_scheduler(optimizer: torch.optim.Optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR whose state_dict is plain data (the lambda is rebuilt, not pickled)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_cosine(s, warmup, total))
