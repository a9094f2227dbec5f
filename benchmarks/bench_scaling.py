"""Scaling curves: generate, build, train (mini-batch), embed and index at growing edge counts.

For each target edge count, a synthetic world (`generate_world`, streamed by user chunks)
is sized to give about that many *stored* graph edges (every relation's CSR counted,
reverse relations included, as the graph manifest counts them; 62.1 edges per user
measured at 5,000 users for the config below). Each stage runs in its own subprocess, so
its wall time and peak resident set (the child's VmHWM) are its own:

- `generate`: `generate_world` to Parquet.
- `build`: `build_graph` with the world's config minus the semantic (co-engagement top-k)
  relations: engagement relations and reverses, follows and ad->advertiser side edges,
  node features. DuckDB runs under `graph.memory_limit` (`--memory-limit`).
- `train`: `--steps` mini-batch steps (`model.mode=minibatch`, fan-out 15,10, batch 1024,
  no validation split), then the model artifact. Not a full epoch: the figure is the median
  pairs/s of the steps after 2 warm-up steps, and `epoch_s_extrapolated` is the number of
  training positives divided by it (an epoch = each positive edge once in expectation).
- `init` (optional): an untrained model artifact, so `embed`/`index` can run before `train`.
- `embed`: `export_embeddings` (layer-wise inference of every node, chunked, over the
  memory-mapped graph; L2-normalised; saved artifact).
- `index`: the all-items `EmbeddingIndex` of the artifact (what `Retriever` / `rankgraph serve`
  build for user->item retrieval; default `IndexConfig`: exact below 200,000 rows, IVF-Flat
  above) plus 1,000 user queries at k=100.

The floor printed beside each peak is the bytes of the graph's CSR arrays themselves
(indptr + indices + weight of every relation). Results go to `--json` and a PNG plot.

    .venv/bin/python benchmarks/bench_scaling.py --edges 1000000 10000000 [100000000] \
        --work /tmp/rankgraph-scaling --plot docs/scaling.png --json /tmp/scaling.json
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import child_env, emit_result, load_note, parse_result, peak_rss_mib, run_child

EDGES_PER_USER = 62.1  # stored edges per user of the world below (310,600 at 5,000 users)
STAGES = ("generate", "build", "init", "train", "embed", "index")
DEFAULT_STAGES = ("generate", "build", "train", "embed", "index")


def users_for(edges: int, edges_per_user: float = EDGES_PER_USER) -> int:
    return max(50, math.ceil(edges / edges_per_user))


def scaling_config(
    world: Path, threads: int, memory_limit: str, steps: int, extra: list[str] | None = None
):
    """The world's config without semantic relations, with the train/build settings above."""
    from rankgraph.config import load_config

    sets = [
        f"graph.threads={threads}",
        f"graph.memory_limit={memory_limit}",
        "model.mode=minibatch",
        f"train.steps={steps}",
        "train.val_fraction=0.0",
        "train.log_every=1",
        f"train.checkpoint_every={steps + 1000}",
        f"train.eval_every={steps + 1000}",
        "train.tensorboard=false",
        *(extra or []),
    ]
    cfg = load_config(world / "rankgraph.yaml", sets)
    cfg.graph.semantic = []
    return cfg


def csr_bytes(graph_dir: Path) -> int:
    """Bytes of every relation's CSR arrays on disk (the floor of what the graph occupies)."""
    return sum(p.stat().st_size for p in (graph_dir / "relations").rglob("*.npy"))


# ---------------------------------------------------------------------------------- children
def stage_generate(a: argparse.Namespace) -> dict[str, Any]:
    from rankgraph.data.synthetic import WorldConfig, generate_world

    s = generate_world(Path(a.world), WorldConfig(n_users=a.users, seed=0), force=True)
    return {"events": int(s.events), "users": a.users}


def stage_build(a: argparse.Namespace) -> dict[str, Any]:
    from rankgraph.graph.build import build_graph

    cfg = scaling_config(Path(a.world), a.threads, a.memory_limit, a.steps)
    g = build_graph(cfg, Path(a.graph))
    return {
        "edges": sum(r.num_edges for r in g.relations.values()),
        "nodes": int(sum(g.num_nodes.values())),
        "relations": {n: r.num_edges for n, r in g.relations.items()},
        "csr_bytes": csr_bytes(Path(a.graph)),
    }


def stage_train(a: argparse.Namespace) -> dict[str, Any]:
    import torch

    from rankgraph.graph.store import HeteroGraph
    from rankgraph.train.model_artifact import save_model_artifact
    from rankgraph.train.trainer import Trainer

    torch.set_num_threads(a.torch_threads)
    cfg = scaling_config(Path(a.world), a.threads, a.memory_limit, a.steps)
    graph = HeteroGraph.load(a.graph)
    out = Path(a.model)
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    trainer = Trainer(graph, cfg, out)
    setup = time.perf_counter() - t0
    setup_peak = peak_rss_mib()
    result = trainer.fit()
    save_model_artifact(out, trainer.final_state(), cfg, trainer.schema, a.graph, result.summary())
    rates = [r["pairs_per_s"] for r in result.history if r["step"] > 2] or [
        r["pairs_per_s"] for r in result.history
    ]
    pps = statistics.median(rates)
    n_pos = trainer.sampler.num_train
    params = sum(p.numel() for p in trainer.model.parameters())
    return {
        "setup_s": setup,
        "setup_peak_rss_mib": setup_peak,
        "steps": result.step,
        "pairs_per_s": pps,
        "positives": n_pos,
        "epoch_steps": math.ceil(n_pos / cfg.train.batch_size),
        "epoch_s_extrapolated": n_pos / pps,
        "parameters": params,
        "torch_threads": a.torch_threads,
    }


def stage_init(a: argparse.Namespace) -> dict[str, Any]:
    """An untrained model artifact (seeded init), so `embed` can run before `train`: inference
    costs the same whatever the weights, and at 100M edges the export is the figure that must fit."""
    import torch

    from rankgraph.graph.store import HeteroGraph
    from rankgraph.model.rankgraph_model import RankGraphModel
    from rankgraph.model.schema import GraphSchema
    from rankgraph.train.model_artifact import save_model_artifact

    cfg = scaling_config(Path(a.world), a.threads, a.memory_limit, a.steps)
    schema = GraphSchema.from_graph(HeteroGraph.load(a.graph))
    torch.manual_seed(cfg.train.seed)
    model = RankGraphModel(cfg.model, schema)
    shutil.rmtree(a.model, ignore_errors=True)
    save_model_artifact(a.model, model.state_dict(), cfg, schema, a.graph, {"untrained": True})
    return {"parameters": sum(p.numel() for p in model.parameters())}


def stage_embed(a: argparse.Namespace) -> dict[str, Any]:
    import torch

    from rankgraph.embed.export import export_embeddings
    from rankgraph.graph.store import HeteroGraph
    from rankgraph.train.model_artifact import load_model

    torch.set_num_threads(a.torch_threads)
    graph = HeteroGraph.load(a.graph)
    model, cfg = load_model(a.model)
    if a.chunk:
        cfg.model.inference_chunk = a.chunk
        model.cfg.inference_chunk = a.chunk
    out = Path(a.emb)
    shutil.rmtree(out, ignore_errors=True)
    emb = export_embeddings(graph, model, cfg, out)
    nodes = sum(e.count for e in emb.types.values())
    return {
        "nodes": int(nodes),
        "chunk": int(model.cfg.inference_chunk),
        "embedding_bytes": int(sum(e.vectors.nbytes for e in emb.types.values())),
    }


def stage_index(a: argparse.Namespace) -> dict[str, Any]:
    import faiss
    import numpy as np

    from rankgraph.config.evaluate import IndexConfig
    from rankgraph.embed.artifact import EmbeddingSet
    from rankgraph.embed.index import EmbeddingIndex

    faiss.omp_set_num_threads(a.threads)
    emb = EmbeddingSet.load(a.emb)
    items, _codes, domains = emb.stacked_items(emb.item_types)
    t0 = time.perf_counter()
    index = EmbeddingIndex(items, IndexConfig(), domain=domains)
    build = time.perf_counter() - t0
    users = emb.types[emb.user_type].vectors
    rng = np.random.default_rng(0)
    q = np.asarray(
        users[np.sort(rng.choice(users.shape[0], min(1000, users.shape[0]), replace=False))]
    )
    t0 = time.perf_counter()
    index.search(q, 100)
    return {
        "build_s": build,
        "query_s_1000": time.perf_counter() - t0,
        "items": int(index.n),
        "kind": index.kind,
    }


CHILDREN = {
    "generate": stage_generate,
    "build": stage_build,
    "init": stage_init,
    "train": stage_train,
    "embed": stage_embed,
    "index": stage_index,
}


def child(a: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    res = CHILDREN[a.child](a)
    res["seconds"] = time.perf_counter() - t0
    res["vmhwm_mib"] = peak_rss_mib()
    emit_result(res)


# ------------------------------------------------------------------------------------ parent
def run_stage(
    stage: str, paths: dict[str, Path], a: argparse.Namespace, users: int
) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        stage,
        "--users",
        str(users),
        "--threads",
        str(a.threads),
        "--torch-threads",
        str(a.torch_threads),
        "--memory-limit",
        a.memory_limit,
        "--steps",
        str(a.steps),
        "--chunk",
        str(a.chunk),
        *[x for k, p in paths.items() for x in (f"--{k}", str(p))],
    ]
    run = run_child(
        cmd,
        env=child_env(),
        timeout=a.timeout,
        max_rss_mib=a.max_rss_gb * 1024 if a.max_rss_gb else None,
    )
    res = parse_result(run.stdout)
    if run.returncode != 0 or res is None:
        why = (
            "timeout"
            if run.timed_out
            else f"killed above {a.max_rss_gb} GB RSS"
            if run.killed_for_memory
            else f"rc {run.returncode}"
        )
        print(
            f"   {stage} FAILED ({why}) after {run.wall_s:.0f} s, peak {run.peak_rss_mib:,.0f} MiB:\n"
            f"{run.stderr[-3000:]}",
            flush=True,
        )
        return {
            "failed": why,
            "wall_s": run.wall_s,
            "peak_rss_mib": run.peak_rss_mib,
            "stderr_tail": run.stderr[-3000:],
        }
    res.update(wall_s=run.wall_s, peak_rss_mib=run.peak_rss_mib, cpu_s=run.cpu_s)
    return res


def measure(edges: int, a: argparse.Namespace) -> dict[str, Any]:
    users = users_for(edges, a.edges_per_user)
    root = Path(a.work) / f"e{edges}"
    paths = {
        "world": root / "world",
        "graph": root / "graph",
        "model": root / "model",
        "emb": root / "emb",
    }
    row: dict[str, Any] = {
        "target_edges": edges,
        "users": users,
        "stages": {},
        "load_before": load_note(),
    }
    print(f"== {edges:,} target edges ({users:,} users); {load_note()}", flush=True)
    for stage in a.stages:
        if stage == "generate" and (paths["world"] / "rankgraph.yaml").is_file() and a.reuse:
            print("   generate: reusing the world already in --work", flush=True)
            continue
        res = run_stage(stage, {k: v for k, v in paths.items()}, a, users)
        row["stages"][stage] = res
        if stage == "build" and "edges" in res:
            row.update(edges=res["edges"], nodes=res["nodes"], csr_bytes=res["csr_bytes"])
        if "failed" in res:
            break
        if a.json:  # a partial record survives a run that is stopped before the end
            Path(a.json + ".partial").write_text(json.dumps(row, indent=2))
        extra = ""
        if stage == "build":
            extra = (
                f", {res['edges']:,} edges, {res['nodes']:,} nodes, CSR {res['csr_bytes'] / 2**20:,.0f} MiB"
                f" ({res['csr_bytes'] / res['edges']:.2f} B/edge)"
            )
        elif stage == "generate":
            extra = f", {res['events']:,} events"
        elif stage == "embed":
            extra = f", {res['nodes']:,} nodes exported"
        elif stage == "index":
            extra = f", {res['items']:,} items, {res['kind']} index, build {res['build_s']:.1f} s"
        elif stage == "train":
            extra = (
                f", {res['pairs_per_s']:,.0f} pairs/s, {res['positives']:,} positives -> epoch "
                f"~{res['epoch_s_extrapolated']:,.0f} s extrapolated"
            )
        print(
            f"   {stage}: {res['wall_s']:.1f} s wall, {res['cpu_s']:.1f} s CPU, peak RSS {res['peak_rss_mib']:,.0f} MiB"
            f"{extra}",
            flush=True,
        )
    if "edges" not in row and (paths["graph"] / "manifest.json").is_file():
        m = json.loads((paths["graph"] / "manifest.json").read_text())
        row.update(
            edges=sum(v["edges"] for v in m["relations"].values()),
            csr_bytes=csr_bytes(paths["graph"]),
        )
    row["load_after"] = load_note()
    if not a.keep:
        for k in ("world", "model", "emb", "graph"):
            shutil.rmtree(paths[k], ignore_errors=True)
    return row


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Wall time and peak RSS of each stage against stored edges (log-log), with the CSR floor."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r.get("edges")]
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(11, 4.2))
    for stage in STAGES:
        pts = [
            (r["edges"], r["stages"][stage])
            for r in rows
            if stage in r["stages"] and "failed" not in r["stages"][stage]
        ]
        if not pts:
            continue
        x = [p[0] for p in pts]
        ax_t.plot(x, [p[1]["wall_s"] for p in pts], "o-", label=stage)
        ax_m.plot(x, [p[1]["peak_rss_mib"] / 1024 for p in pts], "o-", label=stage)
    x = [r["edges"] for r in rows]
    ax_m.plot(x, [r["csr_bytes"] / 2**30 for r in rows], "k--", label="CSR arrays (floor)")
    for ax, label in ((ax_t, "wall seconds (2 shared cores)"), (ax_m, "peak RSS, GiB")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("stored graph edges")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    ax_t.set_title("time per stage (train: fixed steps, not an epoch)")
    ax_m.set_title("peak memory per stage")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--edges", type=int, nargs="*", default=[1_000_000, 10_000_000])
    ap.add_argument("--work", default="/tmp/rankgraph-scaling")
    ap.add_argument(
        "--stages",
        default=",".join(DEFAULT_STAGES),
        help=f"in order, from {STAGES}; 'init' writes an untrained model so embed can precede train",
    )
    ap.add_argument(
        "--steps", type=int, default=20, help="mini-batch steps timed (throughput, not an epoch)"
    )
    ap.add_argument("--threads", type=int, default=2, help="DuckDB and FAISS threads")
    ap.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="torch intra-op threads of train/embed (2 on 2 busy cores ran ~9x slower, docs/benchmarks.md)",
    )
    ap.add_argument("--memory-limit", default="8GB", help="DuckDB memory_limit of the build")
    ap.add_argument(
        "--chunk", type=int, default=0, help="inference chunk (0: model.inference_chunk)"
    )
    ap.add_argument("--timeout", type=float, default=None, help="seconds per stage")
    ap.add_argument(
        "--edges-per-user", type=float, default=EDGES_PER_USER, help="sizes the world (calibrate)"
    )
    ap.add_argument(
        "--max-rss-gb", type=float, default=None, help="kill a stage whose RSS passes this"
    )
    ap.add_argument("--keep", action="store_true", help="keep worlds/graphs/models in --work")
    ap.add_argument(
        "--reuse", action="store_true", help="reuse a world already generated in --work"
    )
    ap.add_argument("--json", default=None)
    ap.add_argument(
        "--merge", nargs="*", default=[], help="earlier --json outputs to include in the table/plot"
    )
    ap.add_argument("--plot", default=None, help="PNG path for the cost-vs-size plot")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    for k in ("world", "graph", "model", "emb"):
        ap.add_argument(f"--{k}", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--users", type=int, default=0, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a)
        return
    a.stages = [s.strip() for s in a.stages.split(",") if s.strip()]
    if bad := [s for s in a.stages if s not in STAGES]:
        ap.error(f"unknown stages {bad}; known: {STAGES}")
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rows = [r for path in a.merge for r in json.loads(Path(path).read_text())["rows"]]
    rows += [measure(e, a) for e in a.edges]
    rows.sort(key=lambda r: r.get("edges", r["target_edges"]))
    print(
        "\n| stored edges | stage | wall s | CPU s | peak RSS MiB | peak bytes/edge | CSR floor MiB | peak / floor |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        e, floor = r.get("edges", 0), r.get("csr_bytes", 0)
        for stage, s in r["stages"].items():
            if "failed" in s:
                print(
                    f"| {e:,} | {stage} | FAILED ({s['failed']}) after {s['wall_s']:.0f} s | | {s['peak_rss_mib']:,.0f} | | | |"
                )
                continue
            per = s["peak_rss_mib"] * 2**20 / e if e else float("nan")
            ratio = s["peak_rss_mib"] * 2**20 / floor if floor else float("nan")
            print(
                f"| {e:,} | {stage} | {s['wall_s']:.1f} | {s['cpu_s']:.1f} | {s['peak_rss_mib']:,.0f} | {per:.1f} | "
                f"{floor / 2**20:,.0f} | {ratio:.2f} |"
            )
    doc = {
        "started": started,
        "threads": a.threads,
        "torch_threads": a.torch_threads,
        "steps": a.steps,
        "memory_limit": a.memory_limit,
        "rows": rows,
    }
    if a.json:
        Path(a.json).write_text(json.dumps(doc, indent=2))
    if a.plot:
        plot(rows, Path(a.plot))
        print(f"plot: {a.plot}")
    emit_result(doc)


if __name__ == "__main__":
    main()
