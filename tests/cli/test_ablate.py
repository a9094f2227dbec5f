"""`rankgraph ablate` end to end on a tiny world, and its refusals of bad arguments."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rankgraph.cli.main import main

FAST = ["train.steps=2", "train.eval_every=2", "train.batch_size=64", "model.dim=8", "model.feature_dim=8",
        "model.num_layers=1", "evaluate.ks=[10]"]


def test_ablate_command_writes_the_tables(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    threads = torch.get_num_threads()
    args = ["ablate", "--out", str(tmp_path), "--users", "150", "--seeds", "0", "--variants", "no_side_edges",
            "--baselines", "", "--threads", "1"]
    for kv in FAST:
        args += ["--set", kv]
    try:
        code = main(args)
    finally:
        torch.set_num_threads(threads)
    assert code == 0, capsys.readouterr().err
    result = json.loads((tmp_path / "ablation.json").read_text())
    assert list(result["variants"]) == ["no_side_edges"] and result["k"] == 10
    assert "| no_side_edges |" in (tmp_path / "ablation.md").read_text()
    manifest = json.loads((tmp_path / "graphs" / "no_side_edges" / "manifest.json").read_text())
    assert not any(r["kind"] == "side" for r in manifest["relations"].values())


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("--variants", "full,nope", "unknown variant 'nope'"), ("--seeds", "0,x", "--seeds"), ("--dataset", "csv", "--dataset")],
)
def test_ablate_refuses_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture, option, value, message) -> None:
    code = main(["ablate", "--out", str(tmp_path), option, value])
    assert code == 2
    assert message in capsys.readouterr().err
