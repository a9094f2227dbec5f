"""Contrastive training: positives, losses, negative samplers, optimiser, checkpoints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class NegativesConfig:
    """Which negative samplers feed the loss; each can be switched off for ablations."""

    in_batch: bool = True
    pool: bool = True
    pool_size: int = 1024  # issue #6: was 4096; with mix_item_types every item type's pool is a candidate, and 4096 ids per type repeat a catalogue of ~1k items per type many times
    pool_samples: int = 256
    semantic: bool = True
    logq_correction: bool = True  # issue #6: +0.02 R@100, +0.04 cross-domain R@100 over 3 seeds (docs/results.md)
    mask_false_negatives: bool = True
    # Added for issue #5 (additive): how pool node ids are drawn. "uniform" follows the
    # global node distribution; "degree" draws proportional to degree**pool_degree_power
    # (popularity-corrected with logQ when logq_correction is on).
    pool_sampling: Literal["uniform", "degree"] = "uniform"
    pool_degree_power: float = 0.75
    # Issue #6: candidates of an item target come from every item type (in-batch targets and
    # pools), as retrieval ranks the stacked catalogue; off = the target's own type only.
    mix_item_types: bool = True

    def __post_init__(self) -> None:
        if self.pool_size < 1 or self.pool_samples < 1:
            raise ValueError(f"pool_size and pool_samples must be >= 1 (got {self.pool_size}, {self.pool_samples})")
        if self.pool_samples > self.pool_size:
            raise ValueError(f"pool_samples ({self.pool_samples}) must not exceed pool_size ({self.pool_size})")


@dataclass
class TrainConfig:
    """Trainer settings. L = w_nce * InfoNCE + w_triplet * triplet."""

    steps: int = 600  # the best validated step was the last one at 300 (docs/results.md)
    batch_size: int = 1024
    lr: float = 1e-2  # issue #6: 3e-3 left the 300-step default run far from converged
    weight_decay: float = 1e-4
    warmup_steps: int = 20
    grad_clip: float = 1.0
    w_nce: float = 1.0
    w_triplet: float = 0.0  # InfoNCE alone measured better and 30% faster per step (docs/results.md); the paper adds triplet
    temperature: float = 0.1
    margin: float = 0.2
    triplet_negative: Literal["hardest", "sampled"] = "hardest"
    negatives: NegativesConfig = field(default_factory=NegativesConfig)
    relation_weights: dict[str, float] = field(default_factory=dict)
    positive_relations: list[str] | None = None
    val_fraction: float = 0.02
    # which edges are held out for validation (and for tuning the popularity read-out):
    # "random" = a hash of the node pair; "temporal" = the newest val_fraction of the timed
    # (engagement) edges, as the test period is newer than training (random for untimed ones)
    val_split: Literal["random", "temporal"] = "random"
    # draw engagement positives with weight x 0.5 ** (age / (half_life x span)): age = the
    # newest timed positive edge's time minus this edge's, span = newest minus oldest, so
    # 0.1 halves an edge's weight every tenth of the data's time range (None: no decay).
    # Untimed relations (semantic, side) keep their weights; each relation's share is unchanged.
    recency_half_life: float | None = None
    # after validation and read-out tuning, train this many more steps on every edge (the
    # held-out ones put back) at refit_lr, as baselines are refit on all of train once tuned;
    # the held-out edges are the newest ones under val_split "temporal" (docs/results.md round 3)
    refit_steps: int = 0
    refit_lr: float = 3e-3
    # train this many models, seeds seed, seed + 1, ..., on the same validation split, and
    # serve the mean of their cosines: each member's vector is L2-normalised and the served
    # vector is their concatenation / sqrt(ensemble) (dimension x ensemble, training time x
    # ensemble); the popularity read-out is tuned on the ensemble (rankgraph.train.ensemble)
    ensemble: int = 1
    # salt of the "random" validation split (None: seed); ensemble members share their first seed's
    split_seed: int | None = None
    eval_every: int = 50
    patience: int = 5
    checkpoint_every: int = 50
    seed: int = 0
    device: str = "cpu"
    # Added for issue #5 (additive).
    # Default sampling weight of a relation by kind, when relation_weights names neither the
    # relation nor its kind; engagement edges are drawn proportional to edge weight.
    kind_weights: dict[str, float] = field(default_factory=lambda: {"engagement": 1.0, "semantic": 0.25, "side": 0.25})
    include_reverse: bool = False
    symmetric: bool = True
    val_candidates: int = 100
    val_max_edges: int = 2000
    val_k: int = 10
    log_every: int = 10
    deterministic: bool = True
    tensorboard: bool = True  # also write OUT/tensorboard/ when the tensorboard package is installed

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(f"steps and batch_size must be >= 1 (got {self.steps}, {self.batch_size})")
        if self.w_nce < 0 or self.w_triplet < 0 or self.w_nce + self.w_triplet <= 0:
            raise ValueError(f"w_nce and w_triplet must be >= 0 and not both 0 (got {self.w_nce}, {self.w_triplet})")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0 (got {self.temperature})")
        if self.ensemble < 1:
            raise ValueError(f"ensemble must be >= 1 (got {self.ensemble})")
        if self.refit_steps < 0 or self.refit_lr <= 0:
            raise ValueError(f"refit_steps must be >= 0 and refit_lr > 0 (got {self.refit_steps}, {self.refit_lr})")
        if self.recency_half_life is not None and not self.recency_half_life > 0:
            raise ValueError(f"recency_half_life must be > 0 or null (got {self.recency_half_life})")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1) (got {self.val_fraction})")
        for key in ("eval_every", "checkpoint_every", "log_every"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1 (got {getattr(self, key)})")
