"""Load test of `rankgraph serve`: /recommend k=100 over a real uvicorn, against in-process scoring.

Usage: .venv/bin/python benchmarks/bench_serve.py [--users 10000] [--items 100000] [--dim 64]
       [--requests 2000] [--concurrency 1,8] [--threads 1] [--index exact|hnsw]
       [--modes unbatched,batched]

Writes a random-unit-embeddings artifact (two item types) to a temp dir, starts
`rankgraph serve` as a subprocess on a free 127.0.0.1 port (one per batching mode), and
fires a bounded number of POST /recommend {user_id, k=100} from `concurrency` asyncio
workers (httpx). Prints requests/s, p50/p99 latency, the error count and the server's and
client's CPU time per request per run, and as the reference the in-process time of the same
search (`EmbeddingIndex.search`, one query, k=100; and the cost per query when 16 or 64
queries share one call, what the batcher does) measured in this run. The client runs on the same cores as the server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from rankgraph.config.evaluate import IndexConfig
from rankgraph.embed.artifact import EmbeddingSet


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_artifact(root: Path, users: int, items: int, dim: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    half = items // 2
    vectors = {"user": rng.normal(size=(users, dim)), "post": rng.normal(size=(half, dim)), "video": rng.normal(size=(items - half, dim))}
    ids = {"user": np.arange(users), "post": np.arange(half), "video": np.arange(items - half)}
    return EmbeddingSet.from_raw(vectors, ids).save(root / "emb")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to report CPU per request."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile_ms(lat: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(lat) * 1000, q)) if lat else float("nan")


def in_process(path: Path, index_cfg: IndexConfig, threads: int, n: int, seed: int = 1) -> dict[str, float]:
    """Latency of the service's search done directly: one query, k=100 (the reference)."""
    import faiss

    from rankgraph.embed.index import Retriever

    faiss.omp_set_num_threads(threads)
    emb = EmbeddingSet.load(path)
    t0 = time.perf_counter()
    ret = Retriever(emb, index_cfg)
    build = time.perf_counter() - t0
    users = np.random.default_rng(seed).integers(0, emb.types["user"].count, n)
    lat = []
    for u in users:
        t = time.perf_counter()
        ret.items.search(np.asarray(ret.users.vectors[u : u + 1]), 100)
        lat.append(time.perf_counter() - t)
    per_query = {}  # ms per query when `b` queries share one search call (best of 5)
    for b in (1, 16, 64):
        q = np.asarray(ret.users.vectors[users[:b]])
        best = min(_timed(ret.items.search, q, 100) for _ in range(5))
        per_query[b] = best * 1000 / b
    return {"p50": percentile_ms(lat, 50), "p99": percentile_ms(lat, 99), "per_query": per_query, "build_s": build, "kind": ret.items.kind}


def _timed(fn, *args) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


async def load(url: str, server_pid: int, n_users: int, requests: int, concurrency: int, seed: int) -> dict[str, float]:
    import httpx

    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, requests).tolist()
    lat: list[float] = []
    errors = 0
    next_i = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal next_i, errors
        while next_i < len(users):
            u = users[next_i]
            next_i += 1
            t = time.perf_counter()
            try:
                r = await client.post(url + "/recommend", json={"user_id": u, "k": 100})
                ok = r.status_code == 200 and len(r.json()["items"]) == 100
            except httpx.HTTPError:
                ok = False
            lat.append(time.perf_counter() - t)
            errors += not ok

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        for _ in range(20):  # warm-up: connections, lazy imports
            await client.post(url + "/recommend", json={"user_id": 0, "k": 100})
        t0, c0 = time.perf_counter(), time.process_time()
        s0 = cpu_seconds(server_pid)
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - t0
        server_cpu, client_cpu = cpu_seconds(server_pid) - s0, time.process_time() - c0
    n = len(lat)
    return {
        "rps": n / wall, "p50": percentile_ms(lat, 50), "p99": percentile_ms(lat, 99), "errors": errors, "n": n,
        "server_cpu_ms": server_cpu / n * 1000, "client_cpu_ms": client_cpu / n * 1000,
    }


def start_server(emb: Path, port: int, threads: int, index: str, batched: bool) -> subprocess.Popen:
    cmd = [
        sys.executable, "-m", "rankgraph.cli.main", "serve", "--embeddings", str(emb), "--port", str(port),
        "--threads", str(threads), "--log-level", "warning", "--set", f"evaluate.index.kind={index}",
    ]
    cmd.append("--batching" if batched else "--no-batching")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(os.environ))
    import httpx

    deadline = time.time() + 600
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start in 600 s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", default="1,8")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--index", choices=["exact", "hnsw", "ivf"], default="exact")
    ap.add_argument("--modes", default="unbatched,batched")
    args = ap.parse_args()
    import faiss

    print(
        f"users={args.users} items={args.items} dim={args.dim} k=100 requests={args.requests} "
        f"index={args.index} threads={args.threads} cores={os.cpu_count()} faiss={faiss.__version__} "
        f"load={os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        emb = make_artifact(Path(tmp), args.users, args.items, args.dim)
        ref = in_process(emb, IndexConfig(kind=args.index), args.threads, 500)
        print(
            f"in-process search ({ref['kind']}, 1 query, k=100): p50 {ref['p50']:.2f} ms, p99 {ref['p99']:.2f} ms; "
            f"per query in one call of 1/16/64 queries (best of 5): "
            f"{' / '.join(f'{v:.2f}' for v in ref['per_query'].values())} ms; index build {ref['build_s']:.1f} s"
        )
        print("| mode | concurrency | requests | req/s | p50 ms | p99 ms | errors | server CPU ms/req | client CPU ms/req |")
        print("|---|---|---|---|---|---|---|---|---|")
        for mode in args.modes.split(","):
            port = free_port()
            proc = start_server(emb, port, args.threads, args.index, mode == "batched")
            try:
                for c in (int(x) for x in args.concurrency.split(",")):
                    res = asyncio.run(load(f"http://127.0.0.1:{port}", proc.pid, args.users, args.requests, c, seed=c))
                    print(
                        f"| {mode} | {c} | {res['n']} | {res['rps']:.0f} | {res['p50']:.2f} | {res['p99']:.2f} | "
                        f"{res['errors']} | {res['server_cpu_ms']:.2f} | {res['client_cpu_ms']:.2f} |",
                        flush=True,
                    )
                if mode == "batched":
                    import httpx

                    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
                    vals = dict(line.rsplit(" ", 1) for line in text.splitlines() if line.startswith("rankgraph_search_batch_size_"))
                    count, total = float(vals["rankgraph_search_batch_size_count"]), float(vals["rankgraph_search_batch_size_sum"])
                    print(f"(batched server: {total:.0f} searches in {count:.0f} FAISS calls, mean batch {total / max(count, 1):.2f})")
            finally:
                proc.terminate()
                proc.wait(timeout=30)


if __name__ == "__main__":
    main()
