"""Embeddings and graph artifacts in tmp dirs, and a TestClient over them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from serve_artifacts import make_graph, make_set

from rankgraph.capabilities import WITH_FASTAPI
from rankgraph.serve.config import ServeConfig

if not WITH_FASTAPI:
    collect_ignore_glob = ["test_app.py", "test_reload.py"]


@pytest.fixture
def artifacts(tmp_path: Path) -> dict[str, Path]:
    """root/ holds emb_a, emb_b (another seed) and graph; outside/ is beyond the allowed root."""
    root = tmp_path / "root"
    paths = {
        "root": root,
        "a": make_set(0).save(root / "emb_a"),
        "b": make_set(1, clusters=False).save(root / "emb_b"),
        "graph": make_graph().save(root / "graph"),
        "outside": make_set(2).save(tmp_path / "outside" / "emb"),
    }
    return paths


@pytest.fixture
def serve_config(artifacts: dict[str, Path]) -> ServeConfig:
    return ServeConfig(embeddings=artifacts["a"], graph=artifacts["graph"], allowed_root=artifacts["root"])


@pytest.fixture
def client(serve_config: ServeConfig) -> Iterator:
    from fastapi.testclient import TestClient

    from rankgraph.serve.app import create_app

    with TestClient(create_app(serve_config)) as c:
        yield c
