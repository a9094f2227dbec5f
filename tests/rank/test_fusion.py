from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import torch

from rankgraph.embed.artifact import EmbeddingSet
from rankgraph.rank.examples import ITEM_OFFSET, make_examples
from rankgraph.rank.fusion import GraphInputs, SimilarityFusion, graph_inputs
from rankgraph.rank.train import ExampleTensors, make_model
from rank_worlds import CUT, connect, planted_events, small_config


@pytest.fixture(scope="module")
def data():
    return make_examples(connect(planted_events()), CUT, small_config().examples)


def embeddings(data, seed: int, dim: int = 8) -> EmbeddingSet:
    """Random unit embeddings for every user and item of the world (ids from the events)."""
    rng = np.random.default_rng(seed)
    ev = planted_events()
    ids = {"user": np.unique(ev.column("user_id").to_numpy())}
    for t in ("post", "ad"):
        mask = np.asarray(ev.column("item_type").to_pylist()) == t
        ids[t] = np.unique(ev.column("item_id").to_numpy()[mask])
    return EmbeddingSet.from_raw({t: rng.normal(size=(len(v), dim)) for t, v in ids.items()}, ids)


def outputs(model, data, graph):
    te = ExampleTensors.from_examples(data.test)
    model.eval()
    with torch.no_grad():
        cl, cv = model(te.batch(torch.arange(len(te))), graph)
    return torch.cat([cl, cv])


def test_none_ignores_graph_inputs(data):
    cfg = small_config()
    a, b = graph_inputs(embeddings(data, 1), data.vocab, 4), graph_inputs(embeddings(data, 2), data.vocab, 4)
    model = make_model(cfg, data.vocab, "none", None, seed=0)
    torch.testing.assert_close(outputs(model, data, a), outputs(model, data, b), rtol=0, atol=0)
    torch.testing.assert_close(outputs(model, data, a), outputs(model, data, None), rtol=0, atol=0)


@pytest.mark.parametrize("fusion", ["add", "token", "cross_attention", "similarity"])
def test_fusion_reads_the_embeddings(data, fusion):
    cfg = small_config()
    a, b = graph_inputs(embeddings(data, 1), data.vocab, 4), graph_inputs(embeddings(data, 2), data.vocab, 4)
    model = make_model(cfg, data.vocab, fusion, a, seed=0)
    diff = (outputs(model, data, a) - outputs(model, data, b)).abs()
    assert diff.max() > 1e-4


def test_graph_inputs_align_rows_by_id_not_by_position(data):
    emb = embeddings(data, 3)
    g = graph_inputs(emb, data.vocab, 4)
    perm = np.random.default_rng(0).permutation(emb.types["post"].count)
    shuffled = EmbeddingSet.from_raw(
        {t: (np.asarray(n.vectors)[perm] if t == "post" else np.asarray(n.vectors)) for t, n in emb.types.items()},
        {t: (n.ids.take(pa.array(perm)) if t == "post" else n.ids) for t, n in emb.types.items()},
    )
    h = graph_inputs(shuffled, data.vocab, 4)
    torch.testing.assert_close(g.item_vecs, h.item_vecs)
    torch.testing.assert_close(g.user_vecs, h.user_vecs)
    # an item row is its own embedding: vocab row 0's vector is the embedding of its id
    t, i = data.vocab.item_type[0].as_py(), data.vocab.item_id[0].as_py()
    row = emb.types[t].ids.to_pylist().index(i)
    np.testing.assert_allclose(g.item_vecs[ITEM_OFFSET].numpy(), np.asarray(emb.types[t].vectors)[row])


def test_neighbours_are_the_users_nearest_items(data):
    g = graph_inputs(embeddings(data, 4), data.vocab, 4)
    u = 1
    scores = g.item_vecs[ITEM_OFFSET:] @ g.user_vecs[u]
    expect = torch.topk(scores, 4).indices + ITEM_OFFSET
    assert set(g.user_neighbours[u].tolist()) == set(expect.tolist())


def test_similarity_features_by_hand():
    """Cosines in graph space: unknown (zero) vectors and padding are left out of every pool."""
    e = torch.eye(4)
    v = torch.tensor([0.6, 0.8, 0.0, 0.0])
    # items: 0 pad, 1 oov (zero), 2 = e0, 3 = e1, 4 = v, 5 = e2
    items = torch.stack([torch.zeros(4), torch.zeros(4), e[0], e[1], v, e[2]])
    users = torch.stack([torch.zeros(4), e[1]])
    g = GraphInputs(items, users, torch.zeros(2, 1, dtype=torch.long))
    batch = {
        "user": torch.tensor([1, 0]),
        "hist_item": torch.tensor([[0, 2, 1, 3], [0, 0, 0, 5]]),
        "hist_event": torch.tensor([[0, 2, 2, 3], [0, 0, 0, 2]]),
        "hist_gap": torch.tensor([[0, 3, 2, 1], [0, 0, 0, 1]]),
        "hist_domain": torch.tensor([[0, 1, 1, 2], [0, 0, 0, 1]]),
        "cand_item": torch.tensor([4, 1]),
        "cand_domain": torch.tensor([1, 2]),
    }
    fusion = SimilarityFusion(8, 4, 2, 0.0, n_events=5, n_gaps=4)
    f = fusion.match_features(batch, g).detach()
    s_user, s_max, s_mean, s_recent, s_same, s_attn, known, has_cand, has_user = f.T
    # example 0: candidate v; known history e0 (0.6, domain 1) and e1 (0.8, domain 2); user e1
    torch.testing.assert_close(f[0, :5], torch.tensor([0.8, 0.8, 0.7, 0.7, 0.6]))
    assert 0.6 < float(s_attn[0]) <= 0.8  # a softmax pool of 0.6 and 0.8
    torch.testing.assert_close(f[0, 6:], torch.tensor([0.5, 1.0, 1.0]))
    # example 1: unknown user and candidate (zero vectors): every similarity is 0, no NaN
    torch.testing.assert_close(f[1], torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 0.0, 0.0]))


def test_history_match_features_by_hand():
    """Occurrences of the candidate in the history, and id cosines over non-padding items only."""
    from rankgraph.rank.model import HistoryMatch

    item = torch.nn.Embedding(6, 2, padding_idx=0)
    with torch.no_grad():
        item.weight.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 3.0], [1.0, 0.0], [-1.0, 0.0]]))
    hist = torch.tensor([[0, 2, 3, 2], [0, 0, 0, 5]])
    cand = torch.tensor([2, 4])
    f = HistoryMatch(4).features(hist, cand, item).detach()
    # row 0: candidate 2 is 2 of the 3 known items; cosines to (2, 3, 2) = (1, 0.707, 1)
    torch.testing.assert_close(f[0, :3], torch.tensor([2 / 3, 1.0, 1.0]))
    # row 1: candidate 4 = (1, 0) never seen; its only known history item 5 = (-1, 0): cosine -1
    torch.testing.assert_close(f[1], torch.tensor([0.0, 0.0, -1.0, -1.0]))
    assert HistoryMatch(4).features(hist, cand, None)[:, 2:].abs().sum() == 0  # no id embeddings: no cosines
