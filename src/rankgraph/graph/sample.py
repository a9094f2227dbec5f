"""Multi-layer neighbour sampling over the destination CSRs, vectorised in torch.

`NeighborSampler(graph, fanouts).sample(seeds, generator)` returns a `SampledSubgraph`:
one bipartite `Block` per layer (input layer first, like DGL blocks), with local indices.
`fanouts[0]` is the number of neighbours per relation taken around the seeds (hop 1),
`fanouts[1]` around those (hop 2), as in PyG's `num_neighbors`; -1 takes every neighbour.
Sampling is without replacement: nodes with degree <= fan-out keep all their edges;
otherwise uniform sampling runs Floyd's algorithm for all such nodes at once (O(fanout^2)
per node, independent of degree), and weighted sampling takes the k smallest Efraimidis-
Spirakis keys `-log(u)/w` per node via one sort (successive sampling proportional to weight).
Each hop treats the (relation, destination) rows of all relations as one problem, with a
per-row fan-out, so the number of torch ops per hop does not grow with the relations.

In every block the destination nodes of each type are the first rows of its source nodes
(so the self-loop reads `h_src[:n_dst]`). Each sampled edge keeps the normalisation the
full graph would use (degrees of the FULL graph) times an inverse-inclusion factor: 1 when
a node kept all its edges, deg/k (uniform) or W_i/(k w_ij) (weighted) otherwise. With
fan-outs >= the max degree a mini-batch therefore reproduces the full-graph output exactly,
and with smaller fan-outs the neighbour sum is an (approximately, for weighted) unbiased
estimate instead of being shrunk by k/deg.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from rankgraph.errors import ConfigError
from rankgraph.graph.store import HeteroGraph
from rankgraph.model.tensors import FeatureTensor, GraphTensors, Norm, RelationTensors, SparseAdjacency, edge_coefficients


@dataclass
class BlockRelation:
    """Sampled edges of one relation in one block, grouped by local destination (CSR).

    The per-edge normalisation inputs (`weight`, full-graph degrees, weight sums) are read
    from the relation on first use, so a layer pays only for what its norm needs.
    """

    src_type: str
    dst_type: str
    crow: Tensor  # Long[n_dst + 1]
    src: Tensor  # Long[e], local source row
    factor: Tensor  # Float[e], inverse inclusion factor (1 where all edges were kept)
    edge_id: Tensor  # Long[e], position of the edge in the graph's CSR
    dst_row: Tensor  # Long[e], local destination row of each edge
    dst_nodes: Tensor  # Long[n_dst], global destination ids
    src_nodes: Tensor  # Long[e], global source id of each edge
    relation: RelationTensors = field(repr=False)

    @property
    def num_edges(self) -> int:
        return int(self.src.shape[0])

    def dst(self) -> Tensor:
        """Local destination row of each edge."""
        return self.dst_row

    @property
    def weight(self) -> Tensor:
        """Float[e] edge weights."""
        return _g(self.relation.weight, self.edge_id)

    @property
    def dst_deg(self) -> Tensor:
        """Float[e] full-graph in-degree of each edge's destination."""
        return _g(_g(self.relation.in_deg, self.dst_nodes), self.dst_row)

    @property
    def src_deg(self) -> Tensor:
        """Float[e] full-graph out-degree of each edge's source."""
        return _g(self.relation.out_deg, self.src_nodes)

    @property
    def dst_wsum(self) -> Tensor:
        """Float[e] full-graph sum of in-edge weights of each edge's destination."""
        return _g(_g(self.relation.wsum, self.dst_nodes), self.dst_row)


@dataclass
class Block:
    """One layer's bipartite graph: `n_src[t]` input rows per type, the first `n_dst[t]` of them outputs."""

    n_src: dict[str, int]
    n_dst: dict[str, int]
    relations: dict[str, BlockRelation]
    _adjacency: dict[str, dict[str, SparseAdjacency]] = field(default_factory=dict, repr=False)

    def adjacency(self, norm: Norm) -> dict[str, SparseAdjacency]:
        """Normalised local adjacency `[n_dst, n_src]` per relation (cached per norm)."""
        if norm not in self._adjacency:
            adj = {}
            for name, r in self.relations.items():
                weight, dst_deg = r.weight, r.dst_deg
                src_deg = r.src_deg if norm == "symmetric" else dst_deg
                dst_wsum = r.dst_wsum if norm == "weight" else dst_deg
                coeff = edge_coefficients(norm, weight, dst_deg, src_deg, dst_wsum)
                values = torch.where(coeff != 0, coeff * r.factor, 0.0)
                adj[name] = SparseAdjacency(r.crow, r.src, values, (self.n_dst[r.dst_type], self.n_src[r.src_type]))
            self._adjacency[norm] = adj
        return self._adjacency[norm]


@dataclass
class SampledSubgraph:
    """What `forward_sampled` needs: blocks, input nodes, features and where each seed landed.

    `input_nodes[t]`: global ids of the layer-0 rows of type t (the sources of `blocks[0]`);
    `seed_nodes[t]`: the unique seeds (the destinations of `blocks[-1]`), and
    `seed_inverse[t]`: for each seed as given, its row among `seed_nodes[t]`.
    """

    blocks: list[Block]
    input_nodes: dict[str, Tensor]
    seed_nodes: dict[str, Tensor]
    seed_inverse: dict[str, Tensor]
    features: dict[str, dict[str, FeatureTensor]]


def unique_in_order(x: Tensor, scratch: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Unique values of `x` in order of first appearance, and each element's index into them.

    With `scratch` (Int/Long[> max(x)] filled with its dtype's max: the sampler keeps one slot per node)
    this is O(len(x)) without sorting, and the scratch is refilled before returning.
    Without it, `torch.unique` (a sort) is used.
    """
    if x.numel() == 0:
        return x, torch.zeros(0, dtype=torch.int64, device=x.device)
    pos = torch.arange(x.shape[0], device=x.device)
    if scratch is None:
        uniq, inv = torch.unique(x, return_inverse=True)
        first = torch.full((uniq.shape[0],), x.shape[0], dtype=torch.int64, device=x.device)
        first.scatter_reduce_(0, inv, pos, reduce="amin")
        order = torch.argsort(first)
        rank = torch.empty_like(order)
        rank[order] = torch.arange(order.shape[0], device=x.device)
        return _g(uniq, order), _g(rank, inv)
    pos = pos.to(scratch.dtype)
    scratch.scatter_reduce_(0, x, pos, reduce="amin")
    first = _g(scratch, x)
    scratch.index_fill_(0, x, torch.iinfo(scratch.dtype).max)
    is_first = first == pos
    rank = torch.cumsum(is_first, 0) - 1
    return x[is_first], _g(rank, first)


_TAG_MAX = torch.iinfo(torch.int32).max  # scratch tags count down from here (see `_FirstSeen`)
_TAKE_ALL = 2**62  # the fan-out of a row that keeps every edge (fan-out -1)


_CPU_PATHS = True  # tests turn this off to run the generic (CUDA) code paths on CPU


def _cpu_path(device: torch.device) -> bool:
    """Whether the CPU-only code paths apply: numpy views of the tensors (numpy's per-op overhead is a
    fraction of torch's on small arrays) and `scatter_` writing in index order (CPU kernel, 1-D)."""
    return _CPU_PATHS and device.type == "cpu"


def _g(values: Tensor, index: Tensor) -> Tensor:
    """`values[index]` for a 1-D index: `index_select`, several times faster than advanced indexing on CPU."""
    return values.index_select(0, index)


def _edge_layout(
    crow: Tensor, start: Tensor, row_bounds: list[int], edge_bounds: list[int], packed: bool = True
) -> tuple[Tensor, Tensor]:
    """Per edge of a hop, as if every row kept all its edges: its row local to its relation, and
    its position `start[row] + (e - crow[row])` in the relation's CSR. Long[e] each.

    Both are running sums of steps placed at row boundaries (an empty row's steps land on the
    same edge and add up). Cumsums replace `repeat_interleave`, a gather and a per-relation
    subtraction (on CPU about half the time when measured alone), and integer sums are exact on
    any device. With `packed` (every relation has fewer than 2^32 edges) one cumsum carries both,
    as row * 2^32 + position: sums are linear and every prefix is such a pair, so the halves never
    mix. Rows `row_bounds[i]:row_bounds[i + 1]` (edges `edge_bounds[i]:edge_bounds[i + 1]`) are
    relation i.
    """
    dev = crow.device
    n_edges = edge_bounds[-1]
    row_unit = 1 << 32 if packed else 1
    # position: +1 per edge, and at each row's first edge a jump from the previous row's offset
    # (start - crow) to its own; row: +1 after each row's last edge, minus the rows of relation
    # i - 1 where relation i begins
    off = start - crow[:-1]
    step = torch.ones(n_edges + 1, dtype=torch.int64, device=dev)
    step[:1].zero_()
    step.index_add_(0, crow[:-1], off)
    if not packed:
        step.index_add_(0, crow[1:], off, alpha=-1)
        row = torch.bincount(crow[1:], minlength=n_edges + 1)
    else:
        step.index_add_(0, crow[1:], off.neg_().add_(row_unit))
        row = step
    if len(row_bounds) > 2:
        sizes = [(row_bounds[i] - row_bounds[i + 1]) * row_unit for i in range(len(row_bounds) - 2)]
        row.index_add_(0, torch.tensor(edge_bounds[1:-1], device=dev), torch.tensor(sizes, device=dev))
    if not packed:
        return torch.cumsum(row[:n_edges], 0), torch.cumsum(step[:n_edges], 0)
    both = torch.cumsum(step[:n_edges], 0)
    return both >> 32, both.bitwise_and_(0xFFFFFFFF)


class _FirstSeen:
    """O(len(x)) `unique_in_order` for node ids of one type, with a slot per node and no restore pass.

    On CPU each call writes every element's position into its value's slot with a plain `scatter_`
    (it writes in index order, so the last write stays: the positions go in backwards, or the head
    last) and reads back only slots it has just written. Elsewhere (CUDA: no write order) it tags
    the elements with fresh int32 values `base + position`, below every tag of earlier calls, so
    stale slots lose an `amin` scatter and never need resetting (the slots are refilled only when
    the tags run out, after ~2^31 elements). Two random passes over the slots per call (scatter,
    gather); one instance must not be shared by concurrent threads.
    """

    def __init__(self, num_nodes: int, device: torch.device) -> None:
        self.slots = torch.full((num_nodes,), _TAG_MAX, dtype=torch.int32, device=device)
        self.base = _TAG_MAX
        self._pos = torch.zeros(0, dtype=torch.int32, device=device)

    def __call__(self, x: Tensor, head: int = -1) -> tuple[Tensor, Tensor]:
        """Unique values of `x` (Long) in order of first appearance, and each element's index into them.

        With `head` >= 0 (`x[:head]` distinct), `x[:head]` get rows `0..head-1` and the other values
        follow in an order fixed by `x` alone (on CPU: of last appearance, one fewer pass).
        """
        n = int(x.shape[0])
        if n == 0:
            return x, torch.zeros(0, dtype=torch.int64, device=x.device)
        if n >= _TAG_MAX // 2:
            return unique_in_order(x)
        if _cpu_path(x.device):
            # scatter_ on CPU writes in index order, so each slot keeps the last position written:
            # written backwards, a value's first position; with a head, the head written last
            # makes its rows its own. Every slot read below was written just now.
            if self._pos.shape[0] < n:
                self._pos = torch.arange(2 * n, dtype=torch.int32)
            tag = self._pos[:n]
            if head < 0:
                self.slots.scatter_(0, x.flip(0), tag.flip(0))
            else:
                self.slots.scatter_(0, x[head:], tag[head:]).scatter_(0, x[:head], tag[:head])
            base = 0
        else:
            if self.base - n < 0:
                self.slots.fill_(_TAG_MAX)
                self.base = _TAG_MAX
            self.base -= n
            base = self.base
            tag = torch.arange(base, base + n, dtype=torch.int32, device=x.device)
            self.slots.scatter_reduce_(0, x, tag, reduce="amin")
        first = _g(self.slots, x)  # each element's first (CPU: representative) position, plus base
        # before[i]: how many representatives precede position i, so an element's row is before[first]
        before = torch.empty(n + 1, dtype=torch.int64, device=x.device)
        before[:1].zero_()
        torch.cumsum(first == tag, 0, out=before[1:])
        local = _g(before, first.sub_(base) if base else first)
        # uniq[local[p]] = x[p]: repeats write the same value again, so any write order gives the
        # same result (CUDA too); on CPU cheaper than masked_select
        uniq = torch.empty(int(before[n]), dtype=x.dtype, device=x.device)
        return uniq.scatter_(0, local, x), local


class NeighborSampler:
    """Fan-out neighbour sampler over every relation of a graph (CPU or CUDA tensors).

    Each hop is one problem over the rows (relation, destination) of all relations together,
    so its op count does not grow with the number of relations: one gather of (start, degree)
    per destination type, one Floyd / Efraimidis-Spirakis pass for every row that needs
    sampling (per-row fan-out), and one ragged layout of every sampled edge.
    """

    def __init__(
        self,
        graph: HeteroGraph | GraphTensors,
        fanouts: list[int] | dict[str, list[int]],
        weighted: bool = False,
        device: torch.device | str = "cpu",
    ) -> None:
        self.gt = graph if isinstance(graph, GraphTensors) else GraphTensors.from_graph(graph, device)
        self.weighted = weighted
        names = list(self.gt.relations)
        if isinstance(fanouts, dict):
            missing = [n for n in names if n not in fanouts]
            unknown = [n for n in fanouts if n not in self.gt.relations]
            if missing or unknown:
                raise ConfigError(f"fanouts: relations without fan-outs {missing}, unknown relations {unknown}")
            lengths = {len(v) for v in fanouts.values()}
            if len(lengths) > 1:
                raise ConfigError(f"fanouts: every relation needs the same number of layers, got {fanouts}")
            self.fanouts = {n: [int(k) for k in fanouts[n]] for n in names}
            self.num_layers = lengths.pop() if lengths else 0
        else:
            self.fanouts = {n: [int(k) for k in fanouts] for n in names}
            self.num_layers = len(fanouts)

        dev = self.gt.device
        rels = self.gt.relations
        # Row order of a hop: relations grouped by destination type. Per type, a node-major table of
        # (start, degree) pairs, one per relation, viewed as complex128 so that a single 1-D gather
        # moves each 16-byte pair (bit-exact: a gather only copies); the m_t pairs of a node share
        # cache lines, and a 2-D row gather of the same table is about twice as slow on CPU.
        groups = [(t, [n for n in names if rels[n].dst_type == t]) for t in self.gt.num_nodes]
        self._dst_groups = [(t, g) for t, g in groups if g]
        self._order = [n for _, g in self._dst_groups for n in g]
        self._pairs = {
            t: torch.stack(
                [torch.stack([rels[n].indptr[:-1], torch.diff(rels[n].indptr)], 1) for n in g], 1
            ).view(torch.complex128).reshape(-1)
            for t, g in self._dst_groups
        }
        self._arity = {t: torch.arange(len(g), device=dev)[:, None] for t, g in self._dst_groups}
        self._by_src = {t: [n for n in names if rels[n].src_type == t] for t in self.gt.num_nodes}
        self._packed_layout = all(rels[n].num_edges < 2**32 for n in names)
        if weighted:
            # one weight array for all relations: the candidates of every row are scored in one pass
            self._weight = torch.cat([rels[n].weight for n in self._order]).float()
            sizes = torch.tensor([rels[n].num_edges for n in self._order], device=dev)
            self._edge_base = torch.cumsum(sizes, 0) - sizes
            self._wsum = {t: torch.stack([rels[n].wsum for n in g], 1).reshape(-1) for t, g in self._dst_groups}
        # per type: local numbering of the nodes a batch reaches (stateful; DataLoader workers each get a copy)
        self._seen = {t: _FirstSeen(n, dev) for t, n in self.gt.num_nodes.items()}

    @property
    def device(self) -> torch.device:
        return self.gt.device

    def sample(self, seeds: dict[str, Tensor], generator: torch.Generator) -> SampledSubgraph:
        """Sample `num_layers` hops around `seeds` (global node indices per type; duplicates allowed)."""
        dev = self.device
        types = list(self.gt.num_nodes)
        for t in seeds:
            if t not in self.gt.num_nodes:
                raise ConfigError(f"seeds of unknown node type '{t}' (known: {types})")
        empty = torch.zeros(0, dtype=torch.int64, device=dev)
        seed_nodes, seed_inverse = {}, {}
        for t, s in seeds.items():
            seed_nodes[t], seed_inverse[t] = self._seen[t](s.to(dev, torch.int64))
        frontier = {t: seed_nodes.get(t, empty) for t in types}
        blocks: list[Block] = []
        for hop in range(self.num_layers):
            block, frontier = self._hop(frontier, hop, generator)
            blocks.append(block)
        blocks.reverse()
        return SampledSubgraph(
            blocks=blocks,
            input_nodes=frontier,
            seed_nodes={t: seed_nodes[t] for t in seeds},
            seed_inverse=seed_inverse,
            features=self.gt.features,
        )

    def _table_index(self, t: str, nodes: Tensor) -> Tensor:
        """Positions of (relation, node) in the type-`t` tables, relation-major: `m_t * len(nodes)` rows."""
        m = int(self._arity[t].shape[0])
        return nodes if m == 1 else (nodes * m + self._arity[t]).view(-1)

    def _hop(self, frontier: dict[str, Tensor], hop: int, gen: torch.Generator) -> tuple[Block, dict[str, Tensor]]:
        """One block: sample the in-edges of `frontier`, then number its source nodes (the frontier first)."""
        dev = self.device
        rels = self.gt.relations
        names = self._order
        n_rows = [int(frontier[rels[n].dst_type].shape[0]) for n in names]
        row_bounds = [0]
        for c in n_rows:
            row_bounds.append(row_bounds[-1] + c)
        n_total = row_bounds[-1]
        ks = [self.fanouts[n][hop] for n in names]

        # start and degree of every row; the rows of relation i are row_bounds[i]:row_bounds[i + 1]
        table_index = [self._table_index(t, frontier[t]) for t, _ in self._dst_groups]
        pairs = [_g(self._pairs[t], i) for (t, _), i in zip(self._dst_groups, table_index) if i.shape[0]]
        if len(pairs) != 1:  # (a graph without relations has no pairs)
            pairs = [torch.cat(pairs) if pairs else torch.zeros(0, dtype=torch.complex128, device=dev)]
        rows = pairs[0].view(torch.int64).view(-1, 2)
        start, deg = rows[:, 0], rows[:, 1]
        # per-row fan-out: a number when all relations share it (the common case), else a tensor
        k_row: int | Tensor = ks[0] if ks[0] >= 0 else _TAKE_ALL
        if len(set(ks)) > 1:
            k_row = torch.repeat_interleave(
                torch.tensor([k if k >= 0 else _TAKE_ALL for k in ks], device=dev),
                torch.tensor(n_rows, device=dev),
                output_size=n_total,
            )
        counts = torch.minimum(deg, k_row) if isinstance(k_row, Tensor) else deg.clamp_max(k_row)
        crow = torch.zeros(n_total + 1, dtype=torch.int64, device=dev)
        torch.cumsum(counts, 0, out=crow[1:])
        if _cpu_path(dev):
            edge_bounds = crow.numpy()[row_bounds].tolist()
        else:
            edge_bounds = _g(crow, torch.tensor(row_bounds, device=dev)).tolist()
        n_edges = edge_bounds[-1]
        # every row first as if it kept all its edges; the sampled rows are overwritten below
        dst_row, pos = _edge_layout(crow, start, row_bounds, edge_bounds, self._packed_layout)
        factor = torch.ones(n_edges, device=dev)
        kmax = max([k for k in ks if k > 0], default=0)
        if kmax > 0:
            if isinstance(k_row, int) and _cpu_path(dev):
                big = torch.from_numpy(np.flatnonzero(deg.numpy() > k_row))
            else:
                need = deg > k_row
                if 0 in ks and isinstance(k_row, Tensor):
                    need &= k_row > 0
                big = torch.nonzero(need).flatten()
            if big.numel():
                if self.weighted:
                    first_row = torch.tensor(row_bounds[:-1], device=dev)
                    self._sample_weighted(table_index, first_row, big, start, deg, k_row, crow, pos, factor, gen)
                else:
                    mixed = len({k for k in ks if k > 0}) > 1
                    self._sample_uniform(big, start, deg, k_row, crow, kmax, mixed, pos, factor, gen)

        # global source ids, then local ones: each type's frontier first, then its new sources
        index = {n: i for i, n in enumerate(names)}
        gsrc = [_g(rels[n].indices, pos[edge_bounds[i] : edge_bounds[i + 1]]) for i, n in enumerate(names)]
        src_nodes: dict[str, Tensor] = {}
        src_global: dict[str, Tensor] = {}
        src_local: dict[str, Tensor] = {}
        for t, front in frontier.items():
            src = self._by_src[t]
            if not src:
                src_nodes[t] = front
                continue
            pieces = [gsrc[index[n]] for n in src]
            x = torch.cat([front, *pieces])  # Long: the int32 pieces are promoted
            src_nodes[t], local = self._seen[t](x, int(front.shape[0]))
            a = int(front.shape[0])
            for n, p in zip(src, pieces):
                b = a + int(p.shape[0])
                src_global[n], src_local[n] = x[a:b], local[a:b]
                a = b

        block_rels = {}
        for name, r in rels.items():
            i = index[name]
            r0, r1, e0, e1 = row_bounds[i], row_bounds[i + 1], edge_bounds[i], edge_bounds[i + 1]
            block_rels[name] = BlockRelation(
                src_type=r.src_type,
                dst_type=r.dst_type,
                crow=crow[r0 : r1 + 1] - e0,
                src=src_local[name],
                factor=factor[e0:e1],
                edge_id=pos[e0:e1],
                dst_row=dst_row[e0:e1],
                dst_nodes=frontier[r.dst_type],
                src_nodes=src_global[name],
                relation=r,
            )
        block = Block(
            n_src={t: int(v.shape[0]) for t, v in src_nodes.items()},
            n_dst={t: int(v.shape[0]) for t, v in frontier.items()},
            relations=block_rels,
        )
        return block, src_nodes

    def _sample_uniform(
        self,
        big: Tensor,
        start: Tensor,
        deg: Tensor,
        k_row: int | Tensor,
        crow: Tensor,
        kmax: int,
        mixed: bool,
        pos: Tensor,
        factor: Tensor,
        gen: torch.Generator,
    ) -> None:
        """Floyd's algorithm for the rows `big` at once: k draws give a uniform k-subset of range(deg).

        Round s draws for every row (a `[kmax, m]` matrix); with per-row fan-outs (`mixed`) only
        rounds s < k of a row are kept, the others never reach the output.
        """
        dev = self.device
        m = int(big.shape[0])
        # 32 random bits per draw (two per 64-bit word: one generator call each), mapped onto
        # range(j + 1) by multiply-shift, floor(bits * (j + 1) / 2^32) <= j: each value's odds are
        # off 1/(j + 1) by less than 2^-32 (degrees below 2^31); a third of the cost of a float64 draw
        words = torch.empty((kmax * m + 1) // 2, dtype=torch.int64, device=dev).random_(-(2**63), None, generator=gen)
        if _cpu_path(dev):
            # numpy: kmax small steps and a dozen [kmax, m] passes, where torch's per-op overhead
            # is most of the time; the torch tensors are viewed, not copied
            bn = big.numpy()
            deg_b = deg.numpy()[bn]
            k_b = k_row.numpy()[bn] if isinstance(k_row, Tensor) else k_row
            steps = np.arange(kmax)[:, None]
            j = (deg_b - k_b) + steps  # [kmax, m]: round s draws from range(j + 1)
            c = words.numpy().view(np.uint32)[: kmax * m].reshape(kmax, m).astype(np.int64)
            c *= j + 1
            c >>= 32
            hit = np.empty((kmax, m), dtype=bool)
            for s in range(1, kmax):
                r = c[s]
                np.copyto(r, j[s], where=np.logical_or.reduce(np.equal(c[:s], r, out=hit[:s]), 0))
            c += start.numpy()[bn]
            o = crow.numpy()[bn] + steps  # where each draw lands among the hop's edges
            sc = np.empty((kmax, m), dtype=np.float32 if factor.dtype == torch.float32 else np.float64)
            sc[:] = deg_b / k_b
            if mixed:
                keep = steps < k_b
                o, c, sc = o[keep], c[keep], sc[keep]
            out = torch.from_numpy(o.reshape(-1))
            chosen, scale = torch.from_numpy(c.reshape(-1)), torch.from_numpy(sc.reshape(-1))
        else:
            deg_b = _g(deg, big)
            k_b = _g(k_row, big) if isinstance(k_row, Tensor) else k_row
            steps = torch.arange(kmax, device=dev)[:, None]
            j = (deg_b - k_b) + steps
            chosen = words.view(torch.int32)[: kmax * m].view(kmax, m).to(torch.int64).bitwise_and_(2**32 - 1)
            chosen.mul_(j + 1).bitwise_right_shift_(32)  # the same draws as the numpy path
            rounds, j_rows = chosen.unbind(0), j.unbind(0)
            for s in range(1, kmax):
                # amax over a uint8 view: several times faster than any(0)
                dup = (chosen[:s] == rounds[s]).view(torch.uint8).amax(0).view(torch.bool)
                torch.where(dup, j_rows[s], rounds[s], out=rounds[s])
            chosen += _g(start, big)
            out = _g(crow, big) + steps
            scale = (deg_b / k_b).to(factor.dtype).expand(kmax, m)
            if mixed:
                keep = steps < k_b
                out, chosen, scale = out[keep], chosen[keep], scale[keep]
            out, chosen, scale = out.reshape(-1), chosen.reshape(-1), scale.reshape(-1)
        # distinct positions: scatter_ is deterministic here, and about twice as fast as index_copy_
        pos.scatter_(0, out, chosen)
        factor.scatter_(0, out, scale.to(factor.dtype))

    def _sample_weighted(
        self,
        table_index: list[Tensor],
        first_row: Tensor,
        big: Tensor,
        start: Tensor,
        deg: Tensor,
        k_row: int | Tensor,
        crow: Tensor,
        pos: Tensor,
        factor: Tensor,
        gen: torch.Generator,
    ) -> None:
        """Efraimidis-Spirakis for the rows `big` at once: the k smallest `-log(u)/w` of a row are a
        successive sample proportional to w. One integer sort of (row, key bits) ranks all rows."""
        dev = self.device
        deg_b, start_b = _g(deg, big), _g(start, big)
        k_b = _g(k_row, big) if isinstance(k_row, Tensor) else torch.full_like(deg_b, k_row)
        cand_excl = torch.cumsum(deg_b, 0) - deg_b
        n_cand = int(deg_b.sum())
        row_c = torch.repeat_interleave(deg_b, output_size=n_cand)  # big row of each candidate
        rel_b = torch.searchsorted(first_row, big, right=True) - 1  # relation of each row
        gstart = start_b + _g(self._edge_base, rel_b) - cand_excl
        w = _g(self._weight, _g(gstart, row_c).add_(torch.arange(n_cand, device=dev)))
        u = torch.rand(n_cand, generator=gen, device=dev)
        # >= 0: w = 0 -> inf, after every positive weight; a negative w would come first (as
        # log(u)/w did before), and must not carry a sign bit into the row bits below
        key = torch.log(u).neg_().div_(w).clamp_min_(0.0)
        # a non-negative float's bits order like the float, so one integer sort orders by (row, key)
        order = torch.sort((row_c << 31) | key.view(torch.int32).long(), stable=True).indices
        n_keep = int(k_b.sum())
        keep_row = torch.repeat_interleave(k_b, output_size=n_keep)
        keep_excl = torch.cumsum(k_b, 0) - k_b
        rank = torch.arange(n_keep, device=dev)
        kept = _g(order, _g(cand_excl - keep_excl, keep_row).add_(rank))  # first k of each row
        out = _g(_g(crow, big) - keep_excl, keep_row).add_(rank)
        wk = _g(w, kept)
        wsum = torch.cat([_g(self._wsum[t], i) for (t, _), i in zip(self._dst_groups, table_index)])
        inv_p = _g(_g(wsum, big) / k_b, keep_row) / wk.clamp_min(torch.finfo(wk.dtype).tiny)
        pos.scatter_(0, out, kept.add_(_g(start_b - cand_excl, keep_row)))
        factor.scatter_(0, out, torch.where(wk > 0, inv_p, 0.0).to(factor.dtype))
