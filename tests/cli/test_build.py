from __future__ import annotations

from pathlib import Path

import pytest

from rankgraph.cli.main import main
from rankgraph.data.synthetic import WorldConfig, generate_world
from rankgraph.graph.store import HeteroGraph


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world") / "w"
    generate_world(out, WorldConfig(n_users=150, events_per_user=8, n_topics=6, seed=3))
    return out


def test_build_writes_the_synthetic_world_graph(world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "graph"
    assert main(["build", "--config", str(world / "rankgraph.yaml"), "--out", str(out)]) == 0
    g = HeteroGraph.load(out)
    for name in ("user__engaged__post", "ad__rev_engaged__user", "video__co__video", "user__co__user",
                 "user__follows__user", "ad__ad_advertiser__advertiser"):
        assert g.relations[name].num_edges > 0, name
    assert set(g.features["ad"]) >= {"tags", "content", "advertiser", "domain"}
    printed = capsys.readouterr().out
    assert "user__engaged__post" in printed and f"{g.relations['user__engaged__post'].num_edges:,}" in printed


def test_build_train_until_and_set_overrides(world: Path, tmp_path: Path) -> None:
    out = tmp_path / "graph"
    args = ["build", "--config", str(world / "rankgraph.yaml"), "--out", str(out), "--train-until", "2025-12-20",
            "--set", "graph.semantic=[]"]
    assert main(args) == 0
    g = HeteroGraph.load(out)
    assert g.meta["train_until"] == 1766188800
    assert not any(r.kind == "semantic" for r in g.relations.values())


def test_build_reports_a_bad_input_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "cfg.yaml").write_text("data:\n  events: [missing.parquet]\n")
    assert main(["build", "--config", str(tmp_path / "cfg.yaml"), "--out", str(tmp_path / "g")]) == 2
    err = capsys.readouterr().err.strip()
    assert "missing.parquet" in err and len(err.splitlines()) <= 3
    assert not (tmp_path / "g").exists()


@pytest.mark.shared_data
def test_build_ciao_small_release(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "ciao"
    assert main(["build", "--dataset", "tang", "--path", str(shared_data / "ciao" / "small_txt_release"),
                 "--out", str(out)]) == 0
    g = HeteroGraph.load(out)
    assert g.num_nodes["user"] > 2000 and g.relations["user__rated__product"].num_edges > 30_000
    assert g.relations["user__trusts__user"].num_edges > 0
    assert g.meta["train_until"] is not None


@pytest.mark.shared_data
def test_build_ciao_full_mat(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "ciao"
    assert main(["build", "--dataset", "tang", "--path", str(shared_data / "ciao"), "--out", str(out)]) == 0
    g = HeteroGraph.load(out)
    assert g.num_nodes["user"] > 7000 and g.relations["user__rated__product"].num_edges > 250_000
    assert g.relations["product__co_rated__product"].in_degree().max() <= 20
