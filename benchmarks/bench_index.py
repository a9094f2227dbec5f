"""Exact vs IVF-Flat vs HNSW: build time, query time and recall against exact search.

Usage: .venv/bin/python benchmarks/bench_index.py [--n 100000] [--dim 64] [--queries 1000]
       [--data clustered|random] [--threads 2]

Prints one line per index: build seconds, query seconds for all queries at k=100,
recall@10 and recall@100 against exact inner product (faiss IndexFlatIP, same run), and
the query-time ratio against exact. Data are unit vectors (a seeded Gaussian mixture by
default; `random` is an isotropic Gaussian, the hardest case for approximate search).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from rankgraph.config.evaluate import IndexConfig
from rankgraph.embed.artifact import l2_normalize
from rankgraph.embed.index import EmbeddingIndex


def make_data(n: int, dim: int, nq: int, kind: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if kind == "random":
        return l2_normalize(rng.normal(size=(n, dim))), l2_normalize(rng.normal(size=(nq, dim)))
    centres = rng.normal(size=(max(n // 100, 1), dim))
    x = centres[rng.integers(0, len(centres), n)] + 0.5 * rng.normal(size=(n, dim))
    q = centres[rng.integers(0, len(centres), nq)] + 0.5 * rng.normal(size=(nq, dim))
    return l2_normalize(x), l2_normalize(q)


def recall(approx: np.ndarray, exact: np.ndarray, k: int) -> float:
    hits = sum(np.intersect1d(a[:k], e[:k]).size for a, e in zip(approx, exact))
    return hits / (exact.shape[0] * k)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--data", choices=["clustered", "random"], default="clustered")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import faiss

    faiss.omp_set_num_threads(args.threads)
    x, q = make_data(args.n, args.dim, args.queries, args.data)
    print(f"n={args.n} dim={args.dim} queries={args.queries} data={args.data} threads={args.threads} faiss={faiss.__version__}")
    # approximate indexes are built once; nprobe / efSearch are query-time knobs
    builds = {
        "exact (IndexFlatIP)": (IndexConfig(kind="exact"), True, [None]),
        "numpy brute force": (IndexConfig(kind="exact"), False, [None]),
        "ivf": (IndexConfig(kind="ivf"), True, [8, 16, 64]),
        "hnsw M=32": (IndexConfig(kind="hnsw"), True, [64, 128, 256]),
    }
    exact_rows = exact_q = None
    for name, (cfg, use_faiss, knobs) in builds.items():
        t0 = time.perf_counter()
        index = EmbeddingIndex(x, cfg, use_faiss=use_faiss)
        build = time.perf_counter() - t0
        for knob in knobs:
            label = name
            if knob is not None:
                fi = index._main.faiss_index
                if cfg.kind == "ivf":
                    fi.nprobe, label = knob, f"ivf nlist={fi.nlist} nprobe={knob}"
                else:
                    fi.hnsw.efSearch, label = knob, f"hnsw M=32 efSearch={knob}"
            t0 = time.perf_counter()
            _, rows = index.search(q, 100)
            query = time.perf_counter() - t0
            if exact_rows is None:
                exact_rows, exact_q = rows, query
            print(
                f"{label:30s} build {build:7.2f} s  query {query:6.3f} s ({query / exact_q:5.2f}x exact)  "
                f"recall@10 {recall(rows, exact_rows, 10):.4f}  recall@100 {recall(rows, exact_rows, 100):.4f}",
                flush=True,
            )

if __name__ == "__main__":
    main()
