import json

import numpy as np
import pytest
import torch

from graphs import SMALL_TRAINING, planted_graph
from rankgraph.config import load_config
from rankgraph.errors import ArtifactError, ConfigError
from rankgraph.model import EnsembleModel
from rankgraph.model.inference import layerwise_embed
from rankgraph.train import load_model
from rankgraph.train.ensemble import member_config, member_dirs
from rankgraph.train.model_artifact import served_readout
from rankgraph.train.trainer import Trainer, train_graph

SMALL = SMALL_TRAINING + ["train.steps=6", "train.eval_every=3", "train.checkpoint_every=2"]
ENSEMBLE = ["train.ensemble=2"]


def _cfg(*extra):
    return load_config(None, SMALL + ENSEMBLE + list(extra))


def test_ensemble_serves_the_mean_cosine_of_members_trained_from_different_seeds(tmp_path):
    graph, _, _ = planted_graph()
    cfg = _cfg()
    result = train_graph(graph, cfg, tmp_path / "model")
    manifest = json.loads((tmp_path / "model" / "manifest.json").read_text())
    assert manifest["members"] == ["members/0", "members/1"] and manifest["summary"]["ensemble"] == 2
    assert result.popularity_readout is not None and served_readout(tmp_path / "model") is not None

    model, loaded = load_model(tmp_path / "model")
    assert isinstance(model, EnsembleModel) and loaded.train.ensemble == 2
    a, b = model.members
    assert any(not torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    served = layerwise_embed(model, graph)
    parts = [layerwise_embed(m, graph) for m in model.members]
    user, item = served["user"], served["item"]
    assert user.shape[1] == 2 * parts[0]["user"].shape[1] == model.embedding_dim
    np.testing.assert_allclose(np.linalg.norm(user, axis=1), 1.0, rtol=1e-5)
    mean_cos = sum(p["user"] @ p["item"].T for p in parts) / 2
    np.testing.assert_allclose(user @ item.T, mean_cos, atol=1e-5)


def test_members_hold_out_the_same_edges_under_a_random_split(tmp_path):
    graph, _, _ = planted_graph()
    cfg = _cfg("train.val_split=random", "train.seed=3")
    vals = [Trainer(graph, member_config(cfg, m), tmp_path / str(m)).sampler.val for m in range(2)]
    assert [member_config(cfg, m).train.seed for m in range(2)] == [3, 4]
    assert vals[0].rel.size > 0
    for key in ("rel", "src", "dst"):
        assert np.array_equal(getattr(vals[0], key), getattr(vals[1], key))
    other = Trainer(graph, load_config(None, SMALL + ["train.seed=4"]), tmp_path / "single").sampler.val
    assert not np.array_equal(other.src, vals[0].src)  # a lone seed-4 model splits differently


def test_killed_ensemble_resumes_to_the_same_members(tmp_path):
    graph, _, _ = planted_graph()
    cfg = _cfg("train.triplet_negative=sampled")
    train_graph(graph, cfg, tmp_path / "straight")
    first, second = member_dirs(tmp_path / "killed", 2)
    Trainer(graph, member_config(cfg, 0), first).fit()
    Trainer(graph, member_config(cfg, 1), second).fit(stop_after=3)  # killed in member 1, after step 2's checkpoint
    train_graph(graph, cfg, tmp_path / "killed", resume=True)
    straight, _ = load_model(tmp_path / "straight")
    resumed, _ = load_model(tmp_path / "killed")
    for s, r in zip(straight.members, resumed.members):
        for (k, x), (_, y) in zip(s.state_dict().items(), r.state_dict().items()):
            assert torch.equal(x, y), k
    assert served_readout(tmp_path / "straight") == served_readout(tmp_path / "killed")


def test_ensemble_manifest_naming_a_member_outside_the_artifact_is_refused(tmp_path):
    graph, _, _ = planted_graph()
    train_graph(graph, _cfg("train.steps=2"), tmp_path / "model")
    path = tmp_path / "model" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["members"] = ["members/../../elsewhere"]
    path.write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="member"):
        load_model(tmp_path / "model")


def test_ensemble_of_zero_members_is_refused():
    with pytest.raises(ConfigError, match="ensemble must be >= 1"):
        _cfg("train.ensemble=0")
