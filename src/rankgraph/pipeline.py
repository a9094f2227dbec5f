"""The end-to-end run: data -> split -> graph -> training -> embeddings -> evaluation -> report.

`rankgraph run` calls `run_pipeline`. Each stage writes its own artifact under the run
directory, so any stage can be inspected or re-run alone with its own command:

    RUN_DIR/data/         the synthetic world or the converted dataset (+ rankgraph.yaml)
    RUN_DIR/graph/        graph artifact, built from events strictly before the cut
    RUN_DIR/model/        model artifact (weights, metrics.jsonl, checkpoints)
    RUN_DIR/embeddings/   embeddings artifact
    RUN_DIR/metrics.json  RankGraph and baselines on the same split
    RUN_DIR/report.md, report.html
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rankgraph.artifact import atomic_write_text
from rankgraph.config import RankGraphConfig, load_config
from rankgraph.errors import ConfigError

Dataset = Literal["synthetic", "tang", "config"]


@dataclass
class RunOptions:
    """What `rankgraph run` was asked to do."""

    out: Path
    dataset: Dataset = "synthetic"
    path: Path | None = None
    config: Path | None = None
    overrides: list[str] = field(default_factory=list)
    users: int = 3000
    seed: int = 0
    baselines: list[str] | None = None
    device: str = "cpu"
    report: bool = True


@dataclass
class RunResult:
    """Where everything went, and the headline numbers."""

    out: Path
    cut: int
    metrics: dict[str, Any]
    seconds: dict[str, float]


def prepare_data(opts: RunOptions, on_stage: Callable[[str], None]) -> Path:
    """Generate or convert the data; returns the config file that describes it."""
    data_dir = opts.out / "data"
    if opts.dataset == "synthetic":
        from rankgraph.data.synthetic import WorldConfig, generate_world

        on_stage(f"generating a synthetic world of {opts.users:,} users")
        generate_world(data_dir, WorldConfig(n_users=opts.users, seed=opts.seed), force=True)
        return data_dir / "rankgraph.yaml"
    if opts.dataset == "tang":
        from rankgraph.data.tang import convert_tang

        if opts.path is None:
            raise ConfigError("--dataset tang needs --path DIR (a folder with the rating and trust files)")
        on_stage(f"converting Tang-format data from {opts.path}")
        return convert_tang(opts.path, data_dir).config_path
    if opts.config is None:
        raise ConfigError("--dataset config needs --config FILE describing the events")
    return opts.config


def resolve_cut(cfg: RankGraphConfig, events_ts_max: int, events_ts_min: int) -> int:
    """The temporal cut: `evaluate.test_from`, else `graph.train_until`, else the last fraction."""
    from rankgraph.data.split import parse_cut

    for value in (cfg.evaluate.test_from, cfg.graph.train_until):
        if value is not None:
            return parse_cut(value, cfg.data.time_unit)
    span = events_ts_max - events_ts_min
    return int(events_ts_max - span * cfg.evaluate.test_fraction)


def run_pipeline(
    opts: RunOptions,
    on_stage: Callable[[str], None] | None = None,
    on_train_step: Callable[[int, dict[str, Any]], None] | None = None,
) -> RunResult:
    """Run every stage into `opts.out` and return the metrics of RankGraph and the baselines."""
    import pyarrow.compute as pc

    from rankgraph.data.events import read_events
    from rankgraph.embed.export import export_embeddings
    from rankgraph.evaluate.compare import embedding_recommender, eval_data_for, evaluate_baselines
    from rankgraph.evaluate.evaluator import evaluate
    from rankgraph.graph.build import build_graph
    from rankgraph.train.model_artifact import served_readout
    from rankgraph.train.trainer import train_graph

    stage = on_stage or (lambda _m: None)
    out = opts.out
    out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        value = fn()
        seconds[name] = round(time.perf_counter() - started, 2)
        return value

    config_path = timed("data", lambda: prepare_data(opts, stage))
    cfg = load_config(config_path, opts.overrides)
    cfg.train.device = opts.device
    stage("reading events")
    events = timed("read_events", lambda: read_events(cfg.data))
    ts = events.column("ts")
    cut = resolve_cut(cfg, int(pc.max(ts).as_py()), int(pc.min(ts).as_py()))
    cfg.graph.train_until = str(cut)

    stage("building the graph (events before the cut)")
    graph = timed("build", lambda: build_graph(cfg, out / "graph", train_until=cut))
    members = f" {cfg.train.ensemble} ensemble members" if cfg.train.ensemble > 1 else ""
    stage(f"training{members} (then tuning the popularity read-out on held-out edges)")
    train_result = timed(
        "train",
        lambda: train_graph(graph, cfg, out / "model", graph_path=out / "graph", device=opts.device, on_step=on_train_step),
    )
    stage("exporting embeddings (layer-wise inference)")
    emb = timed(
        "embed",
        lambda: export_embeddings(
            graph,
            _load_trained(out / "model", opts.device),
            cfg,
            out / "embeddings",
            device=opts.device,
            source={"popularity_readout": served_readout(out / "model")},
        ),
    )

    stage("evaluating RankGraph")
    data = eval_data_for(emb, events, cut)
    rankgraph_metrics = timed("evaluate", lambda: evaluate(data, embedding_recommender(emb, data, cfg), cfg.evaluate))
    rankgraph_metrics["training"] = train_result.summary()
    methods = {"rankgraph": rankgraph_metrics}
    methods.update(timed("baselines", lambda: evaluate_baselines(data, cfg, opts.baselines, stage)))
    metrics = {
        "dataset": opts.dataset,
        "cut": cut,
        "time_unit": cfg.data.time_unit,
        "ks": list(cfg.evaluate.ks),
        "methods": methods,
        "seconds": seconds,
        "config": cfg.to_dict(),
    }
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2, default=str))
    if opts.report:
        from rankgraph.report import write_report

        stage("writing the report")
        write_report(out, metrics)
    return RunResult(out=out, cut=cut, metrics=metrics, seconds=seconds)


def _load_trained(model_dir: Path, device: str) -> Any:
    from rankgraph.train.model_artifact import load_model

    model, _ = load_model(model_dir, device=device)
    return model


def default_out() -> Path:
    return Path(os.environ.get("RANKGRAPH_RUN_DIR", "runs/default"))
