from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from rankgraph.artifact import read_manifest
from rankgraph.cli.main import main
from rankgraph.embed.artifact import EmbeddingSet
from rank_worlds import CUT, VAL_WINDOW, planted_events

SETS = [
    "--set", f"rank.examples.val_window={VAL_WINDOW}", "--set", "rank.examples.max_history=6",
    "--set", "rank.examples.gap_unit=1", "--set", "rank.model.dim=8", "--set", "rank.model.layers=1",
    "--set", "rank.model.neighbours=3", "--set", "rank.train.epochs=1", "--set", "rank.train.batch_size=128",
]


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, Path]:
    events = planted_events()
    pq.write_table(events, tmp_path / "events.parquet")
    cfg = {"data": {"events": ["events.parquet"], "format": "parquet",
                    "event_types": ["click", "convert"], "default_item_type": "post"},
           "evaluate": {"test_from": str(CUT)}}
    (tmp_path / "rankgraph.yaml").write_text(yaml.safe_dump(cfg))
    rng = np.random.default_rng(0)
    ids = {"user": np.unique(events.column("user_id").to_numpy())}
    types = np.asarray(events.column("item_type").to_pylist())
    for t in ("post", "ad"):
        ids[t] = np.unique(events.column("item_id").to_numpy()[types == t])
    emb = EmbeddingSet.from_raw({t: rng.normal(size=(len(v), 4)) for t, v in ids.items()}, ids,
                                meta={"train_until": CUT - VAL_WINDOW})
    emb.save(tmp_path / "emb")
    return tmp_path / "rankgraph.yaml", tmp_path / "emb"


def test_rank_all_writes_a_report_with_each_variant(world, tmp_path: Path) -> None:
    config, emb = world
    out = tmp_path / "out"
    args = ["rank", "-c", str(config), "-e", str(emb), "-o", str(out), *SETS,
            "--set", "rank.seeds=[0]", "--set", "rank.variants=[none,add]"]
    assert main(args) == 0
    report = json.loads((out / "report" / "report.json").read_text())
    assert {r["variant"] for r in report["runs"]} == {"none", "add"}
    assert "delta_ne" in report["summary"]["add"]["click"]["all"]


def test_rank_train_then_eval_round_trips_the_ranker(world, tmp_path: Path) -> None:
    config, emb = world
    out = tmp_path / "out"
    base = ["rank", "-c", str(config), "-e", str(emb), "-o", str(out), *SETS, "--set", "rank.model.fusion=token"]
    assert main([*base, "--stage", "train"]) == 0
    assert read_manifest(out / "model", "rank_model")["fusion"] == "token"
    assert main([*base, "--stage", "eval"]) == 0
    metrics = json.loads((out / "eval.json").read_text())
    assert 0.0 <= metrics["click"]["all"]["auc"] <= 1.0


def test_rank_refuses_embeddings_built_after_the_validation_window(world, tmp_path: Path) -> None:
    config, emb_dir = world
    late = EmbeddingSet.load(emb_dir)
    late.meta = {"train_until": CUT}
    late.save(tmp_path / "late")
    args = ["rank", "-c", str(config), "-e", str(tmp_path / "late"), "-o", str(tmp_path / "out"), *SETS]
    assert main(args) == 2


def test_rank_correlate_relates_recall_to_lift(world, tmp_path: Path) -> None:
    config, emb_dir = world
    other = EmbeddingSet.load(emb_dir)
    rng = np.random.default_rng(5)
    other = EmbeddingSet.from_raw({t: rng.normal(size=(n.count, n.dim)) for t, n in other.types.items()},
                                  {t: n.ids for t, n in other.types.items()}, meta={"train_until": CUT - VAL_WINDOW})
    other.save(tmp_path / "other")
    out = tmp_path / "out"
    args = ["rank", "-c", str(config), "-o", str(out), "--stage", "correlate", "--compare", str(emb_dir),
            "--compare", str(tmp_path / "other"), "--random-embeddings", *SETS,
            "--set", "rank.seeds=[0]", "--set", "rank.variants=[none,similarity]"]
    assert main(args) == 0
    report = json.loads((out / "correlation" / "report.json").read_text())
    assert set(report["embeddings"]) == {str(emb_dir), str(tmp_path / "other"), "random"}
    for row in report["embeddings"].values():
        assert 0.0 <= row["engagement_recall"] <= 1.0
        assert {r["variant"] for r in row["runs"]} == {"similarity"}
    corr = report["correlation"]["similarity"]["click"]
    assert len(corr["recalls"]) == 3 and len(corr["lifts"]) == 3
    assert "Pearson" in (out / "correlation" / "report.md").read_text()


def test_rank_correlate_needs_two_embedding_variants(world, tmp_path: Path) -> None:
    config, emb_dir = world
    args = ["rank", "-c", str(config), "-o", str(tmp_path / "out"), "--stage", "correlate", "--compare", str(emb_dir), *SETS]
    assert main(args) == 2
