"""The sequence ranker (`rankgraph rank`): examples, transformer, graph-token fusion, training."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FUSIONS = ("none", "add", "token", "cross_attention", "similarity")


@dataclass
class RankExamplesConfig:
    """How ranking examples are cut from the temporal split (`rankgraph.rank.examples`).

    Train examples come from the last `val_window` of the train period (history before it),
    test examples from the test period (history before the cut). `val_window` is in seconds
    (or periods when `data.time_unit == "period"`); None takes `val_fraction` of the train
    time span. `conversion_among`: `candidates` defines the conversion label on every
    candidate of an item type that ever converts (synthetic ads); `engaged` only on engaged
    candidates (Ciao: rating >= 4 among rated items).
    """

    val_window: int | None = 7 * 86400
    val_fraction: float = 0.1
    max_history: int = 30
    max_positives: int = 5
    negatives_per_positive: int = 3
    negative_sampling: Literal["popularity", "uniform"] = "popularity"
    conversion_events: list[str] = field(default_factory=lambda: ["convert"])
    conversion_among: Literal["candidates", "engaged"] = "candidates"
    gap_unit: int = 3600  # seconds per unit of the log2 time-gap buckets (1 for periods)
    gap_buckets: int = 24
    max_users: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_history < 1 or self.max_positives < 1 or self.negatives_per_positive < 1:
            raise ValueError(
                "max_history, max_positives and negatives_per_positive must be >= 1 "
                f"(got {self.max_history}, {self.max_positives}, {self.negatives_per_positive})"
            )
        if self.val_window is not None and self.val_window < 1:
            raise ValueError(f"val_window must be >= 1 or None (got {self.val_window})")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1) (got {self.val_fraction})")
        if self.gap_unit < 1 or self.gap_buckets < 2:
            raise ValueError(f"gap_unit must be >= 1 and gap_buckets >= 2 (got {self.gap_unit}, {self.gap_buckets})")


@dataclass
class RankModelConfig:
    """The causal transformer and its graph-token fusion (`rankgraph.rank.model`, `fusion`).

    `fusion`: `none` ignores graph inputs; `add` adds each item's projected graph embedding
    to its token and to the candidate; `token` prepends the user's graph embedding and puts
    the candidate's graph embedding before the candidate token; `cross_attention` lets the
    candidate attend to the user's `neighbours` nearest items in the embedding space;
    `similarity` adds target-aware match features computed in the graph space (the
    candidate's cosine to the user and to the history items, pooled several ways); it is
    the default, the variant with the largest measured gains (docs/ranking.md).
    `history_match` gives every variant, `none` included, the same kind of match features
    from the ranker's own inputs: how often the candidate item occurs in the history and
    the cosine of its learned id embedding to the history's (max and attention-pooled), so
    a graph fusion is compared with a baseline that can already match the candidate with
    the history.
    """

    fusion: Literal["none", "add", "token", "cross_attention", "similarity"] = "similarity"
    dim: int = 32
    layers: int = 1
    heads: int = 2
    ff_mult: int = 2
    dropout: float = 0.1
    neighbours: int = 16
    id_embeddings: bool = True
    history_match: bool = True

    def __post_init__(self) -> None:
        if self.dim % self.heads:
            raise ValueError(f"dim ({self.dim}) must be divisible by heads ({self.heads})")
        if self.neighbours < 1:
            raise ValueError(f"neighbours must be >= 1 (got {self.neighbours})")


@dataclass
class RankTrainConfig:
    """Optimiser settings of the ranker; loss = BCE(click) + conversion_weight x masked BCE(conversion)."""

    epochs: int = 3
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4
    conversion_weight: float = 1.0
    grad_clip: float = 1.0
    threads: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError(f"epochs, batch_size must be >= 1 and lr > 0 (got {self.epochs}, {self.batch_size}, {self.lr})")


@dataclass
class RankConfig:
    """Everything `rankgraph rank` needs; `variants` and `seeds` drive the comparison sweep."""

    examples: RankExamplesConfig = field(default_factory=RankExamplesConfig)
    model: RankModelConfig = field(default_factory=RankModelConfig)
    train: RankTrainConfig = field(default_factory=RankTrainConfig)
    variants: list[str] = field(default_factory=lambda: list(FUSIONS))
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])

    def __post_init__(self) -> None:
        bad = [v for v in self.variants if v not in FUSIONS]
        if bad:
            raise ValueError(f"unknown fusion variant {bad[0]!r}; expected one of {list(FUSIONS)}")
        if not self.seeds:
            raise ValueError("rank.seeds must name at least one seed")
