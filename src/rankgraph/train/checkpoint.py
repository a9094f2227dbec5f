"""Resumable training state: written atomically, read back with `torch.load(weights_only=True)`.

A checkpoint holds everything a killed run needs to continue bit-for-bit: model and
optimiser state, LR scheduler, the negative pool, the trainer's counters and early-stopping
state, and every RNG the run touches (the sampling `torch.Generator`, torch's global CPU and
CUDA generators used by dropout, numpy's and Python's global generators). All of it is
tensors, numbers, strings, lists and dicts, so `weights_only=True` loading accepts it.
"""

from __future__ import annotations

import io
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rankgraph.artifact import atomic_write_bytes
from rankgraph.errors import ArtifactError

CHECKPOINT_NAME = "last.pt"


def capture_rng(generator: torch.Generator) -> dict[str, Any]:
    """Every RNG state as tensors / plain data."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    state: dict[str, Any] = {
        "generator": generator.get_state(),
        "torch": torch.get_rng_state(),
        "numpy": {
            "name": str(np_state[0]),
            "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": {"version": int(py_state[0]), "state": list(py_state[1]), "gauss": py_state[2]},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any], generator: torch.Generator) -> None:
    """Inverse of `capture_rng`."""
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(
        (n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(directory: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """Serialise `state` to `directory/last.pt` through a temporary file and an atomic rename."""
    buf = io.BytesIO()
    torch.save(state, buf)
    path = Path(directory) / CHECKPOINT_NAME
    atomic_write_bytes(path, buf.getvalue())
    return path


def load_checkpoint(directory: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read `directory/last.pt` with `weights_only=True` (no arbitrary code on load)."""
    path = Path(directory) / CHECKPOINT_NAME
    if not path.is_file():
        raise ArtifactError(f"{path}: no checkpoint to resume from")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt files
        raise ArtifactError(f"{path}: unreadable checkpoint ({exc})") from exc
