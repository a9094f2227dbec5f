from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from rankgraph.capabilities import WITH_FAISS
from rankgraph.config.evaluate import IndexConfig
from rankgraph.embed.artifact import EmbeddingSet, l2_normalize
from rankgraph.embed.index import EmbeddingIndex, Retriever, measure_recall, top_k

needs_faiss = pytest.mark.skipif(not WITH_FAISS, reason="faiss not installed")


def _unit(n: int, d: int, seed: int) -> np.ndarray:
    return l2_normalize(np.random.default_rng(seed).normal(size=(n, d)))


def _brute(x, q, k):
    s = q @ x.T
    rows = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(s, rows, 1), rows


@pytest.mark.parametrize("use_faiss", [pytest.param(True, marks=needs_faiss), False])
def test_exact_index_equals_brute_force(use_faiss):
    x, q = _unit(500, 16, 0), _unit(40, 16, 1)
    scores, rows = EmbeddingIndex(x, IndexConfig(kind="exact"), use_faiss=use_faiss).search(q, 10)
    bs, br = _brute(x, q, 10)
    np.testing.assert_array_equal(rows, br)
    np.testing.assert_allclose(scores, bs, atol=1e-5)


def test_top_k_breaks_ties_by_lower_row():
    s = np.array([[1.0, 3.0, 3.0, 0.5, 3.0]])
    assert top_k(s, 2)[1].tolist() == [[1, 2]]


def test_top_k_pads_when_k_exceeds_rows():
    scores, rows = top_k(np.array([[0.2, -np.inf, 0.9]]), 4)
    assert rows.tolist() == [[2, 0, -1, -1]]
    assert np.isneginf(scores[0, 2:]).all()


@pytest.mark.parametrize(
    "kind", [pytest.param("ivf", marks=needs_faiss), pytest.param("hnsw", marks=needs_faiss)]
)
def test_approximate_index_recall_is_high(kind):
    x, q = _unit(4000, 16, 2), _unit(100, 16, 3)
    cfg = IndexConfig(kind=kind, ivf_nprobe=32, hnsw_ef_search=128)
    index = EmbeddingIndex(x, cfg)
    assert index.kind == kind
    assert measure_recall(index, q, 10) >= 0.9


@pytest.mark.parametrize(
    "kind,use_faiss",
    [
        ("exact", False),
        pytest.param("exact", True, marks=needs_faiss),
        pytest.param("ivf", True, marks=needs_faiss),
        pytest.param("hnsw", True, marks=needs_faiss),
    ],
)
def test_excluded_rows_are_never_returned(kind, use_faiss):
    x, q = _unit(2000, 8, 4), _unit(30, 8, 5)
    _, top = EmbeddingIndex(x, IndexConfig(kind="exact"), use_faiss=False).search(q, 50)
    exclude = [top[i, : 20 + i] for i in range(30)]  # the best rows, which a plain search returns
    _, rows = EmbeddingIndex(x, IndexConfig(kind=kind, batch=7), use_faiss=use_faiss).search(q, 10, exclude=exclude)
    for i in range(30):
        assert not np.isin(rows[i], exclude[i]).any()
    assert (rows >= 0).all()


def test_exclusion_accepts_a_csr_matrix():
    x = np.eye(4, dtype=np.float32)
    q = np.array([[1, 0.5, 0, 0], [0, 0, 1, 0.9]], np.float32)
    excl = sp.csr_array(np.array([[1, 0, 0, 0], [0, 0, 1, 0]]))
    _, rows = EmbeddingIndex(x, use_faiss=False).search(q, 1, exclude=excl)
    assert rows.tolist() == [[1], [3]]


@pytest.mark.parametrize("use_faiss", [pytest.param(True, marks=needs_faiss), False])
def test_domain_filter_returns_only_that_domain(use_faiss):
    x, q = _unit(300, 8, 6), _unit(10, 8, 7)
    dom = np.where(np.arange(300) % 3 == 0, "a", "b")
    idx = EmbeddingIndex(x, IndexConfig(kind="exact"), domain=dom, use_faiss=use_faiss)
    _, rows = idx.search(q, 5, domain="a", exclude=[np.arange(0, 30, 3)] * 10)
    assert (rows % 3 == 0).all() and (rows >= 30).all()
    sub = np.flatnonzero(dom == "a")
    _, br = _brute(x[sub[sub >= 30]], q, 5)
    np.testing.assert_array_equal(rows, sub[sub >= 30][br])


def test_retriever_item_neighbours_exclude_the_item_itself():
    rng = np.random.default_rng(8)
    emb = EmbeddingSet.from_raw(
        {"user": rng.normal(size=(6, 4)), "post": rng.normal(size=(5, 4)), "video": rng.normal(size=(4, 4))},
        {"user": list(range(6)), "post": list(range(5)), "video": list(range(4))},
    )
    r = Retriever(emb, IndexConfig(kind="exact"))
    _, nbr = r.item_to_item(np.arange(9), 3)
    assert not (nbr == np.arange(9)[:, None]).any()
    _, vids = r.user_to_item(np.arange(6), 2, item_type="video")
    assert (vids >= r.global_rows("video", [0])[0]).all()
    _, users = r.user_to_user(np.arange(6), 2)
    assert not (users == np.arange(6)[:, None]).any()
