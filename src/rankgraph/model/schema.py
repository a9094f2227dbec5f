"""What the model needs to know about a graph to be built, without the graph itself.

A `GraphSchema` is saved in the model artifact (`to_dict`) so that weights can be loaded
(`from_dict`) on a machine that never opens the graph artifact, e.g. a ranker or server.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from rankgraph.errors import ArtifactError
from rankgraph.graph.store import HeteroGraph


@dataclass(frozen=True)
class FeatureSpec:
    """One encoded node feature: kind plus the size its encoder needs."""

    name: str
    kind: str  # "categorical" | "multi_hot" | "dense"
    cardinality: int = 0
    dim: int = 0


@dataclass(frozen=True)
class RelationSpec:
    """One relation `src_type -name-> dst_type` (messages flow from src to dst)."""

    name: str
    src_type: str
    dst_type: str


@dataclass
class GraphSchema:
    """Node types with counts, per-type feature specs and relation specs (in a fixed order)."""

    num_nodes: dict[str, int]
    features: dict[str, list[FeatureSpec]] = field(default_factory=dict)
    relations: list[RelationSpec] = field(default_factory=list)

    @property
    def node_types(self) -> list[str]:
        return list(self.num_nodes)

    def relations_into(self, dst_type: str) -> list[RelationSpec]:
        return [r for r in self.relations if r.dst_type == dst_type]

    @classmethod
    def from_graph(cls, graph: HeteroGraph) -> GraphSchema:
        features = {
            t: [
                FeatureSpec(name=c.name, kind=c.kind, cardinality=int(c.cardinality), dim=int(c.dim))
                for c in graph.features.get(t, {}).values()
            ]
            for t in graph.num_nodes
        }
        relations = [RelationSpec(r.name, r.src_type, r.dst_type) for r in graph.relations.values()]
        return cls(num_nodes={t: int(n) for t, n in graph.num_nodes.items()}, features=features, relations=relations)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable form (for the model manifest)."""
        return {
            "num_nodes": dict(self.num_nodes),
            "features": {t: [asdict(f) for f in fs] for t, fs in self.features.items()},
            "relations": [asdict(r) for r in self.relations],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GraphSchema:
        try:
            schema = cls(
                num_nodes={str(t): int(n) for t, n in data["num_nodes"].items()},
                features={t: [FeatureSpec(**f) for f in fs] for t, fs in data.get("features", {}).items()},
                relations=[RelationSpec(**r) for r in data.get("relations", [])],
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ArtifactError(f"malformed graph schema ({exc!r})") from exc
        for r in schema.relations:
            for t in (r.src_type, r.dst_type):
                if t not in schema.num_nodes:
                    raise ArtifactError(f"graph schema: relation '{r.name}' names unknown node type '{t}'")
        return schema

    def check_graph(self, graph: HeteroGraph) -> None:
        """Refuse a graph whose node counts or relations differ from this schema."""
        other = GraphSchema.from_graph(graph)
        if other.num_nodes != self.num_nodes:
            raise ArtifactError(f"graph node counts {other.num_nodes} differ from the model's {self.num_nodes}")
        mine = {r.name: r for r in self.relations}
        theirs = {r.name: r for r in other.relations}
        if mine != theirs:
            raise ArtifactError(
                f"graph relations {sorted(theirs)} differ from the model's {sorted(mine)}"
            )
