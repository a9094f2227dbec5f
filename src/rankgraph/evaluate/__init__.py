"""Evaluation on a temporal split: metrics, Engagement Recall, slices, baselines, tuning.

Everything scored goes through `Recommender` (`protocol.py`) and `evaluator.evaluate`, so
RankGraph and the baselines are compared by exactly the same code.
"""

from rankgraph.evaluate.data import EvalData, Interactions
from rankgraph.evaluate.evaluator import evaluate, target_pairs
from rankgraph.evaluate.protocol import EmbeddingRecommender, Recommender

__all__ = ["EmbeddingRecommender", "EvalData", "Interactions", "Recommender", "evaluate", "target_pairs"]
