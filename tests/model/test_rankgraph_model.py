from __future__ import annotations

import pytest
import torch

from rankgraph.capabilities import with_cuda
from rankgraph.config.model import ModelConfig
from rankgraph.errors import ConfigError
from rankgraph.graph.sample import NeighborSampler
from rankgraph.model.rankgraph_model import RankGraphModel
from rankgraph.model.schema import GraphSchema
from rankgraph.model.tensors import GraphTensors

SEEDS = {"user": torch.tensor([3, 1, 3, 0, 11]), "item": torch.tensor([2, 5, 8]), "tag": torch.tensor([1])}


def _model(graph, **kw) -> RankGraphModel:
    torch.manual_seed(0)
    cfg = ModelConfig(**{"dim": 8, "feature_dim": 4, **kw})
    return RankGraphModel(cfg, GraphSchema.from_graph(graph))


@pytest.mark.parametrize("head_mode", ["projection", "stack"])
@pytest.mark.parametrize("norm", ["mean", "symmetric", "weight"])
def test_sampled_forward_with_full_fanouts_equals_full_forward(graph, head_mode, norm):
    model = _model(graph, head_mode=head_mode, norm=norm, num_bases=2).eval()
    full = model.forward_full(GraphTensors.from_graph(graph))
    sub = NeighborSampler(graph, [100, 100]).sample(SEEDS, torch.Generator().manual_seed(0))
    sampled = model.forward_sampled(sub)
    for t, seeds in SEEDS.items():
        torch.testing.assert_close(sampled[t], full[t][seeds], rtol=1e-5, atol=1e-6)


def test_outputs_are_per_head_unit_vectors(graph):
    model = _model(graph, num_heads=3)
    out = model.forward_full(GraphTensors.from_graph(graph))
    assert out["item"].shape == (9, 3, 8)
    torch.testing.assert_close(out["item"].norm(dim=-1), torch.ones(9, 3))


@pytest.mark.parametrize(("output", "width"), [("concat", 16), ("mean", 8)])
def test_served_embedding_is_unit_norm_concat_or_mean(graph, output, width):
    model = _model(graph, output=output)
    h = model.forward_full(GraphTensors.from_graph(graph))["user"]
    served = model.served(h)
    assert served.shape == (12, width) and model.embedding_dim == width
    torch.testing.assert_close(served.norm(dim=-1), torch.ones(12))
    expected = h.reshape(12, -1) if output == "concat" else h.mean(1)
    torch.testing.assert_close(served, torch.nn.functional.normalize(expected, dim=-1))


@pytest.mark.parametrize("head_mode", ["projection", "stack"])
def test_gradient_reaches_every_parameter_in_full_mode(graph, head_mode):
    model = _model(graph, head_mode=head_mode, num_bases=2, relation_mlp=True, dropout=0.0)
    out = model.forward_full(GraphTensors.from_graph(graph))
    g = torch.Generator().manual_seed(1)
    loss = sum((h * torch.randn(h.shape, generator=g)).sum() for h in out.values())
    loss.backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert dead == []


def test_gradient_reaches_every_parameter_in_sampled_mode(graph):
    model = _model(graph, dropout=0.0)
    sub = NeighborSampler(graph, [3, 2]).sample(SEEDS, torch.Generator().manual_seed(0))
    out = model.forward_sampled(sub)
    g = torch.Generator().manual_seed(1)
    sum((h * torch.randn(h.shape, generator=g)).sum() for h in out.values()).backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert dead == []


def test_eval_mode_is_deterministic_and_train_mode_uses_dropout(graph):
    model = _model(graph, dropout=0.5)
    gt = GraphTensors.from_graph(graph)
    model.eval()
    a, b = model.forward_full(gt), model.forward_full(gt)
    assert all(torch.equal(a[t], b[t]) for t in a)
    model.train()
    c = model.forward_full(gt)
    assert not torch.allclose(a["item"], c["item"])


def test_sampled_forward_refuses_wrong_number_of_layers(graph):
    model = _model(graph, num_layers=2)
    sub = NeighborSampler(graph, [5]).sample(SEEDS, torch.Generator().manual_seed(0))
    with pytest.raises(ConfigError, match="1 layers"):
        model.forward_sampled(sub)


def test_state_dict_loads_into_model_rebuilt_from_schema_dict(graph):
    model = _model(graph).eval()
    schema = GraphSchema.from_dict(model.schema.to_dict())
    again = RankGraphModel(model.cfg, schema).eval()
    again.load_state_dict(model.state_dict())
    gt = GraphTensors.from_graph(graph)
    torch.testing.assert_close(again.forward_full(gt)["user"], model.forward_full(gt)["user"])


@pytest.mark.skipif(not with_cuda(), reason="needs a CUDA device")
def test_sampled_forward_equals_full_forward_on_cuda(graph):
    model = _model(graph).eval().cuda()
    gt = GraphTensors.from_graph(graph, "cuda")
    full = model.forward_full(gt)
    sampler = NeighborSampler(gt, [100, 100])
    sub = sampler.sample({t: s.cuda() for t, s in SEEDS.items()}, torch.Generator("cuda").manual_seed(0))
    sampled = model.forward_sampled(sub)
    for t, seeds in SEEDS.items():
        torch.testing.assert_close(sampled[t], full[t][seeds.cuda()], rtol=1e-4, atol=1e-5)
    small = sampler.sample({"item": torch.arange(9, device="cuda")}, torch.Generator("cuda").manual_seed(0))
    assert small.input_nodes["user"].device.type == "cuda"
