from __future__ import annotations

import json

import pytest

from rankgraph.errors import ArtifactError
from rankgraph.model.schema import GraphSchema


def test_schema_round_trips_through_json(graph):
    schema = GraphSchema.from_graph(graph)
    again = GraphSchema.from_dict(json.loads(json.dumps(schema.to_dict())))
    assert again == schema
    assert again.num_nodes == {"user": 12, "item": 9, "tag": 4}
    assert {f.kind for f in again.features["item"]} == {"categorical", "multi_hot", "dense"}
    assert [r.name for r in again.relations] == list(graph.relations)


def test_schema_rejects_relation_with_unknown_node_type(graph):
    data = GraphSchema.from_graph(graph).to_dict()
    data["relations"][0]["src_type"] = "nobody"
    with pytest.raises(ArtifactError, match="nobody"):
        GraphSchema.from_dict(data)


def test_check_graph_refuses_other_node_counts(graph):
    schema = GraphSchema.from_graph(graph)
    graph.num_nodes["user"] += 1
    with pytest.raises(ArtifactError, match="node counts"):
        schema.check_graph(graph)
