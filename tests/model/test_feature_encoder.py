from __future__ import annotations

import torch

from rankgraph.config.model import ModelConfig
from rankgraph.model.feature_encoder import FeatureEncoder
from rankgraph.model.schema import GraphSchema
from rankgraph.model.tensors import GraphTensors


def _encoder(graph, **kw):
    torch.manual_seed(0)
    cfg = ModelConfig(dim=8, feature_dim=4, **kw)
    return FeatureEncoder(cfg, GraphSchema.from_graph(graph)), GraphTensors.from_graph(graph)


def test_encoding_selected_nodes_equals_rows_of_encoding_all(graph):
    enc, gt = _encoder(graph)
    all_items = enc.encode("item", gt.features["item"], None, torch.arange(9))
    idx = torch.tensor([7, 2, 2, 0])
    some = enc.encode("item", gt.features["item"], idx, idx)
    torch.testing.assert_close(some, all_items[idx])


def test_type_without_features_gets_an_id_embedding_even_when_ids_are_off(graph):
    enc, _ = _encoder(graph, id_embeddings=False)
    assert enc.types["tag"].id_encoder is not None
    assert enc.types["item"].id_encoder is None
    out = enc.encode("tag", {}, None, torch.arange(4))
    assert out.shape == (4, 8)
    assert not torch.allclose(out[0], out[1])


def test_hashed_id_embedding_has_bucket_rows(graph):
    enc, gt = _encoder(graph, id_hash_buckets=5)
    assert enc.types["user"].id_encoder.emb.num_embeddings == 5
    out = enc.encode("user", gt.features["user"], None, torch.arange(12))
    assert out.shape == (12, 8)


def test_pairwise_products_widen_the_mixer_input(graph):
    with_pairs, _ = _encoder(graph, pairwise_products=True)
    without, _ = _encoder(graph, pairwise_products=False)
    # item: 3 features + id = 4 parts -> 6 pairs
    assert with_pairs.types["item"].mixer[0].in_features == 4 * (4 + 6)
    assert without.types["item"].mixer[0].in_features == 4 * 4


def test_negative_categorical_value_maps_to_the_unknown_row(graph):
    enc, gt = _encoder(graph)
    feat = gt.features["user"]["age"]
    feat.values[0] = -1
    f = enc.types["user"].features["age"]
    torch.testing.assert_close(f(feat, torch.tensor([0]))[0], f.emb.weight[3])
