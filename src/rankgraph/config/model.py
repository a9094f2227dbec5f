"""Model shape: feature encoders, relational layers, heads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class ModelConfig:
    """RankGraph model hyper-parameters (see docs/paper.md for the choices the paper left open)."""

    dim: int = 64
    feature_dim: int = 32
    num_layers: int = 2
    num_heads: int = 2
    head_mode: Literal["projection", "stack"] = "projection"
    output: Literal["concat", "mean"] = "concat"
    norm: Literal["mean", "symmetric", "weight"] = "mean"
    num_bases: int | None = None
    self_loop: bool = True
    mixing: bool = True
    pairwise_products: bool = True
    activation: Literal["gelu", "relu", "tanh", "none"] = "gelu"
    dropout: float = 0.1
    residual: bool = True
    layer_norm: bool = True
    id_embeddings: bool = True
    id_hash_buckets: int | None = None
    mode: Literal["full", "minibatch"] = "full"
    fanouts: list[int] = field(default_factory=lambda: [15, 10])
    sampling: Literal["uniform", "weighted"] = "uniform"
    inference_chunk: int = 65536
    # per-relation transform f_r: an extra activated Linear after W_r (off: f_r is W_r plus a bias)
    relation_mlp: bool = False
