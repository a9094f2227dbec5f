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


def _dense_reference(layer: RelationalLayer, h: dict[str, torch.Tensor], adj: dict[str, torch.Tensor]) -> dict:
    """The layer's maths one op per term, with dense adjacencies: no fusion, no in-place sums."""
    out = {}
    for t in layer.node_types:
        terms = [h[t] @ layer.self_loop[t].weight.T] if layer.self_loop is not None else []
        for r in layer.relations_into(t):
            agg = adj[r.name] @ h[r.src_type] if r.name in adj else torch.zeros(h[t].shape[0], layer.in_dim)
            terms.append(agg @ layer.relation_weight(r.name) + layer.rel_bias[layer.rel_index[r.name]])
        y = layer.mix[t](torch.cat(terms, -1)) if layer.mix is not None else sum(terms)
        y = layer.act(y)
        if layer.residual:
            y = y + h[t]
        out[t] = layer.norm[t](y) if layer.norm is not None else y
    return out


@pytest.mark.parametrize(
    ("kw", "out_dim", "drop"),
    [
        (dict(activation="none", residual=True), 8, None),  # residual added to the linear output
        (dict(mixing=True, residual=True, layer_norm=True, activation="gelu"), 8, None),
        (dict(mixing=True, num_bases=2), 40, None),  # 40 wide: other relations are transformed first
        (dict(self_loop=False), 8, "item__similar__item"),  # a relation with no adjacency given
        (dict(residual=True, activation="relu"), 8, "tag__has__item"),
    ],
)
@pytest.mark.parametrize("inputs_need_grad", [True, False])
def test_layer_output_and_gradients_equal_dense_reference(graph, kw, out_dim, drop, inputs_need_grad):
    layer = _layer(graph, 8, out_dim, **kw)
    with torch.no_grad():  # non-zero biases, so that their gradients and the bias folding are checked
        layer.rel_bias.uniform_(-1.0, 1.0)
    gt = GraphTensors.from_graph(graph)
    adj = {name: gt.adjacency(name, "mean") for name in gt.relations if name != drop}
    dense = {name: a.csr(torch.float32).to_dense() for name, a in adj.items()}
    g = torch.Generator().manual_seed(0)
    x = {t: torch.randn(n, 8, generator=g) for t, n in graph.num_nodes.items()}
    probe = {t: torch.randn(n, out_dim, generator=g) for t, n in graph.num_nodes.items()}
    results = []
    for run in (lambda h: layer(h, adj), lambda h: _dense_reference(layer, h, dense)):
        layer.zero_grad(set_to_none=True)
        h = {t: v.clone().requires_grad_(inputs_need_grad) for t, v in x.items()}
        out = run(h)
        sum((out[t] * probe[t]).sum() for t in out).backward()
        grads = [h[t].grad for t in sorted(h)] + [p.grad for p in layer.parameters()]
        results.append(([out[t] for t in sorted(out)], grads))
    (out, grads), (ref_out, ref_grads) = results
    for a, b in zip(out + grads, ref_out + ref_grads):
        if b is None:
            assert a is None
        else:
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
