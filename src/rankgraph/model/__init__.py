"""The RankGraph model: feature encoders, relational layers, heads, and graph tensors."""

from rankgraph.model.ensemble import EnsembleModel, combine_member_vectors
from rankgraph.model.feature_encoder import FeatureEncoder
from rankgraph.model.rankgraph_model import RankGraphModel
from rankgraph.model.relational_layer import RelationalLayer
from rankgraph.model.schema import FeatureSpec, GraphSchema, RelationSpec
from rankgraph.model.tensors import FeatureTensor, GraphTensors, SparseAdjacency, edge_coefficients

__all__ = [
    "EnsembleModel",
    "FeatureEncoder",
    "FeatureSpec",
    "FeatureTensor",
    "GraphSchema",
    "GraphTensors",
    "RankGraphModel",
    "RelationSpec",
    "RelationalLayer",
    "SparseAdjacency",
    "combine_member_vectors",
    "edge_coefficients",
]
