"""The micro-batcher answers exactly what single searches answer, in fewer index calls."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from rankgraph.config.evaluate import IndexConfig
from rankgraph.embed.artifact import l2_normalize
from rankgraph.embed.index import EmbeddingIndex
from rankgraph.serve.batching import MicroBatcher


class GateIndex:
    """An index whose search waits for `open`: while it blocks the batcher's worker, the
    requests submitted meanwhile queue up and are taken as one batch (deterministically)."""

    def __init__(self, inner: EmbeddingIndex) -> None:
        self.inner, self.open = inner, threading.Event()

    def search(self, *args, **kwargs):
        assert self.open.wait(10)
        return self.inner.search(*args, **kwargs)


def hold(batcher: MicroBatcher, index: EmbeddingIndex) -> GateIndex:
    gate = GateIndex(index)
    batcher.submit(gate, index.vectors[0], 1)
    return gate


@pytest.fixture
def index() -> EmbeddingIndex:
    return EmbeddingIndex(l2_normalize(np.random.default_rng(0).normal(size=(300, 8))), IndexConfig(kind="exact"))


def test_batched_results_equal_single_searches(index):
    q = l2_normalize(np.random.default_rng(1).normal(size=(12, 8)))
    sizes: list[int] = []
    batcher = MicroBatcher(max_batch=64, on_batch=sizes.append)
    try:
        gate = hold(batcher, index)
        ks = [1 + (i * 7) % 20 for i in range(12)]
        excl = [np.arange(i, i + 3 * (i % 4)) for i in range(12)]
        futs = [batcher.submit(index, q[i], ks[i], exclude=excl[i]) for i in range(12)]
        gate.open.set()
        got = [f.result(timeout=10) for f in futs]
    finally:
        batcher.close()
    for i, (s, r) in enumerate(got):
        es, er = index.search(q[i : i + 1], ks[i], exclude=[excl[i]])
        np.testing.assert_array_equal(r, er[0])
        np.testing.assert_allclose(s, es[0], atol=1e-6)
    assert sizes == [1, 12]  # the held search, then every queued one in one call


def test_batches_are_split_by_filter(index):
    labels = np.where(np.arange(index.n) % 2 == 0, "even", "odd").astype(object)
    labelled = EmbeddingIndex(index.vectors, IndexConfig(kind="exact"), domain=labels)
    sizes: list[int] = []
    batcher = MicroBatcher(on_batch=sizes.append)
    try:
        gate = hold(batcher, index)
        futs = [batcher.submit(labelled, index.vectors[i], 5, domain=d) for i, d in enumerate(["even", "odd"] * 3)]
        gate.open.set()
        rows = [f.result(timeout=10)[1] for f in futs]
    finally:
        batcher.close()
    for i, r in enumerate(rows):
        assert (r % 2 == i % 2).all()
    assert sizes == [1, 3, 3]


def test_a_failing_search_fails_every_request_of_its_batch(index):
    sizes: list[int] = []
    batcher = MicroBatcher(on_batch=sizes.append)
    try:
        gate = hold(batcher, index)
        futs = [batcher.submit(index, np.ones(3, np.float32), 5) for _ in range(3)]  # wrong dimension
        gate.open.set()
        for f in futs:
            with pytest.raises(Exception, match="queries must be"):
                f.result(timeout=10)
        ok = batcher.submit(index, index.vectors[0], 2).result(timeout=10)  # the worker survives
    finally:
        batcher.close()
    assert ok[1][0] == 0 and sizes[:2] == [1, 3]


def test_window_gathers_requests_arriving_after_the_first(index):
    sizes: list[int] = []
    batcher = MicroBatcher(window_s=5.0, max_batch=3, on_batch=sizes.append)
    try:
        futs = []
        for i in range(3):
            futs.append(batcher.submit(index, index.vectors[i], 2))
            time.sleep(0.05)
        [f.result(timeout=10) for f in futs]
    finally:
        batcher.close()
    assert sizes == [3]  # max_batch reached before the 5 s window closed
