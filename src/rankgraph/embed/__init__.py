"""Embeddings artifact, nearest-neighbour indexes and clusters (the stage after the model)."""

from rankgraph.embed.artifact import EmbeddingSet, NodeEmbeddings
from rankgraph.embed.cluster import assign, cluster_embeddings, kmeans, same_cluster_items
from rankgraph.embed.index import EmbeddingIndex, Retriever, measure_recall

__all__ = [
    "EmbeddingIndex",
    "EmbeddingSet",
    "NodeEmbeddings",
    "Retriever",
    "assign",
    "cluster_embeddings",
    "kmeans",
    "measure_recall",
    "same_cluster_items",
]
