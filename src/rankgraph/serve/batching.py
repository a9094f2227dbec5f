"""Micro-batching: concurrent searches on one index answered by a single FAISS call.

A flat inner-product search of q queries is one matrix product (faiss switches to BLAS from
20 queries up), so 16 queries cost far less than 16 single searches; HNSW/IVF gain less
but still share the OpenMP fan-out. One worker thread owns the searches: it takes the
first queued job, then everything else already queued (and, with a window, what arrives
within it), groups the jobs by (index, domain, item type), and runs one `search` per
group with k = the largest k asked and each job's exclusions as one CSR. Under light load
a job is searched alone and waits for nothing; under heavy load batches grow by
themselves. Results are identical to single searches for exact indexes (each query's
top-k is a prefix of its top-k_max).
"""

from __future__ import annotations

import concurrent.futures
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from rankgraph.embed.index import EmbeddingIndex


@dataclass
class _Job:
    index: EmbeddingIndex
    query: np.ndarray  # float32 [E]
    k: int
    exclude: np.ndarray  # int64 rows never to return
    domain: Any
    item_type: Any
    future: concurrent.futures.Future


def search_group(jobs: list[_Job]) -> None:
    """Run one search for jobs that share index and filters; set each job's future."""
    head = jobs[0]
    try:
        q = np.stack([j.query for j in jobs]).astype(np.float32, copy=False)
        k = max(j.k for j in jobs)
        lens = np.fromiter((j.exclude.size for j in jobs), dtype=np.int64, count=len(jobs))
        indptr = np.concatenate([[0], np.cumsum(lens)])
        indices = np.concatenate([j.exclude for j in jobs]) if lens.sum() else np.zeros(0, np.int64)
        scores, rows = head.index.search(q, k, exclude=(indptr, indices), domain=head.domain, item_type=head.item_type)
    except BaseException as exc:  # noqa: BLE001 - every waiting request gets the error
        for j in jobs:
            j.future.set_exception(exc)
        return
    for i, j in enumerate(jobs):
        j.future.set_result((scores[i, : j.k], rows[i, : j.k]))


class MicroBatcher:
    """A worker thread that batches `submit`ted searches (see the module docstring).

    `on_start` runs first in the worker thread: OpenMP settings such as
    `faiss.omp_set_num_threads` apply to the calling thread only, so they must be set there.
    """

    def __init__(
        self,
        *,
        window_s: float = 0.0,
        max_batch: int = 64,
        on_batch: Callable[[int], None] | None = None,
        on_start: Callable[[], None] | None = None,
    ) -> None:
        self._on_start = on_start
        self.window_s = max(0.0, window_s)
        self.max_batch = max(1, max_batch)
        self._on_batch = on_batch
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="rankgraph-batcher", daemon=True)
        self._thread.start()

    def submit(
        self,
        index: EmbeddingIndex,
        query: np.ndarray,
        k: int,
        *,
        exclude: np.ndarray | None = None,
        domain: Any = None,
        item_type: Any = None,
    ) -> concurrent.futures.Future:
        """Queue one search; the future resolves to (scores [k], rows [k]) or the search's error."""
        if self._closed:
            raise RuntimeError("batcher is closed")
        fut: concurrent.futures.Future = concurrent.futures.Future()
        excl = np.zeros(0, np.int64) if exclude is None else np.asarray(exclude, dtype=np.int64).ravel()
        self._queue.put(_Job(index, np.asarray(query, dtype=np.float32).ravel(), int(k), excl, domain, item_type, fut))
        return fut

    def _collect(self, first: _Job) -> list[_Job]:
        batch = [first]
        deadline = time.perf_counter() + self.window_s
        while len(batch) < self.max_batch:
            try:
                remaining = deadline - time.perf_counter()
                job = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                self._queue.put(None)  # let the loop see the stop signal after this batch
                break
            batch.append(job)
        return batch

    def _run(self) -> None:
        if self._on_start:
            self._on_start()  # e.g. FAISS's OpenMP thread count, which is per calling thread
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = self._collect(first)
            groups: dict[tuple[int, Any, Any], list[_Job]] = {}
            for j in batch:
                groups.setdefault((id(j.index), j.domain, j.item_type), []).append(j)
            for jobs in groups.values():
                if self._on_batch:
                    self._on_batch(len(jobs))
                search_group(jobs)

    def close(self) -> None:
        """Finish queued jobs, then stop the worker."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join(timeout=10)
