"""Where the events, node features and side edges come from, and how their columns map."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

CANONICAL_COLUMNS = ("user_id", "item_id", "item_type", "domain", "event", "ts", "value")


@dataclass
class ColumnMapping:
    """Input column name for each canonical event column.

    `item_type`, `domain` and `value` may be None when the input lacks them: `item_type`
    then takes `DataConfig.default_item_type`, `domain` the item type, `value` 1.0.
    """

    user_id: str = "user_id"
    item_id: str = "item_id"
    item_type: str | None = "item_type"
    domain: str | None = "domain"
    event: str = "event"
    ts: str = "ts"
    value: str | None = "value"


@dataclass
class FeatureSpec:
    """One feature column of a node table.

    kind: `categorical` (one id per node), `multi_hot` (a list of ids), `dense` (a fixed-size
    float vector). `column` defaults to `name`.
    """

    name: str
    kind: Literal["categorical", "multi_hot", "dense"]
    column: str | None = None


@dataclass
class NodeTableConfig:
    """A per-node-type feature table keyed by raw id."""

    node_type: str
    path: str
    id_column: str = "id"
    features: list[FeatureSpec] = field(default_factory=list)


@dataclass
class SideEdgeTableConfig:
    """A table of extra edges given as they are (user-user follows, ad-advertiser, ...)."""

    name: str
    path: str
    src_type: str
    dst_type: str
    src_column: str = "src"
    dst_column: str = "dst"
    weight_column: str | None = None


@dataclass
class DataConfig:
    """Input data: event files plus optional node tables and side-edge tables.

    `events` are file paths or glob patterns (Parquet, CSV or JSONL; `format: auto` picks by
    extension). `event_types` lists the events the data may contain: any other is an error.
    An empty list accepts every event type found.
    """

    events: list[str] = field(default_factory=list)
    format: Literal["auto", "parquet", "csv", "jsonl"] = "auto"
    columns: ColumnMapping = field(default_factory=ColumnMapping)
    event_types: list[str] = field(default_factory=list)
    user_type: str = "user"
    default_item_type: str = "item"
    time_unit: Literal["seconds", "period"] = "seconds"
    node_tables: list[NodeTableConfig] = field(default_factory=list)
    side_edges: list[SideEdgeTableConfig] = field(default_factory=list)
