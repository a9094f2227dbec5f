"""Contrastive training of RankGraph embeddings (positives, negatives, losses, trainer)."""

from rankgraph.train.losses import combined_loss, info_nce, triplet
from rankgraph.train.model_artifact import load_model, save_model_artifact
from rankgraph.train.positives import PositiveBatch, PositiveSampler, holdout_graph

__all__ = [
    "PositiveBatch",
    "PositiveSampler",
    "combined_loss",
    "holdout_graph",
    "info_nce",
    "load_model",
    "save_model_artifact",
    "triplet",
    "train_graph",
]


def train_graph(*args, **kwargs):  # type: ignore[no-untyped-def]
    """`rankgraph.train.trainer.train_graph`, imported on use (it pulls in the model)."""
    from rankgraph.train.trainer import train_graph as _train_graph

    return _train_graph(*args, **kwargs)
