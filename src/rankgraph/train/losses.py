"""Contrastive losses on cosine similarities of L2-normalised, multi-head embeddings.

The losses take *similarities*, not embeddings: the negative samplers
(`rankgraph.train.negatives`) turn anchors, positives and candidates into

* `pos`  Float[Tensor, "H B"]      cosine(anchor_b, positive_b) per head,
* `neg`  Float[Tensor, "H B K"]    cosine(anchor_b, candidate_k) per head,
* `mask` Bool[Tensor, "B K"] or Bool[Tensor, "H B K"]: True where candidate k is a valid
  negative for anchor b (masked: wrong node type, the positive itself, a known neighbour).

Every loss is computed per head and averaged over heads; the served embedding is the
concatenation of heads, so each head must separate positives from negatives on its own.
Anchors without a single valid negative contribute nothing (they are left out of the mean).
"""

from __future__ import annotations

import torch
from torch import Tensor

from rankgraph.errors import ConfigError

_NEG_INF = float("-inf")


def _check(pos: Tensor, neg: Tensor, mask: Tensor) -> Tensor:
    """Validate shapes and return the mask broadcast to [H, B, K]."""
    if pos.dim() != 2:
        raise ValueError(f"pos must be [H, B], got shape {tuple(pos.shape)}")
    if neg.dim() != 3 or neg.shape[:2] != pos.shape:
        raise ValueError(f"neg must be [H, B, K] with [H, B] = {tuple(pos.shape)}, got {tuple(neg.shape)}")
    if mask.dtype != torch.bool:
        raise ValueError(f"mask must be bool, got {mask.dtype}")
    if mask.dim() == 2:
        if mask.shape != neg.shape[1:]:
            raise ValueError(f"mask [B, K] must be {tuple(neg.shape[1:])}, got {tuple(mask.shape)}")
        mask = mask.unsqueeze(0)
    elif mask.shape != neg.shape:
        raise ValueError(f"mask [H, B, K] must be {tuple(neg.shape)}, got {tuple(mask.shape)}")
    return mask.expand_as(neg)


def info_nce(
    pos: Tensor,
    neg: Tensor,
    mask: Tensor,
    temperature: float,
    log_q_pos: Tensor | None = None,
    log_q_neg: Tensor | None = None,
) -> Tensor:
    r"""InfoNCE (sampled softmax) over the positive and every valid negative, mean over heads.

    For head h and anchor b with positive similarity s^+ and valid negatives s_k:

        l_{h,b} = -log( exp(s^+/tau - lq^+) / (exp(s^+/tau - lq^+) + sum_k exp(s_k/tau - lq_k)) )

    and L = mean over heads of the mean over anchors with >= 1 valid negative.
    `lq` is the optional logQ correction (Yi et al., RecSys 2019): the log of the probability
    with which a candidate enters the candidate set, subtracted from its logit so that
    popular items, which appear as in-batch negatives more often, are not over-penalised.
    Shapes: `log_q_pos` [B] or [H, B]; `log_q_neg` [K], [B, K] or [H, B, K].
    Anchors whose negatives are all masked get l = 0 and are left out of the mean.

    Worked example (one head, tau = 1, no correction): s^+ = 0.5, negatives 0.1 and 0.3 ->
    l = -log(e^0.5 / (e^0.5 + e^0.1 + e^0.3)) = 0.9119.
    """
    if temperature <= 0:
        raise ConfigError(f"train.temperature must be > 0, got {temperature}")
    m = _check(pos, neg, mask)
    pos_logit = pos / temperature
    neg_logit = neg / temperature
    if log_q_pos is not None:
        pos_logit = pos_logit - log_q_pos
    if log_q_neg is not None:
        neg_logit = neg_logit - log_q_neg
    valid = m.any(dim=-1)  # [H, B]
    # Rows without a valid negative get a finite dummy (all -inf would give NaN gradients);
    # they are dropped from the mean below.
    neg_logit = neg_logit.masked_fill(~m & valid.unsqueeze(-1), _NEG_INF)
    # log(e^pos + sum_k e^neg_k) without concatenating the positive onto the [H, B, K] logits.
    per_anchor = torch.logaddexp(pos_logit, torch.logsumexp(neg_logit, dim=-1)) - pos_logit  # [H, B]
    return _masked_head_mean(per_anchor, valid)


def triplet(
    pos: Tensor,
    neg: Tensor,
    mask: Tensor,
    margin: float,
    mode: str = "hardest",
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Triplet loss with margin against one negative per anchor, mean over heads.

        l_{h,b} = max(0, margin - s^+_{h,b} + s^-_{h,b})

    where s^- is the most similar valid negative (`mode="hardest"`) or one valid negative
    drawn uniformly with `generator` (`mode="sampled"`, the same draw for every head).
    Worked example: margin 0.2, s^+ = 0.5, negatives 0.1 and 0.4 -> hardest 0.4 ->
    l = max(0, 0.2 - 0.5 + 0.4) = 0.1.
    """
    m = _check(pos, neg, mask)
    if neg.shape[-1] == 0:
        return (pos * 0.0).sum()  # no candidate at all: zero, still part of the graph
    if mode == "hardest":
        chosen = neg.masked_fill(~m, _NEG_INF).max(dim=-1).values  # [H, B]
    elif mode == "sampled":
        # One uniform draw per anchor among its valid candidates (shared over heads).
        any_mask = m[0]
        u = torch.rand(any_mask.shape, generator=generator, device="cpu").to(neg.device)
        score = torch.where(any_mask, u, torch.full_like(u, -1.0))
        idx = score.argmax(dim=-1)  # [B]
        chosen = neg.gather(-1, idx.view(1, -1, 1).expand(neg.shape[0], -1, 1)).squeeze(-1)
    else:
        raise ConfigError(f"train.triplet_negative must be 'hardest' or 'sampled', got {mode!r}")
    valid = m.any(dim=-1)
    per_anchor = torch.clamp(margin - pos + torch.where(valid, chosen, torch.zeros_like(chosen)), min=0.0)
    return _masked_head_mean(per_anchor, valid)


def combined_loss(
    pos: Tensor,
    neg: Tensor,
    mask: Tensor,
    *,
    temperature: float,
    margin: float,
    w_nce: float,
    w_triplet: float,
    triplet_mode: str = "hardest",
    generator: torch.Generator | None = None,
    log_q_pos: Tensor | None = None,
    log_q_neg: Tensor | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """L = w_nce * InfoNCE + w_triplet * triplet; returns the loss and its parts as floats."""
    parts: dict[str, float] = {}
    total = pos.new_zeros(())
    if w_nce:
        nce = info_nce(pos, neg, mask, temperature, log_q_pos, log_q_neg)
        total = total + w_nce * nce
        parts["nce"] = float(nce.detach())
    if w_triplet:
        tri = triplet(pos, neg, mask, margin, triplet_mode, generator)
        total = total + w_triplet * tri
        parts["triplet"] = float(tri.detach())
    return total, parts


def _masked_head_mean(per_anchor: Tensor, valid: Tensor) -> Tensor:
    """Mean over valid anchors per head, then over heads (0 with gradient when none is valid)."""
    per_anchor = torch.where(valid, per_anchor, torch.zeros_like(per_anchor))
    counts = valid.sum(dim=-1).clamp(min=1).to(per_anchor.dtype)  # [H]
    return (per_anchor.sum(dim=-1) / counts).mean()
