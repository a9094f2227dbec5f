from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rankgraph.capabilities import WITH_PYG
from rankgraph.graph.pyg import edge_type, to_heterodata
from tests.graph.test_build_graph import build, events

pytestmark = pytest.mark.skipif(not WITH_PYG, reason="torch_geometric is not installed")


def test_heterodata_has_every_relation_with_source_row_first(tmp_path: Path) -> None:
    rows = [("a", 1, "post", "click", 1), ("b", 2, "post", "like", 2), ("b", 7, "video", "click", 3)]
    g = build(tmp_path, events(rows))
    data = to_heterodata(g)
    assert set(data.edge_types) == {edge_type(r.name, r.src_type, r.dst_type) for r in g.relations.values()}
    assert ("post", "rev_engaged", "user") in data.edge_types
    rel = g.relations["user__engaged__post"]
    store = data["user", "engaged", "post"]
    assert store.edge_index.tolist() == [np.asarray(rel.indices).tolist(), rel.dst_index().tolist()]
    assert np.allclose(store.edge_weight.numpy(), rel.weight)
    assert data["user"].num_nodes == 2 and data["post"].num_nodes == 2
    assert data["post"].domain.tolist() == np.asarray(g.features["post"]["domain"].values).tolist()
