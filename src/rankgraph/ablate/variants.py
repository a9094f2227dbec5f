"""Named ablation variants: each is `--set`-style config overrides, or a graph transform.

A variant changes one thing relative to `full` (the config as given), so a difference in
the table is attributable to that one thing. Overrides are applied after the user's own
`--set` values, so `--set train.steps=...` sizes every variant alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rankgraph.errors import ConfigError

Transform = Literal["homogeneous"]


@dataclass(frozen=True)
class Variant:
    """One arm of the ablation: `overrides` on top of the base config, then `transform`."""

    name: str
    overrides: tuple[str, ...] = ()
    transform: Transform | None = None
    doc: str = ""


SWEEP_W_TRIPLET = (0.1, 0.5, 1.0, 2.0)


def _variants() -> dict[str, Variant]:
    items = [
        Variant("full", doc="the config as given (InfoNCE alone by default: w_nce=1, w_triplet=0)"),
        Variant("triplet_only", ("train.w_nce=0", "train.w_triplet=1"), doc="triplet loss alone"),
        Variant("infonce_only", ("train.w_nce=1", "train.w_triplet=0"), doc="InfoNCE alone"),
        Variant("combined", ("train.w_nce=1", "train.w_triplet=0.5"), doc="the paper's combination: InfoNCE + 0.5 x triplet"),
        *[
            Variant(f"w_triplet={w:g}", (f"train.w_triplet={w}",), doc=f"InfoNCE + {w:g} x triplet")
            for w in SWEEP_W_TRIPLET
        ],
        Variant("no_in_batch", ("train.negatives.in_batch=false",), doc="no in-batch negatives"),
        Variant("no_pool", ("train.negatives.pool=false",), doc="no global pool negatives"),
        Variant("no_semantic_negatives", ("train.negatives.semantic=false",), doc="no semantic cross-head negatives"),
        Variant(
            "homogeneous",
            ("model.id_embeddings=true",),
            transform="homogeneous",
            doc="one node type, one engagement relation (+ mirror), id embeddings only",
        ),
        Variant("no_semantic_edges", ("graph.semantic=[]",), doc="graph without semantic (co-engagement) relations"),
        Variant("no_side_edges", ("graph.use_side_edges=false",), doc="graph without side relations (follows, trusts)"),
    ]
    return {v.name: v for v in items}


VARIANTS: dict[str, Variant] = _variants()


@dataclass
class VariantSpec:
    """Parsed `--variants`: known names in the order given (duplicates dropped)."""

    names: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str | None) -> VariantSpec:
        if not text:
            return cls(list(VARIANTS))
        names: list[str] = []
        for raw in text.split(","):
            name = raw.strip()
            if not name:
                continue
            if name not in VARIANTS:
                raise ConfigError(f"--variants: unknown variant '{name}' (known: {', '.join(VARIANTS)})")
            if name not in names:
                names.append(name)
        if not names:
            raise ConfigError("--variants: no variant named")
        return cls(names)
