"""The ranker's end-to-end comparison: leak-free graph embeddings, examples, sweep, report.

`graph_embeddings` builds the graph from events strictly before ``val_start`` (the start of
the ranker's training window), trains RankGraph on it and exports every node's embedding,
so neither train nor test candidates can see their own label through the graph.
`compare` runs every fusion variant over the seeds and writes ``report.json`` and
``report.md`` atomically. `correlate` asks whether offline retrieval quality predicts the
ranker's gain: for several embedding variants it relates Engagement Recall@K to the NE lift
each fusion variant gets from them.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from rankgraph.artifact import atomic_dir, write_manifest
from rankgraph.config.base import to_dict
from rankgraph.config.rank import RankConfig
from rankgraph.config.root import RankGraphConfig
from rankgraph.data.events import open_events
from rankgraph.embed.artifact import EmbeddingSet
from rankgraph.rank.examples import RankData, make_examples
from rankgraph.rank.fusion import graph_inputs
from rankgraph.rank.metrics import recall_lift_correlation
from rankgraph.rank.train import markdown_table, summarize, sweep

Stage = Callable[[str], None]


def load_rank_data(cfg: RankGraphConfig, rank: RankConfig, cut: int) -> RankData:
    """Open the configured events in DuckDB and cut the ranker's examples at `cut`."""
    con = duckdb.connect()
    open_events(con, cfg.data)
    return make_examples(con, cut, rank.examples, event_types=list(cfg.data.event_types) or None)


def graph_embeddings(cfg: RankGraphConfig, train_until: int, work_dir: str | os.PathLike[str], *,
                     stage: Stage | None = None) -> EmbeddingSet:
    """Build the graph before `train_until`, train RankGraph, export and save the embeddings.

    Writes ``work_dir/graph``, ``work_dir/model`` and ``work_dir/embeddings``.
    """
    from rankgraph.graph.build import build_graph
    from rankgraph.model.inference import layerwise_embed
    from rankgraph.train import load_model, train_graph

    stage = stage or (lambda _m: None)
    work = Path(work_dir)
    stage(f"building the graph before {train_until}")
    graph = build_graph(cfg, work / "graph", train_until=train_until)
    stage("training RankGraph")
    train_graph(graph, cfg, work / "model", graph_path=work / "graph")
    stage("exporting embeddings")
    model, _ = load_model(work / "model")
    vectors = layerwise_embed(model, graph, "cpu")
    emb = EmbeddingSet.from_raw(vectors, dict(graph.ids), user_type=graph.meta.get("user_type", "user"),
                                meta={"graph": str(work / "graph"), "model": str(work / "model"),
                                      "train_until": train_until})
    emb.save(work / "embeddings")
    return emb


def random_embeddings(like: EmbeddingSet, seed: int) -> EmbeddingSet:
    """Random unit vectors with the ids and dims of `like`: the control a graph must beat."""
    rng = np.random.default_rng(seed)
    return EmbeddingSet.from_raw(
        {t: rng.normal(size=(n.count, n.dim)) for t, n in like.types.items()},
        {t: n.ids for t, n in like.types.items()}, user_type=like.user_type, meta={"random_seed": seed},
    )


def compare(data: RankData, rank: RankConfig, emb: EmbeddingSet | None, out: str | os.PathLike[str] | None = None,
            *, device: str = "cpu", on_run: Callable[[dict[str, Any]], None] | None = None,
            extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sweep `rank.variants` x `rank.seeds`; summary with paired deltas vs `none`; optional report dir."""
    variants = rank.variants if emb is not None else [v for v in rank.variants if v == "none"]
    rank = replace(rank, variants=variants)
    graph = graph_inputs(emb, data.vocab, rank.model.neighbours) if emb is not None else None
    started = time.perf_counter()
    runs = sweep(data, rank, graph, device=device, on_run=on_run)
    report = {"examples": data.report, "config": to_dict(rank), "runs": runs, "summary": summarize(runs),
              "seconds": round(time.perf_counter() - started, 1), **(extra or {})}
    if out is not None:
        write_report(report, out)
    return report


def write_report(report: dict[str, Any], out: str | os.PathLike[str]) -> Path:
    """``report.json`` (everything) and ``report.md`` (headline slices) in an atomic directory."""
    final = Path(out)
    with atomic_dir(final) as tmp:
        (tmp / "report.json").write_text(json.dumps(clean_json(report), indent=1))
        slices = ["all", "cold", "warm"]
        (tmp / "report.md").write_text("# Ranker fusion comparison\n\n" + markdown_table(report["summary"], slices) + "\n")
        write_manifest(tmp, "rank_report", {"examples": report["examples"], "config": report["config"]})
    return final


def engagement_recall(cfg: RankGraphConfig, emb: EmbeddingSet, cut: int, k: int = 100) -> float:
    """Engagement Recall@k (the paper's metric, `rankgraph.evaluate`) of `emb` on the test window at `cut`."""
    from rankgraph.data.split import temporal_split
    from rankgraph.evaluate.data import EvalData
    from rankgraph.evaluate.evaluator import evaluate as evaluate_retrieval
    from rankgraph.evaluate.protocol import EmbeddingRecommender

    con = duckdb.connect()
    open_events(con, cfg.data)
    split = temporal_split(con, cut=cut)
    event_types = {r[0] for r in con.execute(f"SELECT DISTINCT item_type FROM {split.train}").fetchall()}
    types = sorted(t for t in emb.item_types if t in event_types)
    data = EvalData.from_split(split, user_ids=emb.types[emb.user_type].ids,
                               item_ids={t: emb.types[t].ids for t in types})
    items, _, _ = emb.stacked_items(types)
    rec = EmbeddingRecommender(np.asarray(emb.types[emb.user_type].vectors), items)
    res = evaluate_retrieval(data, rec, replace(cfg.evaluate, ks=[k]), parts=("engagement_recall",))
    return float(res["engagement_recall"]["all"][f"recall@{k}"])


def correlate(data: RankData, rank: RankConfig, embeddings: dict[str, EmbeddingSet], recalls: dict[str, float],
              out: str | os.PathLike[str] | None = None, *, device: str = "cpu",
              on_run: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Lift of every fusion of `rank.variants` with each embedding variant, against its Engagement Recall.

    `none` is fitted once per seed (it never reads graph inputs) and paired with every
    embedding variant's runs at the same seed. Returns per embedding variant its recall and
    `summarize` table, and per (fusion, task) the `recall_lift` correlation.
    """
    if set(embeddings) != set(recalls):
        raise ValueError(f"recalls for {sorted(recalls)} but embeddings {sorted(embeddings)}")
    fused = [v for v in rank.variants if v != "none"]
    if not fused or len(embeddings) < 2:
        raise ValueError("correlate needs at least one fusion variant besides none and two embedding variants")
    started = time.perf_counter()
    base = sweep(data, replace(rank, variants=["none"]), None, device=device, on_run=on_run)
    rows: dict[str, Any] = {}
    for name, emb in embeddings.items():
        graph = graph_inputs(emb, data.vocab, rank.model.neighbours)
        runs = sweep(data, replace(rank, variants=fused), graph, device=device,
                     on_run=(lambda r, n=name: on_run({**r, "embeddings": n})) if on_run else None)
        rows[name] = {"engagement_recall": recalls[name], "runs": runs, "summary": summarize(base + runs)}
    correlation = {
        v: {task: recall_lift([(r["engagement_recall"], r["summary"]) for r in rows.values()], v, task)
            for task in ("click", "conversion")}
        for v in fused
    }
    report = {"examples": data.report, "config": to_dict(rank), "none_runs": base, "embeddings": rows,
              "correlation": correlation, "seconds": round(time.perf_counter() - started, 1)}
    if out is not None:
        final = Path(out)
        with atomic_dir(final) as tmp:
            (tmp / "report.json").write_text(json.dumps(clean_json(report), indent=1))
            (tmp / "report.md").write_text(correlation_markdown(report) + "\n")
            write_manifest(tmp, "rank_correlation", {"examples": data.report, "config": report["config"]})
    return report


def correlation_markdown(report: dict[str, Any]) -> str:
    """Recall vs lift per embedding variant, then the correlation per fusion and task."""
    fused = list(report["correlation"])
    head = "| embeddings | Engagement Recall | " + " | ".join(
        f"{v} click lift | {v} conversion lift" for v in fused) + " |"
    lines = ["# Offline recall vs ranker lift", "", head, "|---|---|" + "---|---|" * len(fused)]
    for name, row in report["embeddings"].items():
        cells = []
        for v in fused:
            for task in ("click", "conversion"):
                d = row["summary"].get(v, {}).get(task, {}).get("all", {}).get("delta_ne")
                cells.append("-" if d is None else f"{-d['mean']:+.4f} ± {d['std']:.4f}")
        lines.append(f"| {name} | {row['engagement_recall']:.4f} | " + " | ".join(cells) + " |")
    lines += ["", "Lift = NE(none) - NE(variant), same seed (positive = better); overall slice.", "",
              "| fusion | task | Pearson | Spearman | n |", "|---|---|---|---|---|"]
    for v, tasks in report["correlation"].items():
        for task, c in tasks.items():
            lines.append(f"| {v} | {task} | {_fmt(c.get('pearson'))} | {_fmt(c.get('spearman'))} | {c.get('n', '-')} |")
    return "\n".join(lines)


def _fmt(x: Any) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:.3f}"


def lift(summary: dict[str, Any], variant: str, task: str = "conversion", slice_: str = "all") -> float:
    """NE gain of `variant` over `none` (positive = better), from a `summarize` result."""
    d = summary.get(variant, {}).get(task, {}).get(slice_, {}).get("delta_ne")
    return float("nan") if d is None else -float(d["mean"])


def recall_lift(results: list[tuple[float, dict[str, Any]]], variant: str, task: str = "conversion") -> dict[str, Any]:
    """Correlation of embedding variants' Engagement Recall@K with the lift `variant` gives.

    `results`: (recall, summary) per embedding variant, e.g. trained, under-trained, random.
    """
    recalls = [r for r, _ in results]
    lifts = [lift(s, variant, task) for _, s in results]
    return {"recalls": recalls, "lifts": lifts, **recall_lift_correlation(recalls, lifts)}


def clean_json(obj: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, NaN/inf to None."""
    if isinstance(obj, dict):
        return {str(k): clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_json(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


MODEL_KIND = "rank_model"


def save_ranker(model: Any, out: str | os.PathLike[str], rank: RankConfig, data: RankData, body: dict[str, Any]) -> Path:
    """The ranker's weights (safetensors) and a manifest with its config and vocabulary sizes."""
    from safetensors.torch import save_file

    final = Path(out)
    with atomic_dir(final) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp / "model.safetensors"))
        write_manifest(tmp, MODEL_KIND, {
            "config": to_dict(rank), "fusion": model.cfg.fusion, "examples": data.report,
            "vocab": {"items": data.vocab.n_items, "users": data.vocab.n_users, "domains": data.vocab.n_domains,
                      "events": data.vocab.n_events}, **body})
    return final


def load_ranker(path: str | os.PathLike[str], data: RankData, graph_dim: int) -> tuple[Any, dict[str, Any]]:
    """Rebuild a saved ranker for `data` (whose vocabulary must match the saved one)."""
    from safetensors.torch import load_file

    from rankgraph.artifact import read_manifest
    from rankgraph.config.base import from_dict
    from rankgraph.errors import ArtifactError
    from rankgraph.rank.model import SequenceRanker

    root = Path(path)
    manifest = read_manifest(root, MODEL_KIND)
    rank = from_dict(RankConfig, manifest["config"], source=str(root / "manifest.json"))
    want = manifest["vocab"]
    have = {"items": data.vocab.n_items, "users": data.vocab.n_users, "domains": data.vocab.n_domains,
            "events": data.vocab.n_events}
    if want != have:
        raise ArtifactError(f"{root}: ranker vocabulary {want} does not match the examples' {have}")
    mcfg = replace(rank.model, fusion=manifest["fusion"])
    model = SequenceRanker(mcfg, data.vocab, rank.examples.max_history, rank.examples.gap_buckets,
                           graph_dim if mcfg.fusion != "none" else 1)
    model.load_state_dict(load_file(str(root / "model.safetensors")))
    model.eval()
    return model, manifest
