"""Independently trained RankGraph models served as one: the mean of their cosines.

Two models trained from different seeds agree on the strong signal and disagree on noise,
so averaging their similarities lowers the seed-to-seed spread of every retrieval metric.
An inner product of served vectors stays the only scoring operation downstream (FAISS, the
popularity read-out, serving): each member's vector is L2-normalised and the served vector
is their concatenation scaled by 1/sqrt(K), a unit vector whose inner product with another
is exactly the members' mean cosine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from torch import nn

from rankgraph.config.model import ModelConfig
from rankgraph.embed.artifact import l2_normalize
from rankgraph.model.rankgraph_model import RankGraphModel
from rankgraph.model.schema import GraphSchema


class EnsembleModel(nn.Module):
    """K trained `RankGraphModel`s on one graph schema; `layerwise_embed` embeds each and combines."""

    def __init__(self, members: Sequence[RankGraphModel]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    @property
    def cfg(self) -> ModelConfig:
        return self.members[0].cfg

    @property
    def schema(self) -> GraphSchema:
        return self.members[0].schema

    @property
    def embedding_dim(self) -> int:
        return sum(m.embedding_dim for m in self.members)


def combine_member_vectors(parts: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """`{type: [n, sum of dims]}`: each member's rows L2-normalised, concatenated, / sqrt(K)."""
    if not parts:
        raise ValueError("no member vectors to combine")
    scale = 1.0 / math.sqrt(len(parts))
    out = {}
    for t in parts[0]:
        blocks = [l2_normalize(part[t], where=f"ensemble member {m}, {t}") * scale for m, part in enumerate(parts)]
        out[t] = np.concatenate(blocks, axis=1)
    return out
