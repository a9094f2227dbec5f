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
            out = linear_terms([self._linear_terms(dst_type, h_dst, h_src, adj, rels)])[0]
        else:
            out = self._mixed_terms(dst_type, h_dst, h_src, adj, rels)
        return self._finish(dst_type, h_dst, out, fresh=self.rel_mlp is None)

    def _finish(self, dst_type: str, h_dst: Tensor, out: Tensor, fresh: bool = False) -> Tensor:
        """Activation, dropout, residual and LayerNorm after the linear part.

        `fresh`: `out` is a new tensor no backward needs (`linear_terms`' output); then the
        residual is added in place when the activation's backward needs its input only
        (GELU, identity), sparing a new `[n, d]` tensor.
        """
        out = self.dropout(self.act(out))
        if self.residual and fresh and isinstance(self.act, (nn.GELU, nn.Identity)):
            out = out.add_(h_dst)
        elif self.residual:
            out = out + h_dst
        if self.norm is not None:
            out = self.norm[dst_type](out)
        return out

    def _linear_terms(
        self,
        dst_type: str,
        h_dst: Tensor,
        h_src: dict[str, Tensor],
        adj: dict[str, SparseAdjacency],
        rels: list[RelationSpec],
    ) -> LinearGroup:
        """Self-loop, messages and mixing folded: `sum_j x_j @ W_eff_j + b_eff`, x = [h, A_1 h_1, ...].

        Without `relation_mlp` every term is linear, so `M_t(concat_j (x_j W_j + b_j))` equals
        `sum_j x_j (W_j M_tj) + (sum_j b_j M_tj + b_M)` with `M_tj` the j-th row block of `M_t`:
        one GEMM per term, no concatenation and no separate mixing GEMM over `[n, k*out]`.
        A relation with many more destinations than sources is transformed first instead.
        """
        terms: list[tuple[str, SparseAdjacency | None, Tensor, Tensor]] = []
        bs: list[Tensor] = []
        if self.self_loop is not None:
            terms.append((_DENSE, None, h_dst, self.self_loop[dst_type].weight.T))
        for rel in rels:
            a = adj.get(rel.name)
            kind = _ABSENT if a is None else _TRANSFORM if self._transform_first(a) else _AGGREGATE
            terms.append((kind, a, h_src[rel.name], self.relation_weight(rel.name)))
            bs.append(self.rel_bias[self.rel_index[rel.name]])
        if self.mix is not None:
            mix = self.mix[dst_type]
            m = mix.weight.T.split(self.out_dim, dim=0)
            terms = [(k, a, x, w @ mj) for (k, a, x, w), mj in zip(terms, m)]
            bs = [mix.bias] + [b @ mj for b, mj in zip(bs, m[len(m) - len(bs) :])]
        bias = None
        for b in bs:
            bias = b if bias is None else bias + b
        return h_dst.shape[0], terms, bias

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
        types = [t for t in self.node_types if t in h]
        h_dst = {t: h[t] if n_dst is None else h[t][: n_dst.get(t, 0)] for t in types}
        h_src = {t: {r.name: h[r.src_type] for r in self.relations_into(t)} for t in types}
        if self.rel_mlp is not None:
            return {t: self.forward_type(t, h_dst[t], h_src[t], adj) for t in types}
        # the linear parts of all types in one autograd node: the gradient of a type's states
        # from its self-loop and from every relation it is the source of builds up in one buffer
        active = [t for t in types if self.self_loop is not None or self.relations_into(t)]
        groups = [self._linear_terms(t, h_dst[t], h_src[t], adj, self.relations_into(t)) for t in active]
        lin = dict(zip(active, linear_terms(groups)))
        out = dict(h_dst)  # a type with neither self-loop nor relations into it keeps its states
        out.update({t: self._finish(t, h_dst[t], y, fresh=True) for t, y in lin.items()})
        return out


_DENSE, _AGGREGATE, _TRANSFORM, _ABSENT = "dense", "aggregate", "transform", "absent"

# (rows, [(kind, adjacency or None, h, W)], bias or None): `bias + sum_j X_j W_j` for one type
LinearGroup = tuple[int, list[tuple[str, SparseAdjacency | None, Tensor, Tensor]], Tensor | None]


def linear_terms(groups: list[LinearGroup]) -> tuple[Tensor, ...]:
    """`bias + sum_j X_j W_j` of each group (`[rows, out]`), all in one autograd node.

    `X_j` is `h` (`_DENSE`), `A h` (`_AGGREGATE`) or, transformed first, `A (h W)` is the
    term (`_TRANSFORM`); an `_ABSENT` relation (no edges into these rows) adds nothing.
    """
    inputs: list[Tensor] = []
    slot: dict[int, int] = {}  # id(tensor) -> position in `inputs`: one gradient per tensor

    def index(t: Tensor | None) -> int | None:
        if t is None:
            return None
        if id(t) not in slot:
            slot[id(t)] = len(inputs)
            inputs.append(t)
        return slot[id(t)]

    spec = tuple(
        (rows, index(bias), tuple((kind, a, index(x), index(w)) for kind, a, x, w in terms))
        for rows, terms, bias in groups
    )
    return _LinearTerms.apply(spec, *inputs)


class _LinearTerms(torch.autograd.Function):
    """The groups of `linear_terms`, with forward and backward written to accumulate in place.

    Autograd over separate ops allocates a fresh `[n, d]` tensor per term and per sum, and
    on CPU the first writes to fresh memory (page faults) cost about as much as the GEMMs
    themselves at this size. Here the GEMMs add into the output of the first sparse product
    (`addmm_`), a tensor used by several terms or groups (a type's states as self-loop and as
    the source of relations into other types) gets its gradient summed in one buffer, and no
    gradient is computed for an input that does not need one.

    `spec[g] = (rows, bias, terms)` with `terms[j] = (kind, adjacency, h, W)`, where bias, h
    and W are positions in `inputs` (bias None when the group has none).
    """

    @staticmethod
    def forward(ctx, spec, *inputs: Tensor) -> tuple[Tensor, ...]:  # type: ignore[override]
        outs, aggregated = [], []
        for rows, bi, terms in spec:
            out, bias = None, None if bi is None else inputs[bi]
            # sparse products first: the first one's fresh output is the buffer the GEMMs add into
            for kind, a, xi, wi in terms:
                if kind == _TRANSFORM:
                    hw = inputs[xi] @ inputs[wi]
                    out = a.spmm(hw) if out is None else a.spmm(hw, out=out)
            for kind, a, xi, wi in terms:
                if kind not in (_DENSE, _AGGREGATE):
                    continue
                x, w = inputs[xi], inputs[wi]
                if kind == _AGGREGATE:
                    x = a.spmm(x)
                    aggregated.append(x)
                if out is not None:
                    out.addmm_(x, w)
                elif bias is not None:
                    out, bias = torch.addmm(bias, x, w), None
                else:
                    out = x @ w
            if out is None:  # only relations without edges into these rows: their biases
                w = inputs[terms[0][3]]
                out = w.new_zeros((rows, w.shape[1]))
            if bias is not None:
                out += bias
            outs.append(out)
        ctx.spec = spec
        ctx.num_inputs = len(inputs)
        ctx.save_for_backward(*inputs, *aggregated)
        ctx.set_materialize_grads(False)  # an output the loss does not use needs no backward work
        return tuple(outs)

    @staticmethod
    def backward(ctx, *grad_outs: Tensor | None) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        saved = ctx.saved_tensors
        inputs, aggregated = saved[: ctx.num_inputs], iter(saved[ctx.num_inputs :])
        needs = ctx.needs_input_grad[1:]
        grads: list[Tensor | None] = [None] * len(inputs)
        grad_outs = tuple(None if g is None else g.contiguous() for g in grad_outs)

        def add_product(i: int, a: Tensor, b: Tensor) -> None:  # grads[i] += a @ b
            grads[i] = a @ b if grads[i] is None else grads[i].addmm_(a, b)

        # aggregate-first terms first: the GEMMs after add into their sparse products' outputs
        for (_, bi, terms), grad in zip(ctx.spec, grad_outs):
            scratch = None  # grad @ W^T, [rows, in], reused by the group's aggregate-first terms
            for kind, a, xi, wi in terms:
                if kind != _AGGREGATE:
                    continue
                y, w = next(aggregated), inputs[wi]
                if grad is None:
                    continue
                if needs[wi]:
                    add_product(wi, y.T, grad)
                if needs[xi]:
                    scratch = grad @ w.T if scratch is None else torch.mm(grad, w.T, out=scratch)
                    grads[xi] = a.transposed().spmm(scratch, out=grads[xi])
        for (_, bi, terms), grad in zip(ctx.spec, grad_outs):
            if grad is None:
                continue
            for kind, a, xi, wi in terms:
                x, w = inputs[xi], inputs[wi]
                if kind == _TRANSFORM and (needs[xi] or needs[wi]):
                    t = a.transposed().spmm(grad)  # [n_src, out]
                    if needs[wi]:
                        add_product(wi, x.T, t)
                    if needs[xi]:
                        add_product(xi, t, w.T)
                elif kind == _DENSE:
                    if needs[wi]:
                        add_product(wi, x.T, grad)
                    if needs[xi]:
                        add_product(xi, grad, w.T)
                elif kind == _ABSENT and needs[wi] and grads[wi] is None:
                    grads[wi] = torch.zeros_like(w)
            if bi is not None and needs[bi]:
                grads[bi] = grad.sum(0) if grads[bi] is None else grads[bi].add_(grad.sum(0))
        return (None, *grads)
