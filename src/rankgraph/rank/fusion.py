"""Frozen RankGraph embeddings as ranker inputs, and the fusion variants that read them.

`GraphInputs` aligns an `EmbeddingSet` with the ranker's vocabulary (item index i ->
the item's graph embedding, zero where the graph never saw it) and precomputes, per user,
the `neighbours` nearest items of the user's embedding (the `cross_attention` context) with
`rankgraph.embed.index.EmbeddingIndex`. The fusion modules are registered by name in
`FUSIONS`, so a config string picks one and each is tested alone:

- `none`: ignores graph inputs entirely;
- `add`: the item's projected graph embedding is added to every item token and to the candidate;
- `token`: the user's projected graph embedding is prepended as a context token and the
  candidate's graph embedding is a token just before the candidate;
- `cross_attention`: the candidate's final state attends to the user's top-N neighbour
  items (plus the user's own embedding) in the graph space; the result is added residually;
- `similarity`: target-aware match features computed in the graph space (the candidate's
  similarity to the user and to each history item, pooled by max, mean, recency and a
  learned event/recency-weighted attention) plus the projected user x candidate product,
  added to the candidate's final state. The graph embeddings were trained on far more
  engagements than the ranker sees, so reading their similarities directly (instead of
  hoping the transformer learns to compare projected vectors) transfers what the graph
  knows, including to domains where the user has no history.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch
from torch import Tensor, nn

from rankgraph.config.evaluate import IndexConfig
from rankgraph.embed.artifact import EmbeddingSet
from rankgraph.errors import ArtifactError
from rankgraph.rank.examples import ITEM_OFFSET, PAD, RankVocab


@dataclass
class GraphInputs:
    """Graph embeddings in the ranker's index spaces (tensors, frozen).

    item_vecs [n_items, E] (rows PAD/OOV and unseen items zero), user_vecs [n_users, E]
    (row 0 zero), user_neighbours [n_users, N] item indices (PAD where missing).
    """

    item_vecs: Tensor
    user_vecs: Tensor
    user_neighbours: Tensor

    @property
    def dim(self) -> int:
        return int(self.item_vecs.shape[1])

    def to(self, device: torch.device | str) -> GraphInputs:
        return GraphInputs(self.item_vecs.to(device), self.user_vecs.to(device), self.user_neighbours.to(device))


def _align(ids: pa.Array, emb_ids: pa.Array, vectors: np.ndarray, out: np.ndarray, rows: np.ndarray) -> None:
    """out[rows[j]] = vectors[position of ids[j] in emb_ids] where found (vectorised join)."""
    if len(ids) == 0:
        return
    if emb_ids.type != ids.type:
        try:
            emb_ids = emb_ids.cast(ids.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise ArtifactError(f"embedding ids of type {emb_ids.type} do not match event ids of type {ids.type}") from exc
    pos = pc.index_in(ids, value_set=emb_ids).to_numpy(zero_copy_only=False)
    found = ~np.isnan(pos.astype(np.float64))
    out[rows[found]] = np.asarray(vectors)[pos[found].astype(np.int64)]


def graph_inputs(emb: EmbeddingSet, vocab: RankVocab, neighbours: int, index_cfg: IndexConfig | None = None) -> GraphInputs:
    """Align `emb` with `vocab` and find each user's `neighbours` nearest vocabulary items."""
    dims = {node.dim for node in emb.types.values()}
    if len(dims) != 1:
        raise ArtifactError(f"embedding dims differ across node types: {sorted(dims)}")
    dim = dims.pop()
    items = np.zeros((vocab.n_items, dim), np.float32)
    types = np.asarray(vocab.item_type.to_pylist(), dtype=object)
    for t in np.unique(types) if types.size else []:
        if t not in emb.types:
            continue
        sel = np.flatnonzero(types == t)
        _align(vocab.item_id.take(pa.array(sel)), emb.types[t].ids, emb.types[t].vectors, items, sel + ITEM_OFFSET)
    users = np.zeros((vocab.n_users, dim), np.float32)
    if emb.user_type not in emb.types:
        raise ArtifactError(f"embeddings have no user type '{emb.user_type}'")
    _align(vocab.user_id, emb.types[emb.user_type].ids, emb.types[emb.user_type].vectors, users,
           np.arange(1, vocab.n_users, dtype=np.int64))
    neigh = np.zeros((vocab.n_users, neighbours), np.int64)
    known_items = np.flatnonzero(np.abs(items).sum(axis=1) > 0)
    known_users = np.flatnonzero(np.abs(users).sum(axis=1) > 0)
    if known_items.size and known_users.size:
        from rankgraph.embed.index import EmbeddingIndex

        index = EmbeddingIndex(items[known_items], index_cfg or IndexConfig(kind="exact"))
        _, rows = index.search(users[known_users], neighbours)
        neigh[known_users] = np.where(rows >= 0, known_items[np.maximum(rows, 0)], PAD)
    return GraphInputs(torch.from_numpy(items), torch.from_numpy(users), torch.from_numpy(neigh))


def masked_max(values: Tensor, mask: Tensor) -> Tensor:
    """Row-wise max of `values` [B, L] over the True entries of `mask`; 0 for a row without any."""
    neg = torch.finfo(values.dtype).min
    return torch.where(mask.any(1), torch.where(mask, values, neg).amax(1), 0.0)


def attention_pool(logits: Tensor, values: Tensor, mask: Tensor) -> Tensor:
    """Row-wise `softmax(logits) . values` over the True entries of `mask`; 0 for a row without any."""
    neg = torch.finfo(logits.dtype).min
    return (torch.softmax(torch.where(mask, logits, neg), dim=1) * mask.float() * values).sum(1)


class Fusion(nn.Module):
    """Base: how graph inputs enter the ranker. Subclasses override the hooks they need.

    Graph vectors are unit-norm (coordinates ~ 1/sqrt(E)); `scale` = sqrt(E) brings them to
    unit-variance coordinates like the ranker's own embeddings before projection, otherwise
    an added graph vector is some 10x smaller than the id embedding it joins and is ignored.
    """

    extra_prefix = 0  # tokens put before the history
    extra_suffix = 0  # tokens put between the history and the candidate

    def __init__(self, dim: int, graph_dim: int, heads: int, dropout: float, n_events: int, n_gaps: int) -> None:
        super().__init__()
        self.scale = float(graph_dim) ** 0.5

    def item_tokens(self, tok: Tensor, items: Tensor, graph: GraphInputs | None) -> Tensor:
        """tok [B, L, D] for item indices [B, L]; returned with graph information added or not."""
        return tok

    def prefix(self, users: Tensor, graph: GraphInputs | None) -> Tensor | None:
        """[B, extra_prefix, D] tokens before the history, or None."""
        return None

    def suffix(self, cand: Tensor, graph: GraphInputs | None) -> Tensor | None:
        """[B, extra_suffix, D] tokens before the candidate token, or None."""
        return None

    def readout(self, h: Tensor, batch: dict[str, Tensor], graph: GraphInputs | None) -> Tensor:
        """The candidate's final state [B, D], possibly enriched with graph context.

        `batch` holds the example's indices (`user`, `hist_*` [B, L], `cand_item`, `cand_domain`).
        """
        return h


class NoFusion(Fusion):
    """`none`: the sequence model alone; graph inputs are never read."""


def _need(graph: GraphInputs | None) -> GraphInputs:
    if graph is None:
        raise ValueError("this fusion variant needs graph inputs (GraphInputs), got None")
    return graph


class AddFusion(Fusion):
    """`add`: token += W g_item for history items and the candidate."""

    def __init__(self, dim: int, graph_dim: int, heads: int, dropout: float, n_events: int, n_gaps: int) -> None:
        super().__init__(dim, graph_dim, heads, dropout, n_events, n_gaps)
        self.proj = nn.Linear(graph_dim, dim, bias=False)

    def item_tokens(self, tok: Tensor, items: Tensor, graph: GraphInputs | None) -> Tensor:
        return tok + self.proj(_need(graph).item_vecs[items] * self.scale)


class TokenFusion(Fusion):
    """`token`: [user graph token] + history + [candidate graph token] + candidate."""

    extra_prefix = 1
    extra_suffix = 1

    def __init__(self, dim: int, graph_dim: int, heads: int, dropout: float, n_events: int, n_gaps: int) -> None:
        super().__init__(dim, graph_dim, heads, dropout, n_events, n_gaps)
        self.user_proj = nn.Linear(graph_dim, dim)
        self.item_proj = nn.Linear(graph_dim, dim)

    def prefix(self, users: Tensor, graph: GraphInputs | None) -> Tensor:
        return self.user_proj(_need(graph).user_vecs[users] * self.scale).unsqueeze(1)

    def suffix(self, cand: Tensor, graph: GraphInputs | None) -> Tensor:
        return self.item_proj(_need(graph).item_vecs[cand] * self.scale).unsqueeze(1)


class CrossAttentionFusion(Fusion):
    """`cross_attention`: h += Attn(h, [user; top-N neighbour items of the user]) in graph space."""

    def __init__(self, dim: int, graph_dim: int, heads: int, dropout: float, n_events: int, n_gaps: int) -> None:
        super().__init__(dim, graph_dim, heads, dropout, n_events, n_gaps)
        self.kv = nn.Linear(graph_dim, dim)
        self.kind = nn.Embedding(2, dim)  # 0 = the user, 1 = a neighbour item
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm = nn.LayerNorm(dim)

    def readout(self, h: Tensor, batch: dict[str, Tensor], graph: GraphInputs | None) -> Tensor:
        g = _need(graph)
        users = batch["user"]
        neigh = g.user_neighbours[users]  # [B, N]
        ctx = torch.cat([g.user_vecs[users].unsqueeze(1), g.item_vecs[neigh]], dim=1)  # [B, 1+N, E]
        kinds = torch.ones(ctx.shape[:2], dtype=torch.long, device=h.device)
        kinds[:, 0] = 0
        kv = self.kv(ctx * self.scale) + self.kind(kinds)
        pad = torch.cat([torch.zeros_like(neigh[:, :1], dtype=torch.bool), neigh == PAD], dim=1)
        out, _ = self.attn(self.norm(h).unsqueeze(1), kv, kv, key_padding_mask=pad, need_weights=False)
        return h + out.squeeze(1)


class SimilarityFusion(Fusion):
    """`similarity`: h += MLP(match features of the candidate in graph space) + W (g_user * g_cand).

    Features (cosines of unit graph vectors; 0 where a vector is unknown): user-candidate;
    over the known history items: max, mean, mean of the `recent` last ones, max over the
    history items of the candidate's domain, and an attention pool softmax(tau s_i +
    b(event_i) + c(gap_i)) . s with learned tau, b, c; plus the fraction of known history
    items and whether the candidate and the user have a graph vector.
    """

    recent = 5
    n_features = 9

    def __init__(self, dim: int, graph_dim: int, heads: int, dropout: float, n_events: int, n_gaps: int) -> None:
        super().__init__(dim, graph_dim, heads, dropout, n_events, n_gaps)
        self.tau = nn.Parameter(torch.tensor(5.0))
        self.event_bias = nn.Embedding(n_events, 1)
        self.gap_bias = nn.Embedding(n_gaps, 1)
        nn.init.zeros_(self.event_bias.weight)
        nn.init.zeros_(self.gap_bias.weight)
        self.features = nn.Sequential(nn.Linear(self.n_features, dim), nn.GELU(), nn.Linear(dim, dim))
        self.product = nn.Linear(graph_dim, dim, bias=False)

    def match_features(self, batch: dict[str, Tensor], graph: GraphInputs) -> Tensor:
        """[B, n_features] similarity features of each candidate (no parameters but the attention pool's)."""
        hist = batch["hist_item"]
        cand = graph.item_vecs[batch["cand_item"]]  # [B, E]
        user = graph.user_vecs[batch["user"]]
        hv = graph.item_vecs[hist]  # [B, L, E]
        sims = torch.einsum("ble,be->bl", hv, cand)
        known = hv.abs().sum(-1) > 0
        kf = known.float()
        s_max = masked_max(sims, known)
        s_mean = (sims * kf).sum(1) / kf.sum(1).clamp_min(1.0)
        last = kf[:, -self.recent:]
        s_recent = (sims[:, -self.recent:] * last).sum(1) / last.sum(1).clamp_min(1.0)
        s_same = masked_max(sims, known & (batch["hist_domain"] == batch["cand_domain"][:, None]))
        bias = self.event_bias(batch["hist_event"]).squeeze(-1) + self.gap_bias(batch["hist_gap"]).squeeze(-1)
        s_attn = attention_pool(self.tau * sims + bias, sims, known)
        has_cand = (cand.abs().sum(-1) > 0).float()
        has_user = (user.abs().sum(-1) > 0).float()
        s_user = (user * cand).sum(-1)
        return torch.stack([s_user, s_max, s_mean, s_recent, s_same, s_attn, kf.mean(1), has_cand, has_user], dim=1)

    def readout(self, h: Tensor, batch: dict[str, Tensor], graph: GraphInputs | None) -> Tensor:
        g = _need(graph)
        prod = g.user_vecs[batch["user"]] * g.item_vecs[batch["cand_item"]] * self.scale
        return h + self.features(self.match_features(batch, g)) + self.product(prod)


FUSIONS: dict[str, type[Fusion]] = {
    "none": NoFusion,
    "add": AddFusion,
    "token": TokenFusion,
    "cross_attention": CrossAttentionFusion,
    "similarity": SimilarityFusion,
}


def make_fusion(name: str, dim: int, graph_dim: int, heads: int, dropout: float, n_events: int, n_gaps: int) -> Fusion:
    """The fusion module registered under `name` (`n_events`, `n_gaps`: the ranker's vocabulary sizes)."""
    if name not in FUSIONS:
        raise ValueError(f"unknown fusion {name!r}; expected one of {sorted(FUSIONS)}")
    return FUSIONS[name](dim, graph_dim, heads, dropout, n_events, n_gaps)
