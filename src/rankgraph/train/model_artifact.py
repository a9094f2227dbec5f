"""The model artifact: `model.safetensors` + `manifest.json` (kind `model`), written atomically.

The manifest carries the full config, the graph schema (so weights load without the graph),
the graph path and the checksum of the graph's manifest (which itself checksums every graph
file), and the training summary. `load_model` is the one way back to a usable model.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from rankgraph.artifact import MANIFEST, atomic_dir, file_checksum, read_manifest, verify_files, write_manifest
from rankgraph.config import RankGraphConfig
from rankgraph.config.root import config_from_dict
from rankgraph.errors import ArtifactError

MODEL_KIND = "model"
WEIGHTS = "model.safetensors"


def save_model_artifact(
    out_dir: str | os.PathLike[str],
    state: dict[str, torch.Tensor],
    cfg: RankGraphConfig,
    schema: Any,
    graph_path: str | os.PathLike[str] | None,
    summary: dict[str, Any],
) -> Path:
    """Replace `out_dir` atomically by the finished artifact.

    The working files already in `out_dir` (metrics log, resumable checkpoints, refit) are carried
    over into the new directory before it is renamed into place.
    """
    out_dir = Path(out_dir)
    graph_info: dict[str, Any] = {"path": None, "manifest_blake2b": None}
    if graph_path is not None:
        gp = Path(graph_path).resolve()
        graph_info = {"path": str(gp), "manifest_blake2b": file_checksum(gp / MANIFEST)}
    with atomic_dir(out_dir) as tmp:
        for name in ("metrics.jsonl", "checkpoints", "tensorboard", "refit"):
            src = out_dir / name
            if src.is_dir():
                shutil.copytree(src, tmp / name)
            elif src.is_file():
                shutil.copy2(src, tmp / name)
        save_file({k: v.detach().cpu().contiguous().clone() for k, v in state.items()}, str(tmp / WEIGHTS))
        body = {
            "config": cfg.to_dict(),
            "schema": schema.to_dict(),
            "graph": graph_info,
            "summary": summary,
            "parameters": int(sum(v.numel() for v in state.values())),
        }
        files = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file())
        write_manifest(tmp, MODEL_KIND, body, files=files)
    return out_dir


def load_model(model_dir: str | os.PathLike[str], device: str = "cpu") -> tuple[Any, RankGraphConfig]:
    """Rebuild the trained `RankGraphModel` (eval mode) and its config from a model artifact."""
    from rankgraph.model import GraphSchema, RankGraphModel

    model_dir = Path(model_dir)
    manifest = read_manifest(model_dir, kind=MODEL_KIND)
    verify_files(model_dir, manifest, checksums=False)
    cfg = config_from_dict(manifest["config"], source=str(model_dir / MANIFEST))
    schema = GraphSchema.from_dict(manifest["schema"])
    model = RankGraphModel(cfg.model, schema)
    try:
        state = load_file(str(model_dir / WEIGHTS))
        model.load_state_dict(state)
    except (RuntimeError, OSError) as exc:
        raise ArtifactError(f"{model_dir / WEIGHTS}: weights do not match the model ({exc})") from exc
    return model.to(device).eval(), cfg


def served_readout(model_dir: str | os.PathLike[str]) -> dict[str, float] | None:
    """The popularity read-out tuned at the end of training (betas `users`, `items`, the
    `recent_fraction` of edges its log q counts and the training `temperature`), if any; `rankgraph embed` copies it into the embeddings' meta so
    evaluation and serving score alike (`rankgraph.embed.readout`)."""
    manifest = read_manifest(Path(model_dir), kind=MODEL_KIND)
    tuned = (manifest.get("summary") or {}).get("popularity_readout")
    if not tuned:
        return None
    temperature = float(manifest["config"]["train"]["temperature"])
    return {
        "users": float(tuned["users"]),
        "items": float(tuned["items"]),
        "recent_fraction": float(tuned.get("recent_fraction", 1.0)),
        "temperature": temperature,
    }
