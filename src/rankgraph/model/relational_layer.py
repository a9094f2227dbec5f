"""One RGCN-style relational layer over a heterogeneous graph.

For destination type t and each relation r into t::

    m_{i,r} = f_r( sum_{j in N_r(i)} c_{i,r} w_ij  W_r h_j )          (one sparse matmul)
    h'_i    = LN( h_i + drop( act( M_t( concat[ W_self,t h_i, m_{i,r1}, m_{i,r2}, ... ] ) ) ) )

`c_{i,r} w_ij` are the values of the normalised adjacency (`SparseAdjacency`, built once
per graph). Because the aggregation is linear, `A (H W) = (A H) W`: the layer aggregates
first or transforms first, whichever costs fewer flops for this relation's shape.
`W_r` may be a basis decomposition `sum_b a_rb V_b` (`num_bases`). `f_r` adds a per-relation
bias (and an activated linear map when `relation_mlp`). `M_t` is a Linear over the
concatenation (`mixing`), or the terms are summed (`mixing: false`, which with one relation,
mean normalisation and no residual/LayerNorm is exactly PyG's `GraphConv(aggr="mean")`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from rankgraph.config.model import ModelConfig
from rankgraph.model.feature_encoder import activation
from rankgraph.model.schema import RelationSpec
from rankgraph.model.tensors import SparseAdjacency


class RelationalLayer(nn.Module):
    """Message passing for every relation, mixed per destination type."""

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        node_types: list[str],
        relations: list[RelationSpec],
        cfg: ModelConfig,
    ) -> None:
        super().__init__()
        self.in_dim, self.out_dim = in_dim, out_dim
        self.node_types = list(node_types)
        self.relations = list(relations)
        self.rel_index = {r.name: i for i, r in enumerate(self.relations)}
        num_rel = len(self.relations)
        bound = 1.0 / math.sqrt(in_dim)
        if cfg.num_bases:
            self.bases = nn.Parameter(torch.empty(cfg.num_bases, in_dim, out_dim).uniform_(-bound, bound))
            self.coeff = nn.Parameter(torch.empty(num_rel, cfg.num_bases).uniform_(-1.0, 1.0) / math.sqrt(cfg.num_bases))
            self.weight = None
        else:
            self.weight = nn.Parameter(torch.empty(num_rel, in_dim, out_dim).uniform_(-bound, bound))
            self.bases = self.coeff = None
        self.rel_bias = nn.Parameter(torch.zeros(num_rel, out_dim))
        self.rel_mlp = (
            nn.ModuleDict({r.name: nn.Sequential(nn.Linear(out_dim, out_dim), activation(cfg.activation)) for r in relations})
            if cfg.relation_mlp
            else None
        )
        self.self_loop = (
            nn.ModuleDict({t: nn.Linear(in_dim, out_dim, bias=False) for t in node_types}) if cfg.self_loop else None
        )
        self.mix = None
        if cfg.mixing:
            terms = {t: len(self.relations_into(t)) + (1 if cfg.self_loop else 0) for t in node_types}
            self.mix = nn.ModuleDict({t: nn.Linear(k * out_dim, out_dim) for t, k in terms.items() if k > 0})
        self.act = activation(cfg.activation)
        self.dropout = nn.Dropout(cfg.dropout)
        self.residual = cfg.residual and in_dim == out_dim
        self.norm = nn.ModuleDict({t: nn.LayerNorm(out_dim) for t in node_types}) if cfg.layer_norm else None

    def relations_into(self, dst_type: str) -> list[RelationSpec]:
        return [r for r in self.relations if r.dst_type == dst_type]

    def relation_weight(self, name: str) -> Tensor:
        """`W_r` of shape `[in_dim, out_dim]` (composed from the bases when decomposed)."""
        i = self.rel_index[name]
        if self.weight is not None:
            return self.weight[i]
        return torch.einsum("b,bio->io", self.coeff[i], self.bases)

    def _transform_first(self, adj: SparseAdjacency) -> bool:
        """`A (H W)` costs fewer flops than `(A H) W` (e.g. many destinations, few sources)."""
        n_dst, n_src = adj.shape
        aggregate_first = adj.nnz * self.in_dim + n_dst * self.in_dim * self.out_dim
        transform_first = n_src * self.in_dim * self.out_dim + adj.nnz * self.out_dim
        return transform_first < aggregate_first

    def message(self, rel: RelationSpec, adj: SparseAdjacency, h_src: Tensor) -> Tensor:
        """`f_r(A_r h_src W_r)`: `[n_dst, out_dim]`."""
        w = self.relation_weight(rel.name)
        m = adj.matmul(h_src @ w) if self._transform_first(adj) else adj.matmul(h_src) @ w
        m = m + self.rel_bias[self.rel_index[rel.name]]
        if self.rel_mlp is not None:
            m = self.rel_mlp[rel.name](m)
        return m

    def forward_type(
        self, dst_type: str, h_dst: Tensor, h_src: dict[str, Tensor], adj: dict[str, SparseAdjacency]
    ) -> Tensor:
        """New states `[n_dst, out_dim]` of `h_dst` rows of `dst_type`.

        `h_src[r]` are the source rows relation `r`'s adjacency `adj[r]` indexes (its columns).
        """
        rels = self.relations_into(dst_type)
        if self.self_loop is None and not rels:  # an isolated type with no self-loop: nothing to update
            return h_dst
        if self.rel_mlp is None:
            out = self._fused_terms(dst_type, h_dst, h_src, adj, rels)
        else:
            out = self._mixed_terms(dst_type, h_dst, h_src, adj, rels)
        out = self.dropout(self.act(out))
        if self.residual:
            out = out + h_dst
        if self.norm is not None:
            out = self.norm[dst_type](out)
        return out

    def _aggregate(
        self, rel: RelationSpec, h_dst: Tensor, h_src: dict[str, Tensor], adj: dict[str, SparseAdjacency]
    ) -> Tensor:
        if rel.name in adj:
            return adj[rel.name].matmul(h_src[rel.name])
        return h_dst.new_zeros((h_dst.shape[0], self.in_dim))  # no edges of this relation reach these rows

    def _fused_terms(
        self,
        dst_type: str,
        h_dst: Tensor,
        h_src: dict[str, Tensor],
        adj: dict[str, SparseAdjacency],
        rels: list[RelationSpec],
    ) -> Tensor:
        """Self-loop, messages and mixing folded: `sum_j x_j @ W_eff_j + b_eff`, x = [h, A_1 h_1, ...].

        Without `relation_mlp` every term is linear, so `M_t(concat_j (x_j W_j + b_j))` equals
        `sum_j x_j (W_j M_tj) + (sum_j b_j M_tj + b_M)` with `M_tj` the j-th row block of `M_t`:
        one GEMM per term, no concatenation and no separate mixing GEMM over `[n, k*out]`.
        A relation with many more destinations than sources is transformed first instead.
        """
        xs, ws, bs = [], [], []
        if self.self_loop is not None:
            xs.append(h_dst)
            ws.append(self.self_loop[dst_type].weight.T)
            bs.append(None)
        for rel in rels:
            a = adj.get(rel.name)
            if a is not None and self._transform_first(a):
                xs.append((a, h_src[rel.name]))
            else:
                xs.append(self._aggregate(rel, h_dst, h_src, adj))
            ws.append(self.relation_weight(rel.name))
            bs.append(self.rel_bias[self.rel_index[rel.name]])
        bias = None
        if self.mix is not None:
            mix = self.mix[dst_type]
            m = mix.weight.T.split(self.out_dim, dim=0)
            ws = [w @ mj for w, mj in zip(ws, m)]
            bias = mix.bias
            for b, mj in zip(bs, m):
                if b is not None:
                    bias = bias + b @ mj
        else:
            for b in bs:
                if b is not None:
                    bias = b if bias is None else bias + b
        # a chain of addmm (not one GEMM over a concatenation): the backward then yields each
        # term's gradient contiguous, with no copy of the wide concatenated matrix either way
        out = None
        for x, w in zip(xs, ws):
            if isinstance(x, tuple):  # transform first: A (h_src W) has fewer flops here
                adj_r, h = x
                term = adj_r.matmul(h @ w)
                out = term if out is None else out + term
            elif out is None:
                out = x @ w if bias is None else torch.addmm(bias, x, w)
                bias = None
            else:
                out = torch.addmm(out, x, w)
        return out if bias is None else out + bias

    def _mixed_terms(
        self,
        dst_type: str,
        h_dst: Tensor,
        h_src: dict[str, Tensor],
        adj: dict[str, SparseAdjacency],
        rels: list[RelationSpec],
    ) -> Tensor:
        """The general path (non-linear `f_r`): each term on its own, then `M_t` or a sum."""
        terms = []
        if self.self_loop is not None:
            terms.append(self.self_loop[dst_type](h_dst))
        for rel in rels:
            if rel.name in adj:
                terms.append(self.message(rel, adj[rel.name], h_src[rel.name]))
            else:
                # no edges reach these rows: f_r of the bias alone, as in the full graph
                empty = h_dst.new_zeros((h_dst.shape[0], self.out_dim)) + self.rel_bias[self.rel_index[rel.name]]
                terms.append(self.rel_mlp[rel.name](empty))
        if self.mix is not None:
            return self.mix[dst_type](torch.cat(terms, dim=-1))
        out = terms[0]
        for t in terms[1:]:
            out = out + t
        return out

    def forward(
        self, h: dict[str, Tensor], adj: dict[str, SparseAdjacency], n_dst: dict[str, int] | None = None
    ) -> dict[str, Tensor]:
        """One layer over a full graph or a sampled block.

        `h[t]`: source states of type t; the destination nodes of type t are its first
        `n_dst[t]` rows (all rows when `n_dst` is None, i.e. the full graph).
        """
        out = {}
        for t in self.node_types:
            if t not in h:
                continue
            h_dst = h[t] if n_dst is None else h[t][: n_dst.get(t, 0)]
            h_src = {r.name: h[r.src_type] for r in self.relations_into(t)}
            out[t] = self.forward_type(t, h_dst, h_src, adj)
        return out
