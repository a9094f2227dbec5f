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


def write_artifacts(base: Path) -> dict[str, Path]:
    """base/root holds emb_a, emb_b (another seed) and graph; base/outside is beyond the allowed root."""
    root = base / "root"
    return {
        "root": root,
        "a": make_set(0).save(root / "emb_a"),
        "b": make_set(1, clusters=False).save(root / "emb_b"),
        "graph": make_graph().save(root / "graph"),
        "outside": make_set(2).save(base / "outside" / "emb"),
    }


def open_client(cfg: ServeConfig):
    from fastapi.testclient import TestClient

    from rankgraph.serve.app import create_app

    return TestClient(create_app(cfg))


@pytest.fixture
def artifacts(tmp_path: Path) -> dict[str, Path]:
    """Fresh artifacts, for tests that change them (reloads, rewrites, symlinks)."""
    return write_artifacts(tmp_path)


@pytest.fixture
def fresh_client(artifacts: dict[str, Path]) -> Iterator:
    """A service of its own over fresh artifacts (reload tests, counters from zero)."""
    with open_client(ServeConfig(embeddings=artifacts["a"], graph=artifacts["graph"], allowed_root=artifacts["root"])) as c:
        yield c


@pytest.fixture(scope="module")
def shared_artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Artifacts shared by a module's read-only tests."""
    return write_artifacts(tmp_path_factory.mktemp("serve"))


@pytest.fixture(scope="module")
def client(shared_artifacts: dict[str, Path]) -> Iterator:
    """One service per module for tests that only read (they must not reload it)."""
    cfg = ServeConfig(embeddings=shared_artifacts["a"], graph=shared_artifacts["graph"], allowed_root=shared_artifacts["root"])
    with open_client(cfg) as c:
        yield c
