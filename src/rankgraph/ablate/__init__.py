"""Ablations of RankGraph: named variants, the homogeneous graph transform, the runner."""

from __future__ import annotations

from rankgraph.ablate.homogenize import export_homogeneous, homogenize, split_vectors
from rankgraph.ablate.runner import AblationOptions, Callbacks, ablation_markdown, run_ablation
from rankgraph.ablate.variants import VARIANTS, Variant, VariantSpec

__all__ = [
    "VARIANTS",
    "AblationOptions",
    "Callbacks",
    "Variant",
    "VariantSpec",
    "ablation_markdown",
    "export_homogeneous",
    "homogenize",
    "run_ablation",
    "split_vectors",
]
