from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from rankgraph.artifact import read_manifest
from rankgraph.cli.main import main
from rankgraph.config import load_config

ARGS = ["--users", "60", "--seed", "2", "--events-per-user", "5", "--topics", "6"]


def test_generate_writes_the_world_and_prints_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "world"
    assert main(["generate", "--out", str(out), *ARGS]) == 0
    for rel in ("events.parquet", "nodes/user.parquet", "nodes/ad.parquet", "edges/follows.parquet",
                "edges/ad_advertiser.parquet", "truth/user_interests.npy", "rankgraph.yaml"):
        assert (out / rel).is_file(), rel
    manifest = read_manifest(out, "world")
    assert manifest["config"]["n_users"] == 60 and manifest["config"]["seed"] == 2
    assert pq.read_metadata(out / "events.parquet").num_rows == manifest["counts"]["events"]
    load_config(out / "rankgraph.yaml")
    printed = capsys.readouterr().out
    assert "advertiser" in printed and f"{manifest['counts']['events']:,}" in printed


def test_generate_refuses_an_existing_directory_without_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "world"
    assert main(["generate", "--out", str(out), *ARGS]) == 0
    before = (out / "events.parquet").read_bytes()
    capsys.readouterr()
    assert main(["generate", "--out", str(out), *ARGS[:2], "--seed", "9"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (out / "events.parquet").read_bytes() == before
    assert main(["generate", "--out", str(out), *ARGS[:2], "--seed", "9", "--force"]) == 0
    assert read_manifest(out, "world")["config"]["seed"] == 9


def test_generate_reports_a_bad_size_as_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--out", str(tmp_path / "w"), "--users", "1"]) == 2
    assert "n_users" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


def test_generate_help_describes_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--events-per-user" in text and "--force" in text
