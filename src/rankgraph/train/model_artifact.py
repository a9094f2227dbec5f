"""The model artifact: `model.safetensors` + `manifest.json` (kind `model`), written atomically.

The manifest carries the full config, the graph schema (so weights load without the graph),
the graph path and the checksum of the graph's manifest (which itself checksums every graph
file), and the training summary. `load_model` is the one way back to a usable model.
An ensemble's artifact (`train.ensemble` > 1) has no weights of its own: its manifest lists
`members`, each a model artifact in a subdirectory, and `load_model` returns an
`EnsembleModel` of them.
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
MEMBERS = "members"


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
    graph_info = _graph_info(graph_path)
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


def save_ensemble_artifact(
    out_dir: str | os.PathLike[str],
    cfg: RankGraphConfig,
    schema: Any,
    graph_path: str | os.PathLike[str] | None,
    summary: dict[str, Any],
    k: int,
) -> Path:
    """Replace `out_dir` atomically by an ensemble artifact over its saved `members/<m>` artifacts."""
    out_dir = Path(out_dir)
    members = [f"{MEMBERS}/{m}" for m in range(k)]
    for rel in members:
        read_manifest(out_dir / rel, kind=MODEL_KIND)  # every member is a finished artifact
    with atomic_dir(out_dir) as tmp:
        for name in (MEMBERS, "metrics.jsonl"):
            src = out_dir / name
            if src.is_dir():
                shutil.copytree(src, tmp / name)
            elif src.is_file():
                shutil.copy2(src, tmp / name)
        body = {
            "config": cfg.to_dict(),
            "schema": schema.to_dict(),
            "graph": _graph_info(graph_path),
            "summary": summary,
            "members": members,
        }
        files = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file())
        write_manifest(tmp, MODEL_KIND, body, files=files)
    return out_dir


def _graph_info(graph_path: str | os.PathLike[str] | None) -> dict[str, Any]:
    if graph_path is None:
        return {"path": None, "manifest_blake2b": None}
    gp = Path(graph_path).resolve()
    return {"path": str(gp), "manifest_blake2b": file_checksum(gp / MANIFEST)}


def load_model(model_dir: str | os.PathLike[str], device: str = "cpu") -> tuple[Any, RankGraphConfig]:
    """Rebuild the trained `RankGraphModel` (eval mode) and its config from a model artifact,
    or the `EnsembleModel` of an ensemble's members."""
    from rankgraph.model import EnsembleModel, GraphSchema, RankGraphModel

    model_dir = Path(model_dir)
    manifest = read_manifest(model_dir, kind=MODEL_KIND)
    verify_files(model_dir, manifest, checksums=False)
    cfg = config_from_dict(manifest["config"], source=str(model_dir / MANIFEST))
    if "members" in manifest:
        members = []
        for rel in manifest["members"]:
            if not isinstance(rel, str) or not rel.startswith(f"{MEMBERS}/") or ".." in Path(rel).parts:
                where = model_dir / MANIFEST
                raise ArtifactError(f"{where}: member {rel!r} is not a directory under {MEMBERS}/")
            members.append(load_model(model_dir / rel, device)[0])
        if not members:
            raise ArtifactError(f"{model_dir / MANIFEST}: an ensemble without members")
        return EnsembleModel(members).to(device).eval(), cfg
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
