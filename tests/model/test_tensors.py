from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rankgraph.graph.store import HeteroGraph, Relation, csr_from_coo
from rankgraph.model.tensors import GraphTensors, SparseAdjacency


def _two_by_two() -> HeteroGraph:
    # dst 0 <- src 0 (w=1), src 1 (w=3); dst 1 <- src 1 (w=2)
    indptr, indices, weight = csr_from_coo(np.array([0, 1, 1]), np.array([0, 0, 1]), np.array([1.0, 3.0, 2.0]), 2)
    rel = Relation("a__r__b", "a", "b", indptr, indices, weight, reverse=None)
    return HeteroGraph(num_nodes={"a": 2, "b": 2}, relations={rel.name: rel})


def _dense(adj: SparseAdjacency) -> np.ndarray:
    return adj.csr(torch.float32).to_dense().numpy()


@pytest.mark.parametrize(
    ("norm", "expected"),
    [
        ("mean", [[1 / 2, 3 / 2], [0.0, 2 / 1]]),
        ("symmetric", [[1 / math.sqrt(2 * 1), 3 / math.sqrt(2 * 2)], [0.0, 2 / math.sqrt(1 * 2)]]),
        ("weight", [[1 / 4, 3 / 4], [0.0, 1.0]]),
    ],
)
def test_normalised_adjacency_matches_hand_computation(norm, expected):
    gt = GraphTensors.from_graph(_two_by_two())
    np.testing.assert_allclose(_dense(gt.adjacency("a__r__b", norm)), expected, rtol=1e-6)


def test_adjacency_is_cached_per_norm():
    gt = GraphTensors.from_graph(_two_by_two())
    assert gt.adjacency("a__r__b", "mean") is gt.adjacency("a__r__b", "mean")
    assert gt.adjacency("a__r__b", "mean") is not gt.adjacency("a__r__b", "weight")


def test_sparse_matmul_gradient_equals_dense_gradient():
    g = torch.Generator().manual_seed(0)
    dense = (torch.rand(5, 7, generator=g) < 0.4).float() * torch.rand(5, 7, generator=g)
    csr = dense.to_sparse_csr()
    adj = SparseAdjacency(csr.crow_indices(), csr.col_indices(), csr.values(), (5, 7))
    x = torch.randn(7, 3, generator=g, requires_grad=True)
    y = torch.randn(5, 3, generator=g)
    (adj.matmul(x) * y).sum().backward()
    x2 = x.detach().clone().requires_grad_(True)
    (dense @ x2 * y).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)


def test_sparse_matmul_of_empty_relation_is_zero():
    adj = SparseAdjacency(torch.zeros(4, dtype=torch.int64), torch.zeros(0, dtype=torch.int64), torch.zeros(0), (3, 5))
    assert torch.equal(adj.matmul(torch.ones(5, 2)), torch.zeros(3, 2))


def test_sparse_product_into_new_tensor_or_added_in_place_equals_dense():
    g = torch.Generator().manual_seed(0)
    dense = (torch.rand(6, 4, generator=g) < 0.5).float() * torch.rand(6, 4, generator=g)
    dense[2] = 0.0  # a destination with no edges
    csr = dense.to_sparse_csr()
    adj = SparseAdjacency(csr.crow_indices(), csr.col_indices(), csr.values(), (6, 4))
    x, acc = torch.randn(4, 3, generator=g), torch.randn(6, 3, generator=g)
    torch.testing.assert_close(adj.spmm(x), dense @ x)
    expected = acc + dense @ x
    out = adj.spmm(x, out=acc)
    assert out is acc
    torch.testing.assert_close(out, expected)
