from __future__ import annotations

import numpy as np
import pytest
import torch

from rankgraph.config.model import ModelConfig
from rankgraph.model.inference import layerwise_embed
from rankgraph.model.rankgraph_model import RankGraphModel
from rankgraph.model.schema import GraphSchema
from rankgraph.model.tensors import GraphTensors


def _model(graph, **kw) -> RankGraphModel:
    torch.manual_seed(0)
    return RankGraphModel(ModelConfig(**{"dim": 8, "feature_dim": 4, **kw}), GraphSchema.from_graph(graph))


def _served_full(model, graph) -> dict[str, np.ndarray]:
    model.eval()
    with torch.no_grad():
        out = model.forward_full(GraphTensors.from_graph(graph))
    return {t: model.served(h).numpy() for t, h in out.items()}


@pytest.mark.parametrize(
    "kw",
    [
        {"norm": "mean"},
        {"norm": "symmetric", "head_mode": "stack", "output": "mean"},
        {"norm": "weight", "num_bases": 2, "relation_mlp": True, "num_layers": 3},
        {"num_layers": 0, "head_mode": "stack"},
    ],
)
def test_layerwise_embed_equals_full_forward(graph, kw):
    model = _model(graph, **kw)
    expected = _served_full(model, graph)
    got = layerwise_embed(model, graph, chunk=4)
    for t in expected:
        assert got[t].dtype == np.float32
        np.testing.assert_allclose(got[t], expected[t], rtol=1e-5, atol=1e-6)


def test_layerwise_embed_with_memmap_states_equals_in_memory(graph, tmp_path):
    model = _model(graph)
    a = layerwise_embed(model, graph, chunk=5)
    b = layerwise_embed(model, graph, chunk=3, memmap_dir=tmp_path)
    for t in a:
        np.testing.assert_allclose(a[t], b[t], rtol=1e-6, atol=1e-7)
    assert list(tmp_path.iterdir()) == []  # temporary state files are removed


def test_layerwise_embed_restores_train_mode_and_reports_progress(graph):
    model = _model(graph).train()
    calls = []
    layerwise_embed(model, graph, chunk=4, progress=lambda done, total: calls.append((done, total)))
    assert model.training
    assert calls[-1][0] == calls[-1][1] == len(calls)
