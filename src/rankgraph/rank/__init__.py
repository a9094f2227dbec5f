"""Sequence ranker with RankGraph embeddings as contextual tokens (issue #7).

`examples` cuts labelled candidates and history snapshots from the temporal split,
`model` is the causal transformer, `fusion` the ways graph embeddings enter it, `train`
fits/evaluates/compares variants over seeds, `metrics` holds AUC/log loss/NE, `pipeline`
produces leak-free graph embeddings and runs the whole comparison.
"""

from rankgraph.rank.examples import RankData, RankExamples, RankVocab, make_examples
from rankgraph.rank.fusion import FUSIONS, GraphInputs, graph_inputs
from rankgraph.rank.metrics import auc, logloss, normalized_entropy, recall_lift_correlation
from rankgraph.rank.model import SequenceRanker
from rankgraph.rank.train import evaluate, fit, predict, summarize, sweep

__all__ = [
    "FUSIONS",
    "GraphInputs",
    "RankData",
    "RankExamples",
    "RankVocab",
    "SequenceRanker",
    "auc",
    "evaluate",
    "fit",
    "graph_inputs",
    "logloss",
    "make_examples",
    "normalized_entropy",
    "predict",
    "recall_lift_correlation",
    "summarize",
    "sweep",
]
