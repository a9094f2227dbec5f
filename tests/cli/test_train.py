from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
from graphs import planted_graph  # noqa: E402

from rankgraph.artifact import read_manifest  # noqa: E402
from rankgraph.cli.main import main  # noqa: E402

SETS = [
    "--set", "train.steps=4", "--set", "train.batch_size=32", "--set", "train.eval_every=2",
    "--set", "train.negatives.pool_size=16", "--set", "train.negatives.pool_samples=8",
    "--set", "model.dim=8", "--set", "model.feature_dim=8",
]


@pytest.fixture
def graph_dir(tmp_path: Path) -> Path:
    torch.set_num_threads(1)
    graph, _, _ = planted_graph()
    return graph.save(tmp_path / "graph")


def test_train_writes_a_model_artifact(graph_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    assert main(["train", "--graph", str(graph_dir), "--out", str(out), "--quiet", *SETS]) == 0
    manifest = read_manifest(out, "model")
    assert manifest["summary"]["steps"] == 4
    assert (out / "model.safetensors").is_file() and (out / "metrics.jsonl").is_file()


def test_train_resume_continues_from_the_checkpoint(graph_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    assert main(["train", "--graph", str(graph_dir), "--out", str(out), "--quiet", *SETS]) == 0
    more = [*SETS, "--set", "train.steps=6"]
    assert main(["train", "--graph", str(graph_dir), "--out", str(out), "--quiet", "--resume", *more]) == 0
    assert read_manifest(out, "model")["summary"]["steps"] == 6


def test_train_rejects_an_unknown_config_key(graph_dir: Path, tmp_path: Path, capsys) -> None:
    code = main(["train", "--graph", str(graph_dir), "--out", str(tmp_path / "m"), "--set", "train.nope=1"])
    assert code == 2 and "train.nope" in capsys.readouterr().err


def test_train_refuses_a_missing_graph(tmp_path: Path, capsys) -> None:
    code = main(["train", "--graph", str(tmp_path / "absent"), "--out", str(tmp_path / "m")])
    assert code == 2 and "absent" in capsys.readouterr().err


def test_train_refuses_cuda_without_a_gpu(graph_dir: Path, tmp_path: Path, capsys) -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    code = main(["train", "--graph", str(graph_dir), "--out", str(tmp_path / "m"), "--device", "cuda"])
    assert code == 2 and "CUDA" in capsys.readouterr().err
