from __future__ import annotations

import numpy as np
import pytest
import torch

from rankgraph.config.model import ModelConfig
from rankgraph.graph.store import HeteroGraph, Relation, csr_from_coo
from rankgraph.model.relational_layer import RelationalLayer
from rankgraph.model.schema import GraphSchema
from rankgraph.model.tensors import GraphTensors

PLAIN = dict(mixing=False, residual=False, layer_norm=False, dropout=0.0, activation="relu", norm="mean")


def _homogeneous(num_rel: int, n: int = 10, edges: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    rels, edge_index, edge_type = {}, [], []
    for r in range(num_rel):
        src, dst = rng.integers(0, n, edges), rng.integers(0, n, edges)
        pairs = np.unique(np.stack([src, dst], 1), axis=0)
        indptr, indices, weight = csr_from_coo(pairs[:, 0], pairs[:, 1], np.ones(len(pairs)), n)
        rels[f"n__r{r}__n"] = Relation(f"n__r{r}__n", "n", "n", indptr, indices, weight, reverse=None)
        edge_index.append(pairs.T)
        edge_type.append(np.full(len(pairs), r))
    graph = HeteroGraph(num_nodes={"n": n}, relations=rels)
    ei = torch.as_tensor(np.concatenate(edge_index, 1), dtype=torch.long)
    et = torch.as_tensor(np.concatenate(edge_type), dtype=torch.long)
    return graph, ei, et


def _layer(graph, dim_in, dim_out, **kw):
    cfg = ModelConfig(**{**PLAIN, **kw})
    schema = GraphSchema.from_graph(graph)
    return RelationalLayer(dim_in, dim_out, schema.node_types, schema.relations, cfg)


def _run(layer, graph, x, norm="mean"):
    gt = GraphTensors.from_graph(graph)
    adj = {name: gt.adjacency(name, norm) for name in gt.relations}
    return layer({"n": x}, adj)["n"]


def test_single_relation_layer_equals_pyg_graphconv_mean():
    nn_conv = pytest.importorskip("torch_geometric.nn")
    graph, ei, _ = _homogeneous(1)
    torch.manual_seed(0)
    conv = nn_conv.GraphConv(6, 5, aggr="mean")
    layer = _layer(graph, 6, 5)
    with torch.no_grad():
        layer.weight[0].copy_(conv.lin_rel.weight.T)
        layer.rel_bias[0].copy_(conv.lin_rel.bias)
        layer.self_loop["n"].weight.copy_(conv.lin_root.weight)
    x = torch.randn(10, 6)
    torch.testing.assert_close(_run(layer, graph, x), torch.relu(conv(x, ei)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("num_bases", [None, 2])
def test_multi_relation_layer_equals_pyg_rgcnconv_mean(num_bases):
    nn_conv = pytest.importorskip("torch_geometric.nn")
    graph, ei, et = _homogeneous(3)
    torch.manual_seed(0)
    conv = nn_conv.RGCNConv(6, 5, num_relations=3, num_bases=num_bases, aggr="mean")
    layer = _layer(graph, 6, 5, num_bases=num_bases)
    with torch.no_grad():
        if num_bases:
            layer.bases.copy_(conv.weight)
            layer.coeff.copy_(conv.comp)
        else:
            layer.weight.copy_(conv.weight)
        layer.rel_bias.zero_()
        layer.rel_bias[0].copy_(conv.bias)
        layer.self_loop["n"].weight.copy_(conv.root.T)
    x = torch.randn(10, 6)
    torch.testing.assert_close(_run(layer, graph, x), torch.relu(conv(x, ei, et)), rtol=1e-5, atol=1e-5)


def test_basis_decomposition_shapes():
    graph, _, _ = _homogeneous(3)
    layer = _layer(graph, 6, 5, num_bases=2)
    assert layer.weight is None
    assert layer.bases.shape == (2, 6, 5)
    assert layer.coeff.shape == (3, 2)
    assert layer.relation_weight("n__r1__n").shape == (6, 5)


def test_aggregate_first_equals_transform_first():
    graph, _, _ = _homogeneous(1)
    torch.manual_seed(0)
    x = torch.randn(10, 6)
    # 6 -> 5 and 6 -> 40 take different orders (by flop count); compare with a dense reference
    for out_dim in (5, 40):
        layer = _layer(graph, 6, out_dim, self_loop=False)
        gt = GraphTensors.from_graph(graph)
        adj = gt.adjacency("n__r0__n", "mean")
        dense = adj.csr(torch.float32).to_dense()
        expected = torch.relu(dense @ x @ layer.weight[0] + layer.rel_bias[0])
        torch.testing.assert_close(_run(layer, graph, x), expected, rtol=1e-5, atol=1e-5)


def test_mixing_uses_one_linear_over_the_concatenation():
    graph, _, _ = _homogeneous(2)
    layer = _layer(graph, 6, 5, mixing=True)
    assert layer.mix["n"].in_features == 3 * 5  # self-loop + two relations
    assert _run(layer, graph, torch.randn(10, 6)).shape == (10, 5)


def test_residual_and_layer_norm_are_applied():
    graph, _, _ = _homogeneous(1)
    layer = _layer(graph, 6, 6, residual=True, layer_norm=True)
    out = _run(layer, graph, torch.randn(10, 6))
    torch.testing.assert_close(out.mean(-1), torch.zeros(10), atol=1e-5, rtol=0)
