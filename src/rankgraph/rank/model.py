"""The sequence ranker: a small causal transformer over history tokens, target-aware.

Sequence layout (length ``1 + P + L + S + 1``)::

    [BOS] [prefix tokens P] [history h_1 .. h_L, right-aligned, padding first] [suffix S] [candidate]

A history token is item id + event type + domain + time-gap bucket embeddings (plus what
the fusion adds); the candidate token is item id + domain + the candidate marker event.
Attention is causal and padding keys are masked; BOS is never masked, so no query row is
empty. The candidate's final state, plus `HistoryMatch` features (how the candidate
matches the history, from the ranker's own ids) and what `Fusion.readout` adds, feeds two
heads (click and conversion logits) through an MLP over [final state, candidate token,
their product].
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rankgraph.config.rank import RankModelConfig
from rankgraph.rank.examples import CANDIDATE_EVENT, PAD, RankVocab
from rankgraph.rank.fusion import GraphInputs, attention_pool, make_fusion, masked_max

Batch = dict[str, Tensor]
"""hist_item/hist_event/hist_domain/hist_gap [B, L] long, user/cand_item/cand_domain [B] long."""


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Parameter initialisation from `seed` without touching the caller's global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


class HistoryMatch(nn.Module):
    """Target-aware match features from the ranker's own inputs (no graph): the DIN-style
    signal a production ranker has without any graph knowledge.

    Per candidate: the fraction and any-occurrence of the candidate item in the history, and
    (with id embeddings) the max and a softmax-attention pool of the cosine between the
    candidate's id embedding and the history items'. Mapped to the model width and added
    to the candidate's final state.
    """

    n_features = 4

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.tau = nn.Parameter(torch.tensor(5.0))
        self.proj = nn.Sequential(nn.Linear(self.n_features, dim), nn.GELU(), nn.Linear(dim, dim))

    def forward(self, hist: Tensor, cand: Tensor, item: nn.Embedding | None) -> Tensor:
        """[B, D] for history item indices [B, L] and candidate items [B]."""
        return self.proj(self.features(hist, cand, item))

    def features(self, hist: Tensor, cand: Tensor, item: nn.Embedding | None) -> Tensor:
        """[B, 4]: fraction of history = candidate, candidate seen, max and attention-pooled id cosine."""
        known = hist != PAD
        kf = known.float()
        same = (hist == cand[:, None]) & known
        frac = same.float().sum(1) / kf.sum(1).clamp_min(1.0)
        seen = same.any(1).float()
        if item is not None:
            sims = torch.einsum("bld,bd->bl", F.normalize(item(hist), dim=-1), F.normalize(item(cand), dim=-1))
            s_max = masked_max(sims, known)
            s_attn = attention_pool(self.tau * sims, sims, known)
        else:
            s_max = s_attn = torch.zeros_like(frac)
        return torch.stack([frac, seen, s_max, s_attn], dim=1)


class SequenceRanker(nn.Module):
    """Causal transformer ranker with two task heads; `fusion` decides how graph inputs enter."""

    def __init__(self, cfg: RankModelConfig, vocab: RankVocab, max_history: int, gap_buckets: int,
                 graph_dim: int, seed: int = 0) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.dim
        with seeded(seed):
            self.item = nn.Embedding(vocab.n_items, d, padding_idx=PAD) if cfg.id_embeddings else None
            self.event = nn.Embedding(vocab.n_events, d, padding_idx=PAD)
            self.domain = nn.Embedding(vocab.n_domains, d, padding_idx=PAD)
            self.gap = nn.Embedding(gap_buckets, d, padding_idx=PAD)
            self.bos = nn.Parameter(torch.randn(d) * 0.02)
            self.fusion = make_fusion(cfg.fusion, d, graph_dim, cfg.heads, cfg.dropout, vocab.n_events, gap_buckets)
            self.seq_len = 2 + self.fusion.extra_prefix + max_history + self.fusion.extra_suffix
            self.pos = nn.Embedding(self.seq_len, d)
            layer = nn.TransformerEncoderLayer(d, cfg.heads, d * cfg.ff_mult, cfg.dropout, activation="gelu",
                                               batch_first=True, norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(d)
            # target-aware head: the candidate's final state, its input token and their product
            self.mlp = nn.Sequential(nn.Linear(3 * d, d), nn.GELU(), nn.LayerNorm(d))
            self.match = HistoryMatch(d) if cfg.history_match else None
            self.click_head = nn.Linear(d, 1)
            self.conv_head = nn.Linear(d, 1)
        self.register_buffer("causal", torch.triu(torch.ones(self.seq_len, self.seq_len, dtype=torch.bool), 1),
                             persistent=False)

    def _item(self, idx: Tensor) -> Tensor | float:
        return self.item(idx) if self.item is not None else 0.0

    def forward(self, batch: Batch, graph: GraphInputs | None = None) -> tuple[Tensor, Tensor]:
        """(click logit [B], conversion logit [B])."""
        hi = batch["hist_item"]
        b = hi.shape[0]
        tok = self._item(hi) + self.event(batch["hist_event"]) + self.domain(batch["hist_domain"]) + self.gap(batch["hist_gap"])
        tok = self.fusion.item_tokens(tok, hi, graph)
        cand_item = batch["cand_item"]
        marker = torch.full_like(cand_item, CANDIDATE_EVENT)
        cand = self._item(cand_item) + self.domain(batch["cand_domain"]) + self.event(marker)
        cand = self.fusion.item_tokens(cand.unsqueeze(1), cand_item.unsqueeze(1), graph)
        parts = [self.bos.expand(b, 1, -1)]
        pad_parts = [torch.zeros(b, 1, dtype=torch.bool, device=hi.device)]
        pre = self.fusion.prefix(batch["user"], graph)
        if pre is not None:
            parts.append(pre)
            pad_parts.append(torch.zeros(b, pre.shape[1], dtype=torch.bool, device=hi.device))
        parts.append(tok)
        pad_parts.append(hi == PAD)
        suf = self.fusion.suffix(cand_item, graph)
        if suf is not None:
            parts.append(suf)
            pad_parts.append(torch.zeros(b, suf.shape[1], dtype=torch.bool, device=hi.device))
        parts.append(cand)
        pad_parts.append(torch.zeros(b, 1, dtype=torch.bool, device=hi.device))
        x = torch.cat(parts, dim=1)
        x = x + self.pos.weight[: x.shape[1]]
        pad = torch.cat(pad_parts, dim=1)
        # One boolean mask (True = blocked): causal, padding keys; BOS (column 0) always open.
        mask = self.causal.unsqueeze(0) | pad.unsqueeze(1)
        mask = mask.repeat_interleave(self.cfg.heads, dim=0)
        h = self.encoder(x, mask=mask)
        out = self.norm(h[:, -1])
        if self.match is not None:
            out = out + self.match(batch["hist_item"], batch["cand_item"], self.item)
        out = self.fusion.readout(out, batch, graph)
        c = cand.squeeze(1)
        z = self.mlp(torch.cat([out, c, out * c], dim=-1)) + out
        return self.click_head(z).squeeze(-1), self.conv_head(z).squeeze(-1)
