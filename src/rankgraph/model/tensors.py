"""Torch views of a graph: features, normalised CSR adjacencies, degrees.

`GraphTensors` is built once per graph and device; the normalised adjacency of each
relation is computed on first use and cached *on the instance* (no global state), so a
full-graph training loop pays for the normalisation once.

`SparseAdjacency` is the one message-passing primitive: `A @ X` with `A` a CSR over
destination rows, whose backward uses the cached transposed CSR (`A^T @ G`) instead of
autograd through a sparse tensor, which is several times faster on CPU and CUDA.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from rankgraph.graph.store import FeatureColumn, HeteroGraph

Norm = Literal["mean", "symmetric", "weight"]


@dataclass
class FeatureTensor:
    """One feature column on a device.

    categorical: `values` Long[n]; multi_hot: `offsets` Long[n+1] and `values` Long[nnz];
    dense: `values` Float[n, d].
    """

    kind: str
    values: Tensor
    offsets: Tensor | None = None

    @property
    def num_rows(self) -> int:
        return int(self.offsets.shape[0] - 1) if self.offsets is not None else int(self.values.shape[0])

    @classmethod
    def from_column(cls, col: FeatureColumn, device: torch.device | str, rows: np.ndarray | None = None) -> FeatureTensor:
        """Copy a store column (or only `rows` of it) to `device`."""
        if col.kind == "multi_hot":
            offsets = np.asarray(col.offsets, dtype=np.int64)
            values = np.asarray(col.values)
            if rows is not None:
                starts, ends = offsets[rows], offsets[rows + 1]
                lengths = ends - starts
                new_offsets = np.zeros(len(rows) + 1, dtype=np.int64)
                np.cumsum(lengths, out=new_offsets[1:])
                pos = np.repeat(starts - new_offsets[:-1], lengths) + np.arange(new_offsets[-1])
                values, offsets = values[pos], new_offsets
            return cls(
                "multi_hot",
                torch.as_tensor(np.asarray(values, dtype=np.int64), device=device),
                torch.as_tensor(offsets, device=device),
            )
        values = col.values if rows is None else col.values[rows]
        dtype = np.int64 if col.kind == "categorical" else np.float32
        with warnings.catch_warnings():
            # a read-only memory map of the graph store is shared rather than copied (torch
            # warns about non-writable arrays; nothing writes into feature tensors)
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            return cls(col.kind, torch.as_tensor(np.ascontiguousarray(values, dtype=dtype), device=device))


def edge_coefficients(norm: Norm, weight: Tensor, dst_deg: Tensor, src_deg: Tensor, dst_wsum: Tensor) -> Tensor:
    """Per-edge value `c_{i,r} * w_ij` of the normalised adjacency (all inputs per edge).

    mean: `w_ij / deg_i`; symmetric: `w_ij / sqrt(deg_i * deg_j)` (deg_j = out-degree of the
    source in this relation); weight: `w_ij / sum_j w_ij` (0 when a node's weights sum to 0).
    Degrees are edge counts of the FULL graph, also for sampled blocks.
    """
    if norm == "mean":
        return weight / dst_deg
    if norm == "symmetric":
        return weight / torch.sqrt(dst_deg * src_deg)
    if norm == "weight":
        return torch.where(dst_wsum > 0, weight / dst_wsum.clamp_min(torch.finfo(weight.dtype).tiny), 0.0)
    raise ValueError(f"unknown normalisation '{norm}' (expected mean, symmetric or weight)")


def _csr(crow: Tensor, col: Tensor, values: Tensor, shape: tuple[int, int]) -> Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "sparse CSR support is beta": known, and we test it
        return torch.sparse_csr_tensor(crow, col, values, shape, check_invariants=False)


def _index_dtype(nnz: int, n: int) -> torch.dtype:
    # int32 CSR indices are ~3x faster in MKL/cuSPARSE spmm than int64.
    return torch.int32 if max(nnz, n) < 2**31 - 1 else torch.int64


class _SpMM(torch.autograd.Function):
    """`A @ x` with a constant sparse `A`; backward is `A^T @ grad` via the cached transpose."""

    @staticmethod
    def forward(ctx, adj: SparseAdjacency, x: Tensor) -> Tensor:  # type: ignore[override]
        ctx.adj = adj
        return adj.spmm(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[None, Tensor | None]:  # type: ignore[override]
        adj: SparseAdjacency = ctx.adj
        return None, adj.transposed().spmm(grad) if ctx.needs_input_grad[1] else None


class SparseAdjacency:
    """A constant normalised adjacency `A[n_dst, n_src]` stored as CSR over destinations."""

    def __init__(self, crow: Tensor, col: Tensor, values: Tensor, shape: tuple[int, int]) -> None:
        dtype = _index_dtype(int(col.shape[0]), max(shape))
        self.crow = crow.to(dtype)
        self.col = col.to(dtype)
        self.values = values
        self.shape = (int(shape[0]), int(shape[1]))
        self._csr: dict[torch.dtype, Tensor] = {}
        self._values: dict[torch.dtype, Tensor] = {}
        self._t: SparseAdjacency | None = None

    @property
    def nnz(self) -> int:
        return int(self.col.shape[0])

    def csr(self, dtype: torch.dtype) -> Tensor:
        if dtype not in self._csr:
            self._csr[dtype] = _csr(self.crow, self.col, self.values_as(dtype), self.shape)
        return self._csr[dtype]

    def transposed(self) -> SparseAdjacency:
        """`A^T` as a CSR over sources (built once, by a stable sort of the column indices)."""
        if self._t is None:
            n_dst, n_src = self.shape
            col = self.col.long()
            rows = torch.repeat_interleave(
                torch.arange(n_dst, device=col.device), torch.diff(self.crow.long()), output_size=self.nnz
            )
            order = torch.sort(col, stable=True).indices
            crow = torch.zeros(n_src + 1, dtype=torch.int64, device=col.device)
            torch.cumsum(torch.bincount(col, minlength=n_src), 0, out=crow[1:])
            self._t = SparseAdjacency(crow, rows[order], self.values[order], (n_src, n_dst))
            self._t._t = self
        return self._t

    def values_as(self, dtype: torch.dtype) -> Tensor:
        """The edge values in `dtype` (cached: the products run in the dtype of the states)."""
        if dtype not in self._values:
            self._values[dtype] = self.values.to(dtype)
        return self._values[dtype]

    @torch.no_grad()
    def spmm(self, x: Tensor, out: Tensor | None = None) -> Tensor:
        """`A @ x` without autograd, as a new `[n_dst, d]` tensor or added in place to `out`.

        On CPU this is `embedding_bag` (sum of the gathered source rows weighted by the edge
        values, one bag per destination: the CSR as is), whose FBGEMM kernel is about 2x
        faster than MKL's CSR x dense product and writes its output once, where the latter
        zero-fills a temporary and copies it.
        """
        if self.nnz == 0 or x.shape[0] == 0:
            return x.new_zeros((self.shape[0],) + tuple(x.shape[1:])) if out is None else out
        if x.device.type == "cpu":
            # detached: a `weight` that requires grad selects the slower variant that also
            # returns what its own backward would need, even under no_grad
            y = F.embedding_bag(
                self.col, x.detach().contiguous(), self.crow, mode="sum",
                per_sample_weights=self.values_as(x.dtype), include_last_offset=True,
            )
        else:
            y = self.csr(x.dtype) @ x.contiguous()
        return y if out is None else out.add_(y)

    def matmul(self, x: Tensor) -> Tensor:
        """`A @ x` for `x: [n_src, d]` -> `[n_dst, d]`, differentiable in `x`."""
        if self.nnz == 0 or x.shape[0] == 0:
            return x.new_zeros((self.shape[0],) + tuple(x.shape[1:]))
        return _SpMM.apply(self, x)


@dataclass
class RelationTensors:
    """One relation's CSR over destinations plus the degrees the normalisations need."""

    name: str
    src_type: str
    dst_type: str
    indptr: Tensor  # Long[n_dst + 1]
    indices: Tensor  # Int32/Long[nnz], source rows
    weight: Tensor  # Float[nnz]
    in_deg: Tensor  # Float[n_dst]
    out_deg: Tensor  # Float[n_src]
    wsum: Tensor  # Float[n_dst], sum of in-edge weights

    @property
    def num_dst(self) -> int:
        return int(self.indptr.shape[0] - 1)

    @property
    def num_edges(self) -> int:
        return int(self.indices.shape[0])


@dataclass
class GraphTensors:
    """All of a graph on one device: per-type features and per-relation CSRs with degrees."""

    num_nodes: dict[str, int]
    features: dict[str, dict[str, FeatureTensor]]
    relations: dict[str, RelationTensors]
    device: torch.device
    _adjacency: dict[tuple[str, str], SparseAdjacency] = field(default_factory=dict, repr=False)

    @classmethod
    def from_graph(cls, graph: HeteroGraph, device: torch.device | str = "cpu") -> GraphTensors:
        device = torch.device(device)
        features = {
            t: {name: FeatureTensor.from_column(col, device) for name, col in cols.items()}
            for t, cols in graph.features.items()
        }
        relations = {}
        for name, rel in graph.relations.items():
            n_src = graph.num_nodes[rel.src_type]
            indptr = torch.as_tensor(np.asarray(rel.indptr, dtype=np.int64), device=device)
            idx_np = np.asarray(rel.indices)
            idx_dtype = np.int32 if n_src < 2**31 - 1 else np.int64
            indices = torch.as_tensor(np.ascontiguousarray(idx_np, dtype=idx_dtype), device=device)
            weight = torch.as_tensor(np.ascontiguousarray(rel.weight, dtype=np.float32), device=device)
            in_deg = torch.diff(indptr).float()
            out_deg = torch.bincount(indices.long(), minlength=n_src).float()
            csum = torch.zeros(weight.shape[0] + 1, dtype=torch.float64, device=device)
            torch.cumsum(weight.double(), 0, out=csum[1:])
            wsum = (csum[indptr[1:]] - csum[indptr[:-1]]).float()
            relations[name] = RelationTensors(
                name, rel.src_type, rel.dst_type, indptr, indices, weight, in_deg, out_deg, wsum
            )
        return cls(dict(graph.num_nodes), features, relations, device)

    def adjacency(self, name: str, norm: Norm) -> SparseAdjacency:
        """The normalised adjacency of relation `name` (cached on this instance)."""
        key = (name, norm)
        if key not in self._adjacency:
            r = self.relations[name]
            dst = torch.repeat_interleave(
                torch.arange(r.num_dst, device=self.device), torch.diff(r.indptr), output_size=r.num_edges
            )
            src = r.indices.long()
            values = edge_coefficients(norm, r.weight, r.in_deg[dst], r.out_deg[src], r.wsum[dst])
            self._adjacency[key] = SparseAdjacency(
                r.indptr, r.indices, values, (r.num_dst, self.num_nodes[r.src_type])
            )
        return self._adjacency[key]
