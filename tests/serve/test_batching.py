"""The micro-batcher answers exactly what single searches answer, in fewer index calls."""

from __future__ import annotations

import numpy as np
import pytest

from rankgraph.config.evaluate import IndexConfig
from rankgraph.embed.artifact import l2_normalize
from rankgraph.embed.index import EmbeddingIndex
from rankgraph.serve.batching import MicroBatcher


@pytest.fixture
def index() -> EmbeddingIndex:
    return EmbeddingIndex(l2_normalize(np.random.default_rng(0).normal(size=(300, 8))), IndexConfig(kind="exact"))


def test_batched_results_equal_single_searches(index):
    q = l2_normalize(np.random.default_rng(1).normal(size=(12, 8)))
    sizes: list[int] = []
    batcher = MicroBatcher(window_s=0.2, max_batch=64, on_batch=sizes.append)
    try:
        ks = [1 + (i * 7) % 20 for i in range(12)]
        excl = [np.arange(i, i + 3 * (i % 4)) for i in range(12)]
        futs = [batcher.submit(index, q[i], ks[i], exclude=excl[i]) for i in range(12)]
        got = [f.result(timeout=10) for f in futs]
    finally:
        batcher.close()
    for i, (s, r) in enumerate(got):
        es, er = index.search(q[i : i + 1], ks[i], exclude=[excl[i]])
        np.testing.assert_array_equal(r, er[0])
        np.testing.assert_allclose(s, es[0], atol=1e-6)
    assert max(sizes) > 1 and sum(sizes) == 12


def test_batches_are_split_by_filter(index):
    labels = np.where(np.arange(index.n) % 2 == 0, "even", "odd").astype(object)
    labelled = EmbeddingIndex(index.vectors, IndexConfig(kind="exact"), domain=labels)
    sizes: list[int] = []
    batcher = MicroBatcher(window_s=0.2, on_batch=sizes.append)
    try:
        futs = [batcher.submit(labelled, index.vectors[i], 5, domain=d) for i, d in enumerate(["even", "odd"] * 3)]
        rows = [f.result(timeout=10)[1] for f in futs]
    finally:
        batcher.close()
    for i, r in enumerate(rows):
        assert (r % 2 == i % 2).all()
    assert sorted(sizes) == [3, 3]


def test_a_failing_search_fails_every_request_of_its_batch(index):
    batcher = MicroBatcher(window_s=0.2)
    try:
        futs = [batcher.submit(index, np.ones(3, np.float32), 5) for _ in range(3)]  # wrong dimension
        for f in futs:
            with pytest.raises(Exception, match="queries must be"):
                f.result(timeout=10)
        ok = batcher.submit(index, index.vectors[0], 2).result(timeout=10)  # the worker survives
    finally:
        batcher.close()
    assert ok[1][0] == 0
