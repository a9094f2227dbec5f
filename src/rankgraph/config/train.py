"""Contrastive training: positives, losses, negative samplers, optimiser, checkpoints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class NegativesConfig:
    """Which negative samplers feed the loss; each can be switched off for ablations."""

    in_batch: bool = True
    pool: bool = True
    pool_size: int = 4096
    pool_samples: int = 256
    semantic: bool = True
    logq_correction: bool = False
    mask_false_negatives: bool = True


@dataclass
class TrainConfig:
    """Trainer settings. L = w_nce * InfoNCE + w_triplet * triplet."""

    steps: int = 300
    batch_size: int = 1024
    lr: float = 3e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 20
    grad_clip: float = 1.0
    w_nce: float = 1.0
    w_triplet: float = 0.5
    temperature: float = 0.1
    margin: float = 0.2
    triplet_negative: Literal["hardest", "sampled"] = "hardest"
    negatives: NegativesConfig = field(default_factory=NegativesConfig)
    relation_weights: dict[str, float] = field(default_factory=dict)
    positive_relations: list[str] | None = None
    val_fraction: float = 0.02
    eval_every: int = 50
    patience: int = 5
    checkpoint_every: int = 50
    seed: int = 0
    device: str = "cpu"
