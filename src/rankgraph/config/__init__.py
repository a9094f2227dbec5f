"""Configuration as a dataclass tree: data, graph, model, train, evaluate."""

from rankgraph.config.base import ConfigError, from_dict, to_dict
from rankgraph.config.data import (
    ColumnMapping,
    DataConfig,
    FeatureSpec,
    NodeTableConfig,
    SideEdgeTableConfig,
)
from rankgraph.config.evaluate import EvaluateConfig
from rankgraph.config.graph import EngagementRelationConfig, GraphConfig, SemanticRelationConfig
from rankgraph.config.model import ModelConfig
from rankgraph.config.rank import RankConfig
from rankgraph.config.root import RankGraphConfig, config_from_dict, load_config
from rankgraph.config.train import NegativesConfig, TrainConfig

__all__ = [
    "ColumnMapping",
    "ConfigError",
    "DataConfig",
    "EngagementRelationConfig",
    "EvaluateConfig",
    "FeatureSpec",
    "GraphConfig",
    "ModelConfig",
    "NegativesConfig",
    "NodeTableConfig",
    "RankConfig",
    "RankGraphConfig",
    "SemanticRelationConfig",
    "SideEdgeTableConfig",
    "TrainConfig",
    "config_from_dict",
    "from_dict",
    "load_config",
    "to_dict",
]
