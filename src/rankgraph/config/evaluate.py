"""Evaluation: temporal split, metrics, baselines."""

from __future__ import annotations

from dataclasses import dataclass, field


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
