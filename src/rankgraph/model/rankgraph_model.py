"""The RankGraph model: feature encoder, L relational layers, H heads.

`head_mode="projection"`: one shared layer stack, then a Linear projection per head;
`head_mode="stack"`: one layer stack per head (the encoder is shared). Every head's output
is L2-normalised, so the model returns `Tensor[n, H, D]` per node type; `served` turns that
into the embedding we export: the L2-normalised concatenation (E = H*D) or mean (E = D).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rankgraph.config.model import ModelConfig
from rankgraph.errors import ConfigError
from rankgraph.model.feature_encoder import FeatureEncoder
from rankgraph.model.relational_layer import RelationalLayer
from rankgraph.model.schema import GraphSchema
from rankgraph.model.tensors import GraphTensors, SparseAdjacency

if TYPE_CHECKING:
    from rankgraph.graph.sample import SampledSubgraph


class RankGraphModel(nn.Module):
    """Multi-head relational GNN producing per-head L2-normalised node embeddings."""

    def __init__(self, cfg: ModelConfig, schema: GraphSchema) -> None:
        super().__init__()
        if cfg.num_heads < 1 or cfg.num_layers < 0 or cfg.dim < 1:
            raise ConfigError(
                f"model: num_heads ({cfg.num_heads}) and dim ({cfg.dim}) must be >= 1, num_layers ({cfg.num_layers}) >= 0"
            )
        if cfg.num_bases is not None and cfg.num_bases < 1:
            raise ConfigError(f"model.num_bases = {cfg.num_bases} must be >= 1 or null")
        self.cfg = cfg
        self.schema = schema
        self.encoder = FeatureEncoder(cfg, schema)
        n_stacks = cfg.num_heads if cfg.head_mode == "stack" else 1
        self.stacks = nn.ModuleList(
            nn.ModuleList(
                RelationalLayer(cfg.dim, cfg.dim, schema.node_types, schema.relations, cfg) for _ in range(cfg.num_layers)
            )
            for _ in range(n_stacks)
        )
        self.heads = (
            nn.ModuleList(nn.Linear(cfg.dim, cfg.dim) for _ in range(cfg.num_heads))
            if cfg.head_mode == "projection"
            else None
        )

    @property
    def num_heads(self) -> int:
        return self.cfg.num_heads

    @property
    def embedding_dim(self) -> int:
        """E, the width of `served` output."""
        return self.cfg.dim * (self.cfg.num_heads if self.cfg.output == "concat" else 1)

    def head_outputs(self, stack_states: list[Tensor]) -> Tensor:
        """Per-head L2-normalised outputs `[n, H, D]` from the last states of each stack."""
        if self.heads is not None:
            h = stack_states[0]
            out = torch.stack([proj(h) for proj in self.heads], dim=1)
        else:
            out = torch.stack(stack_states, dim=1)
        return F.normalize(out, dim=-1)

    def _run_stacks(
        self, h0: dict[str, Tensor], adjs: list[dict[str, SparseAdjacency]], n_dst: list[dict[str, int] | None]
    ) -> dict[str, Tensor]:
        finals: list[dict[str, Tensor]] = []
        for stack in self.stacks:
            h = h0
            for layer, adj, nd in zip(stack, adjs, n_dst):
                h = layer(h, adj, nd)
            finals.append(h)
        return {t: self.head_outputs([f[t] for f in finals]) for t in finals[0]}

    def forward_full(self, gt: GraphTensors) -> dict[str, Tensor]:
        """Every node's per-head embeddings `{type: [n_t, H, D]}` over the full graph."""
        h0 = {
            t: self.encoder.encode(t, gt.features.get(t, {}), None, torch.arange(n, device=gt.device))
            for t, n in gt.num_nodes.items()
        }
        adj = {name: gt.adjacency(name, self.cfg.norm) for name in gt.relations}
        L = self.cfg.num_layers
        return self._run_stacks(h0, [adj] * L, [None] * L)

    def forward_sampled(self, sub: SampledSubgraph) -> dict[str, Tensor]:
        """Per-head embeddings `{type: [n_seed_t, H, D]}` of the seeds, in the seeds' order."""
        if len(sub.blocks) != self.cfg.num_layers:
            raise ConfigError(
                f"sampled subgraph has {len(sub.blocks)} layers, the model has {self.cfg.num_layers}: "
                "use as many fan-outs as model.num_layers"
            )
        h0 = self.encoder(sub.features, sub.input_nodes)
        adjs = [b.adjacency(self.cfg.norm) for b in sub.blocks]
        out = self._run_stacks(h0, adjs, [b.n_dst for b in sub.blocks])
        return {t: out[t].index_select(0, inv) for t, inv in sub.seed_inverse.items()}

    def forward(self, gt: GraphTensors) -> dict[str, Tensor]:
        return self.forward_full(gt)

    def served(self, h: Tensor) -> Tensor:
        """The exported embedding `[n, E]` from per-head outputs `[n, H, D]`."""
        if self.cfg.output == "concat":
            return F.normalize(h.reshape(h.shape[0], -1), dim=-1)
        return F.normalize(h.mean(dim=1), dim=-1)
