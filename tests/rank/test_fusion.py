from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import torch

from rankgraph.embed.artifact import EmbeddingSet
from rankgraph.rank.examples import ITEM_OFFSET, make_examples
from rankgraph.rank.fusion import graph_inputs
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


@pytest.mark.parametrize("fusion", ["add", "token", "cross_attention"])
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
