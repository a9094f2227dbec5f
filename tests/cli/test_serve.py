"""`rankgraph serve`: options reach the app and uvicorn; bad artifacts fail with one line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from rankgraph.capabilities import WITH_FASTAPI
from rankgraph.cli.main import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serve"))
from serve_artifacts import make_graph, make_set  # noqa: E402

pytestmark = pytest.mark.skipif(not WITH_FASTAPI, reason="fastapi/uvicorn not installed")


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> dict:
    """Replace uvicorn.run so the command returns instead of serving forever."""
    import uvicorn

    seen: dict = {}

    def fake_run(app, **kwargs):
        seen["app"], seen["kwargs"] = app, kwargs

    monkeypatch.setattr(uvicorn, "run", fake_run)
    return seen


def test_serve_starts_uvicorn_with_the_loaded_app(tmp_path: Path, ran: dict) -> None:
    emb = make_set(0).save(tmp_path / "emb")
    graph = make_graph().save(tmp_path / "graph")
    args = ["serve", "--embeddings", str(emb), "--graph", str(graph), "--port", "8123", "--threads", "2",
            "--set", "evaluate.neighbours=7"]
    assert main(args) == 0
    assert ran["kwargs"]["port"] == 8123 and ran["kwargs"]["host"] == "127.0.0.1"
    registry = ran["app"].state.registry
    assert registry.current.seen is not None and registry.current.neighbours == 7
    assert registry.root == tmp_path.resolve()


def test_serve_refuses_a_broken_artifact_in_one_line(tmp_path: Path, ran: dict, capsys: pytest.CaptureFixture[str]) -> None:
    emb = make_set(0).save(tmp_path / "emb")
    (emb / "post.npy").write_bytes(b"x")
    assert main(["serve", "--embeddings", str(emb)]) == 2
    err = capsys.readouterr().err
    assert "post.npy" in err and "Traceback" not in err and "app" not in ran


def test_serve_refuses_a_bad_port(tmp_path: Path, ran: dict) -> None:
    emb = make_set(0).save(tmp_path / "emb")
    assert main(["serve", "--embeddings", str(emb), "--port", "70000"]) == 2
