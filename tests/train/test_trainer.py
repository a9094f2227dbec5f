import json

import pytest
import torch

from graphs import SMALL_TRAINING, planted_graph
from rankgraph.config import load_config
from rankgraph.errors import ArtifactError, ConfigError
from rankgraph.train import load_model
from rankgraph.train.checkpoint import load_checkpoint
from rankgraph.train.trainer import Trainer, train_graph

SMALL = SMALL_TRAINING


def _cfg(*extra):
    return load_config(None, SMALL + list(extra))


def _user_purity(trainer, user_comm, k=5):
    """Share of each user's k nearest users (served cosine) in the same planted community."""
    emb = trainer.embed_all()["user"]
    sim = emb @ emb.T
    sim.fill_diagonal_(-2.0)
    nn = sim.topk(k, dim=1).indices
    comm = torch.from_numpy(user_comm)
    return float((comm[nn] == comm[:, None]).float().mean())


def test_training_lowers_loss_and_recovers_planted_communities(tmp_path):
    graph, user_comm, _ = planted_graph()
    trainer = Trainer(graph, _cfg("train.steps=60", "train.eval_every=20"), tmp_path)
    before = _user_purity(trainer, user_comm)
    result = trainer.fit()
    losses = [h["loss"] for h in result.history]
    assert sum(losses[-10:]) / 10 < 0.8 * sum(losses[:5]) / 5
    after = _user_purity(trainer, user_comm)
    # chance is 1/3 (three communities); the untrained GNN is near it
    assert after > 0.75 and after > before + 0.25


def test_minibatch_mode_trains(tmp_path):
    graph, user_comm, _ = planted_graph()
    cfg = _cfg("train.steps=40", "train.eval_every=20", "model.mode=minibatch", "model.fanouts=[5,5]")
    trainer = Trainer(graph, cfg, tmp_path)
    result = trainer.fit()
    losses = [h["loss"] for h in result.history]
    assert sum(losses[-5:]) / 5 < 0.85 * sum(losses[:5]) / 5
    assert trainer.pool.emb["item"].abs().sum() > 0  # stored embeddings fill the queue


@pytest.mark.parametrize("mode", ["full", "minibatch"])
def test_killed_run_resumes_bit_for_bit(tmp_path, mode):
    graph, _, _ = planted_graph()
    opts = ["train.steps=12", "train.eval_every=4", "train.checkpoint_every=5", "train.triplet_negative=sampled"]
    opts += [f"model.mode={mode}", "model.fanouts=[4,4]"]
    straight = Trainer(graph, _cfg(*opts), tmp_path / "a")
    straight.fit()
    killed = Trainer(graph, _cfg(*opts), tmp_path / "b")
    killed.fit(stop_after=7)  # last checkpoint at step 5; steps 6-7 are lost, as in a kill
    resumed = Trainer(graph, _cfg(*opts), tmp_path / "b")
    resumed.fit(resume=True)
    assert resumed.step == 12
    for (k, a), (_, b) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(a, b), k
    assert straight.best_step == resumed.best_step
    for k, v in straight.final_state().items():
        assert torch.equal(v, resumed.final_state()[k]), k
    log = [json.loads(x) for x in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in log if r["event"] == "eval"]
    assert steps == sorted(steps) and len(steps) == len(set(steps))


def test_checkpoint_loads_with_weights_only(tmp_path):
    graph, _, _ = planted_graph()
    Trainer(graph, _cfg("train.steps=2", "train.checkpoint_every=1"), tmp_path).fit()
    state = load_checkpoint(tmp_path / "checkpoints")  # torch.load(weights_only=True) inside
    assert state["step"] == 2 and "rng" in state and "pool" in state


def test_model_artifact_roundtrips_through_load_model(tmp_path):
    graph, _, _ = planted_graph()
    graph_dir = graph.save(tmp_path / "graph")
    cfg = _cfg("train.steps=6", "train.eval_every=3")
    train_graph(graph, cfg, tmp_path / "model", graph_path=graph_dir)
    manifest = json.loads((tmp_path / "model" / "manifest.json").read_text())
    assert manifest["kind"] == "model" and manifest["summary"]["steps"] == 6
    assert manifest["graph"]["manifest_blake2b"]
    model, loaded_cfg = load_model(tmp_path / "model")
    assert loaded_cfg.train.steps == 6
    from rankgraph.model import GraphTensors

    out = model.forward_full(GraphTensors.from_graph(graph))
    assert out["user"].shape == (graph.num_nodes["user"], cfg.model.num_heads, cfg.model.dim)


def test_load_model_refuses_a_directory_without_manifest(tmp_path):
    with pytest.raises(ArtifactError):
        load_model(tmp_path)


@pytest.mark.parametrize(
    "opts",
    [
        ["train.negatives.logq_correction=true", "train.negatives.pool_sampling=degree"],
        ["train.include_reverse=true", "train.symmetric=false", "train.w_triplet=0.0"],
        ["train.negatives.in_batch=false", "train.negatives.pool=false", "train.triplet_negative=sampled"],
    ],
    ids=["logq-degree-pool", "reverse-positives", "semantic-only"],
)
def test_training_options_give_finite_losses(tmp_path, opts):
    graph, _, _ = planted_graph()
    result = Trainer(graph, _cfg("train.steps=3", *opts), tmp_path).fit()
    assert all(torch.isfinite(torch.tensor(h["loss"])) for h in result.history)


def test_training_without_any_negative_sampler_is_refused(tmp_path):
    graph, _, _ = planted_graph()
    off = ["train.negatives.in_batch=false", "train.negatives.pool=false", "train.negatives.semantic=false"]
    with pytest.raises(ConfigError, match="no negative sampler"):
        Trainer(graph, _cfg(*off), tmp_path)


def test_refit_trains_on_every_edge_after_validation_and_ships_those_weights(tmp_path):
    from safetensors.torch import load_file

    graph, _, _ = planted_graph()
    cfg = _cfg("train.steps=4", "train.eval_every=2", "train.refit_steps=3")
    train_graph(graph, cfg, tmp_path / "model")
    manifest = json.loads((tmp_path / "model" / "manifest.json").read_text())
    assert manifest["summary"]["refit_steps"] == 3
    shipped = load_file(str(next((tmp_path / "model").glob("*.safetensors"))))

    validated = Trainer(graph, cfg, tmp_path / "model")
    assert validated.resume() and validated.step == 4
    refit = Trainer(graph, load_config(None, SMALL + ["train.val_fraction=0", "train.steps=3"]), tmp_path / "model" / "refit")
    assert refit.resume() and refit.step == 3
    assert refit.sampler.val.rel.size == 0 and validated.sampler.val.rel.size > 0  # the held-out edges are back
    for name, value in refit.final_state().items():
        assert torch.equal(shipped[name], value), name
    assert any(not torch.equal(shipped[k], v) for k, v in validated.final_state().items())


def test_refit_is_skipped_when_nothing_was_held_out(tmp_path):
    graph, _, _ = planted_graph()
    train_graph(graph, _cfg("train.steps=2", "train.val_fraction=0", "train.refit_steps=3"), tmp_path / "model")
    manifest = json.loads((tmp_path / "model" / "manifest.json").read_text())
    assert manifest["summary"]["refit_steps"] == 0 and not (tmp_path / "model" / "refit").exists()
