"""Which relations the graph has and how their edges are weighted and pruned."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class EngagementRelationConfig:
    """`user -name-> item_type` edges from events.

    weight(u, i) = sum_e coefficient[e] * transform(count_e(u, i) [decayed]).
    One relation is built per item type listed (named `user__<name>__<item_type>`), each with
    an explicit reverse (`<item_type>__rev_<name>__user`).
    """

    name: str = "engaged"
    item_types: list[str] = field(default_factory=list)
    events: dict[str, float] = field(default_factory=dict)
    transform: Literal["log1p", "linear", "binary"] = "log1p"
    half_life_days: float | None = None


@dataclass
class SemanticRelationConfig:
    """Multi-hop co-engagement edges, pruned to the top-k neighbours per node.

    kind `item_item`: items engaged by the same users (within `window_days` of each other
    when set); `user_user`: users who engaged the same items. score: `cocount`, `cosine`,
    or `swing` (down-weights pairs explained by heavy users).
    """

    name: str = "co"
    kind: Literal["item_item", "user_user"] = "item_item"
    item_types: list[str] = field(default_factory=list)
    score: Literal["cocount", "cosine", "swing"] = "cosine"
    top_k: int = 20
    min_support: int = 2
    window_days: float | None = None
    max_user_degree: int = 500
    max_item_degree: int = 5000


@dataclass
class GraphConfig:
    """Graph construction: engagement, semantic and side relations."""

    engagement: list[EngagementRelationConfig] = field(default_factory=list)
    semantic: list[SemanticRelationConfig] = field(default_factory=list)
    use_side_edges: bool = True
    train_until: str | None = None
    memory_limit: str = "8GB"
    threads: int | None = None
    # How semantic pairs are counted: `sql` (self-join + GROUP BY, Spark-portable), `sparse`
    # (blocked scipy A A^T over the same SQL-built capped table; ~10x faster on one machine,
    # no `window_days`), `auto` = sparse unless the relation sets `window_days`.
    semantic_engine: Literal["auto", "sql", "sparse"] = "auto"
