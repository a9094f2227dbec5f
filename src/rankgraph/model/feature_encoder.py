"""Per-node-type feature encoder: `h_t = M_t(concat_j f_{t,j}(x_{t,j}) [, pairwise products])`.

Each feature type j of node type t has its own `f_{t,j}` (embedding for categorical ids,
mean EmbeddingBag for multi-hot lists, an MLP for dense vectors, and optionally a learnable
id embedding, hashed into `id_hash_buckets` when the id space is huge). `M_t` is an MLP over
the concatenated outputs and, when `pairwise_products` is on, their elementwise products
for every pair of feature types (the paper's "feature mixer"). Node types without features
always get an id embedding. The encoder takes node indices, so a mini-batch encodes only
the nodes it needs.
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor, nn

from rankgraph.config.model import ModelConfig
from rankgraph.model.schema import FeatureSpec, GraphSchema
from rankgraph.model.tensors import FeatureTensor

ID_FEATURE = "__id__"
_HASH_MULT = 0x9E3779B1  # Knuth's multiplicative hash constant (fits int64 products for ids < 2**32)


def activation(name: str) -> nn.Module:
    return {"gelu": nn.GELU, "relu": nn.ReLU, "tanh": nn.Tanh, "none": nn.Identity}[name]()


def ragged_positions(offsets: Tensor, rows: Tensor) -> tuple[Tensor, Tensor]:
    """Positions into a ragged `values` array of `rows`, and the new offsets (vectorised)."""
    starts = offsets.index_select(0, rows)
    lengths = offsets.index_select(0, rows + 1) - starts
    new_offsets = torch.zeros(rows.shape[0] + 1, dtype=torch.int64, device=offsets.device)
    torch.cumsum(lengths, 0, out=new_offsets[1:])
    total = int(new_offsets[-1])
    pos = torch.repeat_interleave(starts - new_offsets[:-1], lengths, output_size=total)
    pos += torch.arange(total, device=offsets.device)
    return pos, new_offsets


class _FeatureEncoder(nn.Module):
    """`f_{t,j}` for one feature: maps the feature of selected rows to `[n, feature_dim]`."""

    def __init__(self, spec: FeatureSpec, dim: int, act: str) -> None:
        super().__init__()
        self.kind = spec.kind
        if spec.kind == "categorical":
            # one extra row for unknown/missing values (encoded as negative ids)
            self.emb = nn.Embedding(spec.cardinality + 1, dim)
        elif spec.kind == "multi_hot":
            self.bag = nn.EmbeddingBag(spec.cardinality + 1, dim, mode="mean")
        elif spec.kind == "dense":
            self.mlp = nn.Sequential(nn.Linear(spec.dim, dim), activation(act), nn.Linear(dim, dim))
        else:
            raise ValueError(f"feature '{spec.name}': unknown kind '{spec.kind}'")
        self.unknown = spec.cardinality

    def forward(self, feat: FeatureTensor, idx: Tensor | None) -> Tensor:
        if self.kind == "multi_hot":
            offsets = feat.offsets
            values = feat.values
            if idx is not None:
                pos, offsets = ragged_positions(offsets, idx)
                values = values.index_select(0, pos)
            values = torch.where(values < 0, self.unknown, values)
            return self.bag(values, offsets[:-1], per_sample_weights=None)
        # index_select: several times faster than advanced indexing on CPU
        x = feat.values if idx is None else feat.values.index_select(0, idx)
        if self.kind == "categorical":
            return self.emb(torch.where(x < 0, self.unknown, x))
        return self.mlp(x)


class _IdEncoder(nn.Module):
    """Learnable id embedding; hashed into `buckets` rows when given (for huge id spaces)."""

    def __init__(self, num_nodes: int, dim: int, buckets: int | None) -> None:
        super().__init__()
        self.buckets = buckets
        self.emb = nn.Embedding(max(1, buckets if buckets else num_nodes), dim)

    def forward(self, node_ids: Tensor) -> Tensor:
        if self.buckets:
            node_ids = (node_ids * _HASH_MULT) % self.buckets
        return self.emb(node_ids)


class TypeEncoder(nn.Module):
    """Encoder of one node type: the `f_{t,j}` plus the mixer `M_t`."""

    def __init__(self, cfg: ModelConfig, specs: list[FeatureSpec], num_nodes: int) -> None:
        super().__init__()
        fd = cfg.feature_dim
        self.features = nn.ModuleDict({s.name: _FeatureEncoder(s, fd, cfg.activation) for s in specs})
        self.id_encoder = (
            _IdEncoder(num_nodes, fd, cfg.id_hash_buckets) if (cfg.id_embeddings or not specs) else None
        )
        k = len(self.features) + (1 if self.id_encoder is not None else 0)
        self.pairs = list(itertools.combinations(range(k), 2)) if cfg.pairwise_products else []
        in_dim = fd * (k + len(self.pairs))
        self.mixer = nn.Sequential(nn.Linear(in_dim, cfg.dim), activation(cfg.activation), nn.Linear(cfg.dim, cfg.dim))

    def forward(self, feats: dict[str, FeatureTensor], idx: Tensor | None, node_ids: Tensor) -> Tensor:
        """`[n, dim]` for the rows `idx` of `feats` (all rows when None); `node_ids` feed the id embedding."""
        parts = [enc(feats[name], idx) for name, enc in self.features.items()]
        if self.id_encoder is not None:
            parts.append(self.id_encoder(node_ids))
        parts += [parts[a] * parts[b] for a, b in self.pairs]
        return self.mixer(torch.cat(parts, dim=-1))


class FeatureEncoder(nn.Module):
    """All node types' encoders; produces the layer-0 node states."""

    def __init__(self, cfg: ModelConfig, schema: GraphSchema) -> None:
        super().__init__()
        self.types = nn.ModuleDict(
            {t: TypeEncoder(cfg, schema.features.get(t, []), n) for t, n in schema.num_nodes.items()}
        )

    def encode(
        self, node_type: str, feats: dict[str, FeatureTensor], idx: Tensor | None, node_ids: Tensor
    ) -> Tensor:
        return self.types[node_type](feats, idx, node_ids)

    def forward(
        self, features: dict[str, dict[str, FeatureTensor]], nodes: dict[str, Tensor]
    ) -> dict[str, Tensor]:
        """Encode `nodes[t]` (global node indices) of every type, reading rows of the full `features`."""
        return {t: self.encode(t, features.get(t, {}), ids, ids) for t, ids in nodes.items()}
