"""Evaluation: temporal split, metrics, baselines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class EvaluateConfig:
    """How embeddings are judged.

    `test_from` is the temporal cut (a timestamp, unix seconds, or a period number); None
    takes the last `test_fraction` of the time range.
    """

    test_from: str | None = None
    test_fraction: float = 0.1
    ks: list[int] = field(default_factory=lambda: [20, 50, 100])
    triggers: int = 20
    neighbours: int = 20
    trigger_weights: dict[str, float] = field(default_factory=dict)
    baselines: list[str] = field(default_factory=lambda: ["popularity", "itemcf", "als", "lightgcn"])
    max_users: int | None = None
    seed: int = 0
    edge_sample: int = 100_000
    # users sliced by how many distinct items they engaged before the cut: bucket edges,
    # e.g. [5, 20, 100] -> "0-4", "5-19", "20-99", "100+" (error analysis per activity level)
    activity_buckets: list[int] = field(default_factory=lambda: [5, 20, 100])
    validation_fraction: float = 0.1
    # K of the recall that baseline tuning and the read-out tuning maximise; None = max(ks),
    # the headline K, so every method is tuned for the figure it is compared on
    tune_k: int | None = None
    # weight of the cross-domain slice in every tuning objective (baselines' grid search and
    # the read-out's betas alike, so comparisons stay fair): score = recall(all) + w *
    # recall(cross_domain) at `tune_k`. 0 tunes for overall recall; > 0 trades some of it for
    # items from domains the user never engaged with (cross-domain discovery)
    tune_cross_domain_weight: float = 0.0
    # score = cosine / train.temperature + beta * log q(item), for user->item and item->item:
    # adds back the log-popularity that logQ-corrected training removed (0 = pure cosine).
    # "auto": the betas tuned on held-out edges at the end of training (embeddings manifest
    # `popularity_readout`, falling back to 1 / 0); a number sets both. docs/results.md
    popularity_readout: float | Literal["auto"] = "auto"
    popularity_readout_grid: list[float] = field(default_factory=lambda: [0.0, 0.5, 1.0, 1.5, 2.0, 3.0])
    # how recent the read-out's popularity is: fractions of the newest train engagement edges
    # (by first event time) log q may count, tuned with the betas; 1.0 = all of train. Only a
    # temporal hold-out (`train.val_split: temporal`) can tell which window predicts the future
    popularity_recent_grid: list[float] = field(default_factory=lambda: [1.0])
    index: IndexConfig = field(default_factory=lambda: IndexConfig())
    cluster: ClusterConfig = field(default_factory=lambda: ClusterConfig())

    def __post_init__(self) -> None:
        if any(b < 2 for b in self.activity_buckets) or self.activity_buckets != sorted(set(self.activity_buckets)):
            raise ValueError(f"activity_buckets must be increasing edges >= 2, got {self.activity_buckets}")
        if not self.popularity_recent_grid or any(not 0.0 < f <= 1.0 for f in self.popularity_recent_grid):
            raise ValueError(f"popularity_recent_grid must be fractions in (0, 1], got {self.popularity_recent_grid}")
        if not self.ks or any(k < 1 for k in self.ks):
            raise ValueError(f"ks must be positive cut-offs, got {self.ks}")
        if not self.tune_cross_domain_weight >= 0.0:  # also rejects NaN
            raise ValueError(f"tune_cross_domain_weight must be >= 0, got {self.tune_cross_domain_weight}")
        if self.tune_k is not None and self.tune_k not in self.ks:
            raise ValueError(f"tune_k {self.tune_k} must be one of ks {self.ks} (the metrics are computed at ks)")

    @property
    def tuning_k(self) -> int:
        """The K that tuning maximises recall at (`tune_k`, else the largest of `ks`)."""
        return self.tune_k if self.tune_k is not None else max(self.ks)


@dataclass
class IndexConfig:
    """Nearest-neighbour index over an embedding matrix (`rankgraph.embed.index`).

    `kind: auto` is exact inner product below `exact_below` rows and `approximate` above.
    `ivf_nlist: 0` picks about 4 x sqrt(n) lists. `batch` bounds the queries searched at once.
    IVF is the default approximate index: on CPU it builds ~10-50x faster than HNSW at equal
    recall (docs/benchmarks.md).
    """

    kind: Literal["auto", "exact", "ivf", "hnsw"] = "auto"
    exact_below: int = 200_000
    approximate: Literal["ivf", "hnsw"] = "ivf"
    ivf_nlist: int = 0
    ivf_nprobe: int = 32
    hnsw_m: int = 32
    hnsw_ef_construction: int = 200
    hnsw_ef_search: int = 256
    batch: int = 4096
    seed: int = 0


@dataclass
class ClusterConfig:
    """k-means over each node type's embeddings (`rankgraph.embed.cluster`); 0 clusters = off."""

    clusters: dict[str, int] = field(default_factory=dict)
    iterations: int = 20
    restarts: int = 3
    seed: int = 0
