"""The whole configuration tree, loaded from YAML with CLI overrides."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rankgraph.config.base import apply_override, from_dict, load_yaml, to_dict
from rankgraph.config.data import DataConfig
from rankgraph.config.evaluate import EvaluateConfig
from rankgraph.config.graph import GraphConfig
from rankgraph.config.model import ModelConfig
from rankgraph.config.rank import RankConfig
from rankgraph.config.train import TrainConfig


@dataclass
class RankGraphConfig:
    """Everything a run needs; saved into every artifact's manifest."""

    data: DataConfig = field(default_factory=DataConfig)
    graph: GraphConfig = field(default_factory=GraphConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    rank: RankConfig = field(default_factory=RankConfig)

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)


def _resolve_paths(cfg: RankGraphConfig, base: Path) -> None:
    """Make data paths relative to the config file's folder absolute."""

    def fix(p: str) -> str:
        return p if os.path.isabs(p) else str((base / p).resolve())

    cfg.data.events = [fix(p) for p in cfg.data.events]
    for table in cfg.data.node_tables:
        table.path = fix(table.path)
    for table in cfg.data.side_edges:
        table.path = fix(table.path)


def config_from_dict(data: dict[str, Any], *, source: str = "<config>") -> RankGraphConfig:
    return from_dict(RankGraphConfig, data, source=source)


def load_config(path: str | os.PathLike[str] | None = None, overrides: list[str] | None = None) -> RankGraphConfig:
    """Load a config file (or the defaults) and apply `section.key=value` overrides.

    Relative data paths are resolved against the config file's folder, so a config shipped
    beside its data works from any working directory.
    """
    data: dict[str, Any] = load_yaml(path) if path is not None else {}
    source = str(path) if path is not None else "<defaults>"
    for assignment in overrides or []:
        apply_override(data, assignment)
        source = f"{source} (with overrides)" if "overrides" not in source else source
    cfg = config_from_dict(data, source=source)
    if path is not None:
        _resolve_paths(cfg, Path(path).resolve().parent)
    return cfg
