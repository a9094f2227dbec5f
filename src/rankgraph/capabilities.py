"""Optional dependencies, probed once, as capability flags.

Follows PyG's `WITH_PYG_LIB` pattern: code and tests branch on these flags instead of
importing optional packages at module import time, so a bare install stays usable.
"""

from __future__ import annotations

import importlib.util


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


WITH_FAISS = _has("faiss")
WITH_PYG = _has("torch_geometric")
WITH_IMPLICIT = _has("implicit")
WITH_FASTAPI = _has("fastapi") and _has("uvicorn")
WITH_MATPLOTLIB = _has("matplotlib")
WITH_TENSORBOARD = _has("tensorboard")


def with_cuda() -> bool:
    """True when torch sees a CUDA device (a function: probing CUDA is not free)."""
    import torch

    return torch.cuda.is_available()
