"""End to end on a tiny synthetic world: every stage's artifact, the metrics, the report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rankgraph.cli.main import main
from rankgraph.embed.artifact import EmbeddingSet
from rankgraph.graph.store import HeteroGraph
from rankgraph.pipeline import RunOptions, run_pipeline

FAST = ["train.steps=6", "train.eval_every=3", "train.batch_size=256", "model.dim=16", "model.num_layers=1"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    run_pipeline(RunOptions(out=out, users=300, overrides=FAST, baselines=["popularity"], report=True))
    return out


def test_run_writes_every_stage_artifact(tiny_run: Path) -> None:
    for sub in ("data", "graph", "model", "embeddings"):
        assert (tiny_run / sub / "manifest.json").is_file(), sub
    for name in ("metrics.json", "report.md", "report.html"):
        assert (tiny_run / name).is_file(), name


def test_graph_of_a_run_holds_no_event_from_the_test_period(tiny_run: Path) -> None:
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    graph = HeteroGraph.load(tiny_run / "graph")
    assert graph.meta["train_until"] == metrics["cut"]


def test_run_scores_rankgraph_and_baselines_on_the_same_users(tiny_run: Path) -> None:
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    rg, pop = metrics["methods"]["rankgraph"], metrics["methods"]["popularity"]
    assert rg["counts"]["evaluated_users"] == pop["counts"]["evaluated_users"] > 0
    for k in metrics["ks"]:
        value = rg["engagement_recall"]["all"][f"recall@{k}"]
        assert 0.0 <= value <= 1.0


def test_exported_embeddings_are_unit_rows_in_id_map_order(tiny_run: Path) -> None:
    emb = EmbeddingSet.load(tiny_run / "embeddings")
    graph = HeteroGraph.load(tiny_run / "graph")
    for t, node in emb.types.items():
        assert node.ids.to_pylist() == graph.ids[t].to_pylist()
        np.testing.assert_allclose(np.linalg.norm(node.vectors, axis=1), 1.0, atol=1e-4)


def test_readout_betas_tuned_in_training_reach_the_embeddings(tiny_run: Path) -> None:
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    tuned = metrics["methods"]["rankgraph"]["training"]["popularity_readout"]
    grid = metrics["config"]["evaluate"]["popularity_readout_grid"]
    assert tuned["users"] in grid and tuned["items"] in grid
    assert [t["beta"] for t in tuned["trials"]] == sorted(grid)
    source = EmbeddingSet.load(tiny_run / "embeddings").meta
    temperature = metrics["config"]["train"]["temperature"]
    assert source["popularity_readout"] == {
        "users": tuned["users"], "items": tuned["items"], "recent_fraction": 1.0, "temperature": temperature,
    }


def test_report_shows_every_method(tiny_run: Path) -> None:
    text = (tiny_run / "report.md").read_text()
    assert "| rankgraph |" in text and "| popularity |" in text
    assert "<table>" in (tiny_run / "report.html").read_text()


def test_evaluate_command_refuses_a_cut_before_the_embeddings_graph(tiny_run: Path, capsys: pytest.CaptureFixture) -> None:
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    code = main([
        "evaluate", "--embeddings", str(tiny_run / "embeddings"), "--config", str(tiny_run / "data" / "rankgraph.yaml"),
        "--test-from", str(metrics["cut"] - 86400), "--baselines", "",
    ])
    assert code == 2
    assert "have seen test events" in capsys.readouterr().err


def test_evaluate_command_matches_the_run(tiny_run: Path, tmp_path: Path) -> None:
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    out = tmp_path / "m.json"
    code = main([
        "evaluate", "--embeddings", str(tiny_run / "embeddings"), "--config", str(tiny_run / "data" / "rankgraph.yaml"),
        "--test-from", str(metrics["cut"]), "--baselines", "", "--out", str(out),
    ])
    assert code == 0
    again = json.loads(out.read_text())["methods"]["rankgraph"]
    assert again["engagement_recall"] == metrics["methods"]["rankgraph"]["engagement_recall"]


def test_tang_run_tunes_the_popularity_window_and_embeds_with_it(tmp_path: Path, tiny_tang_crawl: Path) -> None:
    """A tiny Tang crawl through `rankgraph run`: temporal hold-out, the window grid, and
    embeddings whose log q counts the chosen window."""
    from rankgraph.embed.export import item_log_popularity

    out = tmp_path / "run"
    overrides = FAST + ["train.refit_steps=2"]
    run_pipeline(RunOptions(out=out, dataset="tang", path=tiny_tang_crawl, overrides=overrides, baselines=["popularity"], report=False))

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["train"]["val_split"] == "temporal"
    assert metrics["methods"]["rankgraph"]["training"]["refit_steps"] == 2
    grid = metrics["config"]["evaluate"]["popularity_recent_grid"]
    tuned = metrics["methods"]["rankgraph"]["training"]["popularity_readout"]
    assert len(grid) > 1 and tuned["recent_fraction"] in grid
    assert {t["recent_fraction"] for t in tuned["trials"]} == set(grid)
    emb = EmbeddingSet.load(out / "embeddings")
    graph = HeteroGraph.load(out / "graph")
    expect = item_log_popularity(graph, "user", tuned["recent_fraction"])["product"]
    np.testing.assert_allclose(emb.types["product"].log_popularity, expect, rtol=1e-6)


def test_ensemble_run_embeds_with_every_member_and_reports_the_first_ones_curve(tmp_path: Path) -> None:
    out = tmp_path / "run"
    overrides = FAST + ["train.ensemble=2"]
    run_pipeline(RunOptions(out=out, users=300, overrides=overrides, baselines=["popularity"], report=True))
    manifest = json.loads((out / "model" / "manifest.json").read_text())
    assert manifest["members"] == ["members/0", "members/1"]
    member = json.loads((out / "model" / "members" / "0" / "manifest.json").read_text())
    served_dim = member["config"]["model"]["dim"] * member["config"]["model"]["num_heads"]
    emb = EmbeddingSet.load(out / "embeddings")
    for node in emb.types.values():
        assert node.vectors.shape[1] == 2 * served_dim
        np.testing.assert_allclose(np.linalg.norm(node.vectors, axis=1), 1.0, atol=1e-4)
    assert emb.meta["popularity_readout"] is not None
    assert (out / "plots" / "training.png").is_file()
