"""The ablation runner on a tiny world: 2 variants x 2 seeds, one shared data preparation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rankgraph.ablate.runner import AblationOptions, aggregate, run_ablation
from rankgraph.ablate.variants import VARIANTS, VariantSpec
from rankgraph.embed.artifact import EmbeddingSet
from rankgraph.errors import ConfigError
from rankgraph.graph.store import HeteroGraph

FAST = [
    "train.steps=4",
    "train.eval_every=2",
    "train.batch_size=128",
    "model.dim=8",
    "model.feature_dim=8",
    "model.num_layers=1",
    "evaluate.ks=[10]",
]


@pytest.fixture(scope="module")
def tiny_ablation(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("ablate")
    opts = AblationOptions(
        out=out, users=200, overrides=FAST, seeds=[0, 1], variants=["triplet_only", "homogeneous"], baselines=["popularity"]
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: extra threads only contend on a shared machine
    try:
        return out, run_ablation(opts)
    finally:
        torch.set_num_threads(threads)


def test_ablation_writes_a_table_with_mean_and_std(tiny_ablation):
    out, result = tiny_ablation
    on_disk = json.loads((out / "ablation.json").read_text())
    assert set(on_disk["variants"]) == {"triplet_only", "homogeneous"}
    for entry in on_disk["variants"].values():
        assert [r["seed"] for r in entry["runs"]] == [0, 1]
        assert "ER@10" in entry["mean"] and "ER@10" in entry["std"]
    text = (out / "ablation.md").read_text()
    assert "| triplet_only |" in text and "| homogeneous |" in text and " ± " in text
    assert "| *popularity* |" in text


def test_triplet_only_run_trains_with_w_nce_zero_and_its_seed(tiny_ablation):
    out, _ = tiny_ablation
    for seed in (0, 1):
        manifest = json.loads((out / "variants" / "triplet_only" / f"seed{seed}" / "model" / "manifest.json").read_text())
        assert manifest["config"]["train"]["w_nce"] == 0
        assert manifest["config"]["train"]["seed"] == seed


def test_seeds_give_different_models(tiny_ablation):
    out, _ = tiny_ablation
    a = EmbeddingSet.load(out / "variants" / "triplet_only" / "seed0" / "embeddings")
    b = EmbeddingSet.load(out / "variants" / "triplet_only" / "seed1" / "embeddings")
    assert not np.allclose(a.types["user"].vectors, b.types["user"].vectors)


def test_homogeneous_embeddings_use_the_original_id_maps(tiny_ablation):
    out, _ = tiny_ablation
    graph = HeteroGraph.load(out / "graphs" / "base")
    emb = EmbeddingSet.load(out / "variants" / "homogeneous" / "seed0" / "embeddings")
    assert set(emb.types) == set(graph.num_nodes)
    for t, node in emb.types.items():
        assert node.ids.to_pylist() == graph.ids[t].to_pylist()


def test_homogeneous_model_is_trained_on_the_homogenized_graph(tiny_ablation):
    out, _ = tiny_ablation
    model = json.loads((out / "variants" / "homogeneous" / "seed0" / "model" / "manifest.json").read_text())
    assert Path(model["graph"]["path"]).name == "homogeneous"
    assert HeteroGraph.load(model["graph"]["path"]).node_types == ["node"]


def test_variants_are_scored_on_the_same_users(tiny_ablation):
    _, result = tiny_ablation
    users = {r["evaluated_users"] for e in result["variants"].values() for r in e["runs"]}
    users |= {r["evaluated_users"] for r in result["baselines"]["popularity"]["runs"]}
    assert len(users) == 1 and users.pop() > 0


def test_aggregate_is_mean_and_sample_std_skipping_missing():
    runs = [{"headline": {"ER@10": 0.2, "R@10 xd": None}}, {"headline": {"ER@10": 0.4, "R@10 xd": None}}]
    mean, std = aggregate(runs)
    assert mean["ER@10"] == pytest.approx(0.3) and std["ER@10"] == pytest.approx(np.std([0.2, 0.4], ddof=1))
    assert "R@10 xd" not in mean


def test_unknown_variant_is_refused_with_the_known_names():
    with pytest.raises(ConfigError, match="no_such"):
        VariantSpec.parse("full,no_such")
    assert VariantSpec.parse(None).names == list(VARIANTS)
