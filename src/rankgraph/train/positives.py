"""Positive pairs: edges drawn from the graph's relations, with a held-out validation slice.

A positive is an edge `(u, v)` of a *positive-source* relation; `u` (the relation's source
type) is the anchor and `v` (its destination type) the target. Only forward relations are
sources by default (the reverse carries the same pair); `train.positive_relations` restricts
the sources further, so a relation can feed message passing without being a positive.

Sampling is two-level: a relation is drawn with probability proportional to
`relation_weight * num_edges` (relation_weight from `train.relation_weights` by name, then by
kind, then `train.kind_weights` by kind), and an edge within it proportionally to its edge
weight (engagement strength, semantic score). All draws use one explicit `torch.Generator`
over a float64 CDF, so a run is reproducible and resumable from the generator state.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from rankgraph.config.train import TrainConfig
from rankgraph.errors import ConfigError
from rankgraph.graph.store import HeteroGraph, Relation, csr_from_coo


def is_reverse_name(name: str) -> bool:
    """Reverse relations are named `<dst>__rev_<rel>__<src>` (see docs/architecture.md)."""
    parts = name.split("__")
    return len(parts) == 3 and parts[1].startswith("rev_")


def positive_relation_names(graph: HeteroGraph, cfg: TrainConfig) -> list[str]:
    """The relations positives are drawn from, in graph order; raises on unknown names."""
    if cfg.positive_relations is not None:
        for name in cfg.positive_relations:
            if name not in graph.relations:
                known = ", ".join(graph.relations)
                raise ConfigError(f"train.positive_relations: unknown relation '{name}' (graph has: {known})")
        names = [n for n in graph.relations if n in set(cfg.positive_relations)]
    elif cfg.include_reverse:
        names = list(graph.relations)
    else:
        names = []
        for name, rel in graph.relations.items():
            if is_reverse_name(name):
                continue
            rev = rel.reverse
            # Two non-"rev_" relations that are each other's reverse: keep one of the pair.
            if rev is not None and rev != name and rev in graph.relations and not is_reverse_name(rev) and rev < name:
                continue
            names.append(name)
    names = [n for n in names if graph.relations[n].num_edges > 0]
    if not names:
        raise ConfigError("train: no relation with edges to draw positives from")
    return names


def relation_weight(rel: Relation, cfg: TrainConfig) -> float:
    """Sampling weight of a relation: by name, then by kind, then the kind default."""
    for key in (rel.name, rel.kind):
        if key in cfg.relation_weights:
            w = cfg.relation_weights[key]
            break
    else:
        w = cfg.kind_weights.get(rel.kind, 1.0)
    if w < 0:
        raise ConfigError(f"train.relation_weights: weight of '{rel.name}' must be >= 0, got {w}")
    return float(w)


def _pair_hash(a: np.ndarray, b: np.ndarray, salt: int) -> np.ndarray:
    """A splitmix64-style hash of unordered pairs -> uniform float in [0, 1)."""
    lo = np.minimum(a, b).astype(np.uint64)
    hi = np.maximum(a, b).astype(np.uint64)
    with np.errstate(over="ignore"):
        x = lo * np.uint64(0x9E3779B97F4A7C15) ^ (hi + np.uint64(salt & 0xFFFFFFFF)) * np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(31)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(29)
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def temporal_cutoff(relations: list[Relation], fraction: float) -> int | None:
    """The edge time from which on the newest `fraction` of the timed edges of `relations` lie.

    Raises when none of them carries edge times (a graph built before edge times were stored).
    Ties at the cutoff all fall on the validation side.
    """
    times = [np.asarray(r.time) for r in relations if r.time is not None and r.num_edges]
    if not times:
        raise ConfigError(
            "train.val_split = temporal needs edge times, and no positive relation of this graph has them "
            "(rebuild the graph with `rankgraph build`, or use train.val_split = random)"
        )
    if fraction <= 0:
        return None
    return int(np.quantile(np.concatenate(times), 1.0 - fraction, method="higher"))


@dataclass
class PositiveBatch:
    """A batch of positive pairs; `rel` indexes `PositiveSampler.relations`. All LongTensor [B]."""

    rel: torch.Tensor
    src: torch.Tensor
    dst: torch.Tensor

    def __len__(self) -> int:
        return int(self.rel.shape[0])

    def shard(self, rank: int, world: int) -> PositiveBatch:
        """Rank `rank`'s slice (rows rank, rank+world, ...) of a batch all ranks drew alike."""
        return PositiveBatch(self.rel[rank::world], self.src[rank::world], self.dst[rank::world])


@dataclass
class PositiveSplit:
    """Flat arrays of edges (np.int64 / float64) of the positive-source relations."""

    rel: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray
    # int64 first event time of timed edges, NO_TIME for untimed ones; only kept when
    # train.recency_half_life needs it (8 bytes per edge: 0.8 GB at 100M edges)
    time: np.ndarray | None = None


NO_TIME = np.iinfo(np.int64).min


def recency_decay(time: np.ndarray, half_life: float) -> np.ndarray:
    """`0.5 ** (age / (half_life * span))` per edge (1 for untimed ones), age and span taken
    over the timed edges; a graph whose edges carry no time raises, as decay would be a no-op."""
    timed = time != NO_TIME
    if not timed.any():
        raise ConfigError(
            "train.recency_half_life needs edge times, and no positive relation of this graph has them "
            "(rebuild the graph with `rankgraph build`, or leave recency_half_life unset)"
        )
    newest, oldest = int(time[timed].max()), int(time[timed].min())
    span = float(max(newest - oldest, 1))
    decay = np.ones(time.shape[0], dtype=np.float64)
    decay[timed] = np.exp2(-(newest - time[timed]).astype(np.float64) / (half_life * span))
    return decay


class PositiveSampler:
    """Draws positive pairs from the training edges; keeps a deterministic validation slice.

    The split is a hash of the (unordered) node pair and the relation's *pair id* (a relation
    and its reverse share one), so `(u, v)` and its mirror in a symmetric relation always
    fall on the same side, and the split does not depend on the seed's RNG stream. With
    `train.val_split: temporal`, edges that carry times (engagement relations) are held out
    when they are among the newest `val_fraction` of all timed positive edges instead.
    """

    def __init__(self, graph: HeteroGraph, cfg: TrainConfig) -> None:
        self.names = positive_relation_names(graph, cfg)
        self.relations = [graph.relations[n] for n in self.names]
        self.src_types = [r.src_type for r in self.relations]
        self.dst_types = [r.dst_type for r in self.relations]
        rels, srcs, dsts, ws, times, val_mask = [], [], [], [], [], []
        keep_time = cfg.recency_half_life is not None
        split_seed = cfg.seed if cfg.split_seed is None else cfg.split_seed
        newest = temporal_cutoff(self.relations, cfg.val_fraction) if cfg.val_split == "temporal" else None
        for i, rel in enumerate(self.relations):
            src = np.asarray(rel.indices, dtype=np.int64)
            dst = rel.dst_index()
            w = np.asarray(rel.weight, dtype=np.float64)
            pair_id = min(rel.name, rel.reverse or rel.name)
            salt = int.from_bytes(pair_id.encode()[:8].ljust(8, b"\0"), "little") ^ split_seed
            if newest is not None and rel.time is not None:
                held = np.asarray(rel.time) >= newest
            else:
                held = _pair_hash(src, dst, salt) < cfg.val_fraction
            rels.append(np.full(src.shape[0], i, dtype=np.int64))
            srcs.append(src)
            dsts.append(dst)
            ws.append(np.clip(w, 0.0, None))
            if keep_time:
                untimed = rel.time is None
                times.append(np.full(src.shape[0], NO_TIME, np.int64) if untimed else np.asarray(rel.time, np.int64))
            val_mask.append(held)
        rel_a, src_a, dst_a, w_a = (np.concatenate(x) for x in (rels, srcs, dsts, ws))
        t_a = np.concatenate(times) if keep_time else None
        held_a = np.concatenate(val_mask)
        self.train, self.val = (
            PositiveSplit(rel_a[side], src_a[side], dst_a[side], w_a[side], None if t_a is None else t_a[side])
            for side in (~held_a, held_a)
        )
        if self.train.rel.size == 0:
            raise ConfigError(f"train.val_fraction = {cfg.val_fraction} leaves no training edge to draw positives from")
        self.prob = self._edge_probabilities(cfg)
        cdf = np.cumsum(self.prob)
        cdf /= cdf[-1]
        self._cdf = torch.from_numpy(cdf)
        self._rel = torch.from_numpy(self.train.rel)
        self._src = torch.from_numpy(self.train.src)
        self._dst = torch.from_numpy(self.train.dst)

    def _edge_probabilities(self, cfg: TrainConfig) -> np.ndarray:
        """P(edge) = P(relation) * P(edge | relation), vectorised over all training edges."""
        t = self.train
        n_rel = len(self.relations)
        counts = np.bincount(t.rel, minlength=n_rel).astype(np.float64)
        rel_w = np.array([relation_weight(r, cfg) for r in self.relations]) * counts
        if rel_w.sum() <= 0:
            raise ConfigError("train.relation_weights: every positive relation has weight 0")
        w = t.weight.copy()
        if cfg.recency_half_life is not None and t.time is not None:
            w *= recency_decay(t.time, cfg.recency_half_life)
        totals = np.bincount(t.rel, weights=w, minlength=n_rel)
        # A relation whose weights are all zero falls back to uniform within it.
        flat = totals[t.rel] <= 0
        w[flat] = 1.0
        totals = np.bincount(t.rel, weights=w, minlength=n_rel)
        p = (rel_w / rel_w.sum())[t.rel] * w / totals[t.rel]
        return p

    @property
    def num_train(self) -> int:
        return int(self.train.rel.shape[0])

    def sample(self, batch_size: int, generator: torch.Generator) -> PositiveBatch:
        """Draw `batch_size` training edges (with replacement) by their probabilities."""
        u = torch.rand(batch_size, generator=generator, dtype=torch.float64)
        idx = torch.searchsorted(self._cdf, u, right=True).clamp_(max=self._cdf.shape[0] - 1)
        return PositiveBatch(self._rel[idx], self._src[idx], self._dst[idx])

    def target_frequency(self, node_type: str, num_nodes: int, anchor_side: bool = False) -> np.ndarray:
        """P(node appears as the target (or anchor) of one drawn positive), for logQ correction."""
        types = self.src_types if anchor_side else self.dst_types
        ids = self.train.src if anchor_side else self.train.dst
        sel = np.isin(self.train.rel, [i for i, t in enumerate(types) if t == node_type])
        return np.bincount(ids[sel], weights=self.prob[sel], minlength=num_nodes)


def holdout_graph(graph: HeteroGraph, sampler: PositiveSampler) -> HeteroGraph:
    """The graph without the validation edges (and their reverses), for message passing.

    Validation targets must not be reachable in one hop from their anchors, or the metric
    would reward memorising the edge. Untouched relations stay memory-mapped.
    """
    val = sampler.val
    if val.rel.size == 0:
        return graph
    drop: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for i, rel in enumerate(sampler.relations):
        sel = val.rel == i
        if not sel.any():
            continue
        s, d = val.src[sel], val.dst[sel]
        drop.setdefault(rel.name, []).append((s, d))
        if rel.reverse is not None and rel.reverse in graph.relations:
            drop.setdefault(rel.reverse, []).append((d, s))
    relations = dict(graph.relations)
    for name, pairs in drop.items():
        rel = graph.relations[name]
        n_src = graph.num_nodes[rel.src_type]
        s = np.concatenate([p[0] for p in pairs])
        d = np.concatenate([p[1] for p in pairs])
        gone = np.unique(d * n_src + s)
        src = np.asarray(rel.indices, dtype=np.int64)
        dst = rel.dst_index()
        keys = dst * n_src + src
        keep = ~np.isin(keys, gone)
        indptr, indices, weight = csr_from_coo(
            src[keep], dst[keep], np.asarray(rel.weight)[keep], rel.num_dst, index_dtype=rel.indices.dtype
        )
        # edges stay in destination order, so the kept times line up with the new CSR
        time = None if rel.time is None else np.asarray(rel.time)[keep]
        relations[name] = replace(rel, indptr=indptr, indices=indices, weight=weight, time=time)
    return replace(graph, relations=relations)
