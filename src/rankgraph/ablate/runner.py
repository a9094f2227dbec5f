"""The ablation runner behind `rankgraph ablate`: variants x seeds on one fixed split.

Data and the temporal cut are prepared once (`rankgraph.pipeline.prepare_data`,
`resolve_cut`), so every arm sees exactly the same events. For each variant, the graph is
built only when its graph config differs from one already built (cached per graph
config; the homogeneous arm transforms the base graph), then for each seed: train (the
seed is `train.seed`; the data never changes), export embeddings, evaluate. Baselines are
tuned once on a validation slice of train, then fitted once per seed when they take a
seed (ALS, LightGCN) and once otherwise; they run first, on the base graph's id maps.

Layout of OUT::

    data/                                  generated or converted data (as `rankgraph run`)
    graphs/base/, graphs/<variant>/        graph artifacts, one per distinct graph config
    graphs/homogeneous/                    the base graph homogenized
    variants/<variant>/seed<s>/model/      model artifact (its manifest holds the config)
    variants/<variant>/seed<s>/embeddings/ embeddings artifact
    variants/<variant>/seed<s>/metrics.json
    ablation.json, ablation.md             every run, and mean +- std over seeds

`ablation.json` and `ablation.md` are rewritten after every run, so an interrupted
ablation still leaves the arms it finished.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from rankgraph.ablate.variants import VARIANTS, Variant
from rankgraph.artifact import atomic_write_text
from rankgraph.config import RankGraphConfig, load_config
from rankgraph.errors import ConfigError
from rankgraph.pipeline import Dataset, RunOptions, prepare_data, resolve_cut

DEFAULT_BASELINES = ["popularity", "als", "lightgcn"]


@dataclass
class AblationOptions:
    """What `rankgraph ablate` was asked to do."""

    out: Path
    dataset: Dataset = "synthetic"
    path: Path | None = None
    config: Path | None = None
    overrides: list[str] = field(default_factory=list)
    users: int = 2000
    world_seed: int = 0
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    variants: list[str] = field(default_factory=lambda: list(VARIANTS))
    baselines: list[str] | None = None
    k: int | None = None
    device: str = "cpu"


@dataclass
class Callbacks:
    """Progress hooks: a stage message, and one tick per finished run (variant x seed or baseline)."""

    stage: Callable[[str], None] = lambda _m: None
    tick: Callable[[str], None] = lambda _m: None
    train_step: Callable[[int, dict[str, Any]], None] | None = None


def headline_all(metrics: dict[str, Any], ks: list[int]) -> dict[str, float | None]:
    """ER@k / R@k overall and cross-domain and NDCG@k, for every k."""
    from rankgraph.evaluate.compare import headline

    out: dict[str, float | None] = {}
    for k in ks:
        out.update(headline(metrics, k))
    return out


def aggregate(runs: list[dict[str, Any]]) -> tuple[dict[str, float], dict[str, float]]:
    """Mean and sample std (ddof=1; 0 for one run) of every headline figure over runs."""
    keys = sorted({k for r in runs for k in r["headline"]})
    mean, std = {}, {}
    for key in keys:
        vals = np.array([r["headline"][key] for r in runs if r["headline"].get(key) is not None], dtype=np.float64)
        if vals.size == 0:
            continue
        mean[key] = float(vals.mean())
        std[key] = float(vals.std(ddof=1)) if vals.size > 1 else 0.0
    secs = [r.get("seconds", {}).get("total") for r in runs if r.get("seconds", {}).get("total") is not None]
    if secs:
        mean["seconds"] = float(np.mean(secs))
    return mean, std


def _graph_key(cfg: RankGraphConfig) -> str:
    """Graph configs that differ only in the cut (fixed per ablation) share one graph."""
    return json.dumps(_strip_cut(cfg.to_dict()["graph"]), sort_keys=True, default=str)


def _strip_cut(graph_cfg: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in graph_cfg.items() if k != "train_until"}


class AblationRunner:
    """Runs the arms of one ablation into `opts.out`; `run()` returns the `ablation.json` body."""

    def __init__(self, opts: AblationOptions, callbacks: Callbacks | None = None) -> None:
        unknown = [v for v in opts.variants if v not in VARIANTS]
        if unknown:
            raise ConfigError(f"unknown ablation variant(s) {unknown} (known: {', '.join(VARIANTS)})")
        if not opts.seeds:
            raise ConfigError("--seeds: give at least one seed")
        self.opts = opts
        self.cb = callbacks or Callbacks()
        self.graphs: dict[str, tuple[Path, Any]] = {}  # graph key -> (dir, HeteroGraph)
        self.eval_data: dict[str, Any] = {}  # graph dir -> EvalData
        self.result: dict[str, Any] = {}

    @property
    def total_runs(self) -> int:
        n_base = len(self.opts.baselines if self.opts.baselines is not None else DEFAULT_BASELINES)
        return len(self.opts.variants) * len(self.opts.seeds) + n_base

    # ------------------------------------------------------------------ set-up
    def _prepare(self) -> None:
        import pyarrow.compute as pc

        from rankgraph.data.events import read_events

        o = self.opts
        o.out.mkdir(parents=True, exist_ok=True)
        run_opts = RunOptions(
            out=o.out, dataset=o.dataset, path=o.path, config=o.config, users=o.users, seed=o.world_seed, report=False
        )
        self.config_path = prepare_data(run_opts, self.cb.stage)
        base = self.config_for(VARIANTS["full"], seed=o.seeds[0], with_cut=False)
        self.cb.stage("reading events")
        self.events = read_events(base.data)
        ts = self.events.column("ts")
        self.cut = resolve_cut(base, int(pc.max(ts).as_py()), int(pc.min(ts).as_py()))
        self.ks = list(base.evaluate.ks)
        self.k = o.k if o.k is not None else self.ks[-1]
        if self.k not in self.ks:
            raise ConfigError(f"--k {self.k}: not one of evaluate.ks {self.ks}")
        self.base_cfg = base
        self.base_graph_key = _graph_key(base)
        self.result = {
            "dataset": o.dataset,
            "path": str(o.path) if o.path else None,
            "users": o.users if o.dataset == "synthetic" else None,
            "cut": self.cut,
            "ks": self.ks,
            "k": self.k,
            "seeds": list(o.seeds),
            "overrides": list(o.overrides),
            "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "variants": {},
            "baselines": {},
        }

    def config_for(self, variant: Variant, seed: int, *, with_cut: bool = True) -> RankGraphConfig:
        """The base config + the user's `--set` + the variant's overrides, with this seed."""
        cfg = load_config(self.config_path, [*self.opts.overrides, *variant.overrides])
        cfg.train.seed = seed
        cfg.train.device = self.opts.device
        if with_cut:
            cfg.graph.train_until = str(self.cut)
        return cfg

    def _graph(self, variant: Variant, cfg: RankGraphConfig) -> tuple[Path, Any, Any]:
        """(graph dir, graph to train on, original graph): built once per distinct graph config.

        The original graph's id maps are the evaluation row space (the homogeneous arm maps
        its `node` rows back to them).
        """
        from rankgraph.graph.build import build_graph

        key = _graph_key(cfg)
        if key not in self.graphs:
            name = "base" if key == self.base_graph_key else variant.name
            d = self.opts.out / "graphs" / name
            self.cb.stage(f"building graph {d.name}")
            self.graphs[key] = (d, build_graph(cfg, d, train_until=self.cut))
        d, graph = self.graphs[key]
        if variant.transform != "homogeneous":
            return d, graph, graph
        from rankgraph.ablate.homogenize import homogenize

        hkey = f"homogeneous:{key}"
        if hkey not in self.graphs:
            hd = self.opts.out / "graphs" / "homogeneous"
            self.cb.stage("homogenizing the graph")
            hg = homogenize(graph)
            hg.save(hd, extra_manifest={"source_graph": str(d)})
            self.graphs[hkey] = (hd, hg)
        hd, hg = self.graphs[hkey]
        return hd, hg, graph

    def _data_for(self, key: str, graph: Any) -> Any:
        """EvalData over `graph`'s id maps (what `compare.eval_data_for` does from embeddings)."""
        from rankgraph.evaluate.data import EvalData

        if key not in self.eval_data:
            user_type = self.base_cfg.data.user_type
            present = set(self.events.column("item_type").unique().to_pylist())
            items = {t: graph.ids[t] for t in sorted(graph.num_nodes) if t != user_type and t in present}
            self.eval_data[key] = EvalData.from_events(self.events, self.cut, user_ids=graph.ids[user_type], item_ids=items)
        return self.eval_data[key]

    # ------------------------------------------------------------------ arms
    def run_variant(self, variant: Variant, seed: int) -> dict[str, Any]:
        """Train, embed and evaluate one (variant, seed); returns the run record."""
        from rankgraph.embed.export import export_embeddings
        from rankgraph.evaluate.compare import embedding_recommender
        from rankgraph.evaluate.evaluator import evaluate
        from rankgraph.train.model_artifact import load_model, served_readout
        from rankgraph.train.trainer import train_graph

        cfg = self.config_for(variant, seed)
        run_dir = self.opts.out / "variants" / variant.name / f"seed{seed}"
        seconds: dict[str, float] = {}
        started = time.perf_counter()
        graph_dir, graph, original = self._graph(variant, cfg)
        t = time.perf_counter()
        self.cb.stage(f"{variant.name} seed {seed}: training")
        train = train_graph(
            graph, cfg, run_dir / "model", graph_path=graph_dir, device=self.opts.device, on_step=self.cb.train_step
        )
        seconds["train"] = round(time.perf_counter() - t, 2)
        self.cb.stage(f"{variant.name} seed {seed}: embedding")
        t = time.perf_counter()
        model, _ = load_model(run_dir / "model", device=self.opts.device)
        source = {"ablation_variant": variant.name, "seed": seed, "popularity_readout": served_readout(run_dir / "model")}
        if variant.transform == "homogeneous":
            from rankgraph.ablate.homogenize import export_homogeneous

            emb = export_homogeneous(graph, original, model, cfg, run_dir / "embeddings", device=self.opts.device, source=source)
        else:
            emb = export_embeddings(graph, model, cfg, run_dir / "embeddings", device=self.opts.device, source=source)
        seconds["embed"] = round(time.perf_counter() - t, 2)
        self.cb.stage(f"{variant.name} seed {seed}: evaluating")
        t = time.perf_counter()
        data = self._data_for(_graph_key(cfg), original)
        metrics = evaluate(data, embedding_recommender(emb, data, cfg), cfg.evaluate)
        seconds["evaluate"] = round(time.perf_counter() - t, 2)
        seconds["total"] = round(time.perf_counter() - started, 2)
        metrics["training"] = train.summary()
        atomic_write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2, default=str))
        return {
            "seed": seed,
            "headline": headline_all(metrics, self.ks),
            "evaluated_users": metrics.get("counts", {}).get("evaluated_users"),
            "training": train.summary(),
            "seconds": seconds,
            "dir": str(run_dir),
        }

    def run_baselines(self) -> None:
        """Tune each baseline once, then fit per seed (seeded ones) or once, on the base graph's rows."""
        from rankgraph.evaluate.baselines import BASELINES, DEFAULT_GRIDS
        from rankgraph.evaluate.evaluator import evaluate
        from rankgraph.evaluate.tune import tune

        names = self.opts.baselines if self.opts.baselines is not None else DEFAULT_BASELINES
        if not names:
            return
        cfg = self.base_cfg
        _, _, base_graph = self._graph(VARIANTS["full"], self.config_for(VARIANTS["full"], seed=self.opts.seeds[0]))
        data = self._data_for(self.base_graph_key, base_graph)
        for name in names:
            if name not in BASELINES:
                raise ConfigError(f"--baselines: unknown baseline '{name}' (known: {sorted(BASELINES)})")
            cls = BASELINES[name]
            self.cb.stage(f"baseline {name}: tuning")
            started = time.perf_counter()
            params, trials = tune(cls, DEFAULT_GRIDS.get(name, {}), data, cfg.evaluate)
            tune_s = round(time.perf_counter() - started, 2)
            seeded = "seed" in inspect.signature(cls.__init__).parameters
            runs = []
            for seed in self.opts.seeds if seeded else [None]:
                self.cb.stage(f"baseline {name}: fitting" + (f" (seed {seed})" if seeded else ""))
                t = time.perf_counter()
                model = cls(**params, **({"seed": seed} if seeded else {})).fit(data)
                metrics = evaluate(data, model, cfg.evaluate)
                runs.append(
                    {
                        "seed": seed,
                        "headline": headline_all(metrics, self.ks),
                        "evaluated_users": metrics.get("counts", {}).get("evaluated_users"),
                        "seconds": {"total": round(time.perf_counter() - t, 2)},
                    }
                )
            mean, std = aggregate(runs)
            self.result["baselines"][name] = {
                "params": params, "tuning": trials, "tuning_seconds": tune_s, "runs": runs, "mean": mean, "std": std
            }
            self.cb.tick(name)
            self._write()

    def run(self) -> dict[str, Any]:
        self._prepare()
        self.run_baselines()  # first: cheap next to training, and an interrupted run keeps them
        for name in self.opts.variants:
            variant = VARIANTS[name]
            runs = []
            for seed in self.opts.seeds:
                runs.append(self.run_variant(variant, seed))
                mean, std = aggregate(runs)
                self.result["variants"][name] = {
                    "overrides": list(variant.overrides),
                    "transform": variant.transform,
                    "doc": variant.doc,
                    "runs": runs,
                    "mean": mean,
                    "std": std,
                }
                self.cb.tick(f"{name} seed {seed}")
                self._write()
        self.result["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self._write()
        return self.result

    def _write(self) -> None:
        atomic_write_text(self.opts.out / "ablation.json", json.dumps(self.result, indent=2, default=str))
        atomic_write_text(self.opts.out / "ablation.md", ablation_markdown(self.result))


COLUMNS = ("ER@{k}", "ER@{k} xd", "R@{k}", "R@{k} xd", "NDCG@{k}")


def _cell(mean: dict[str, float], std: dict[str, float], key: str, n: int) -> str:
    if key not in mean:
        return "n/a"
    return f"{mean[key]:.4f} ± {std.get(key, 0.0):.4f}" if n > 1 else f"{mean[key]:.4f}"


def ablation_markdown(result: dict[str, Any]) -> str:
    """The mean ± std table (one row per variant, then the baselines) at `result['k']`."""
    k = result["k"]
    cols = [c.format(k=k) for c in COLUMNS]
    lines = [
        f"# Ablation: {result['dataset']}, test from {result['cut']}, seeds {result['seeds']}",
        "",
        f"mean ± std (sample, ddof=1) over seeds; `xd` = cross-domain targets; K = {k}.",
        "",
        "| method | " + " | ".join(cols) + " | runs | s/run |",
        "|---|" + "---:|" * (len(cols) + 2),
    ]

    def row(name: str, entry: dict[str, Any]) -> str:
        n = len(entry["runs"])
        cells = [_cell(entry["mean"], entry["std"], c, n) for c in cols]
        secs = entry["mean"].get("seconds")
        return f"| {name} | " + " | ".join(cells) + f" | {n} | {'' if secs is None else f'{secs:.0f}'} |"

    for name, entry in result["variants"].items():
        lines.append(row(name, entry))
    for name, entry in result.get("baselines", {}).items():
        lines.append(row(f"*{name}*", entry))
    lines += ["", "Variants (config overrides on top of the base config):", ""]
    for name, entry in result["variants"].items():
        what = ", ".join(entry["overrides"]) or "none"
        if entry.get("transform"):
            what += f"; graph transform `{entry['transform']}`"
        lines.append(f"- `{name}`: {entry.get('doc', '')} ({what})")
    if result.get("baselines"):
        lines += ["", "Baselines (italic) are tuned once on a validation slice of train; params:", ""]
        for name, entry in result["baselines"].items():
            lines.append(f"- `{name}`: {json.dumps(entry['params'])}")
    return "\n".join(lines) + "\n"


def run_ablation(opts: AblationOptions, callbacks: Callbacks | None = None) -> dict[str, Any]:
    """Run every variant x seed (and the baselines) into `opts.out`; returns `ablation.json`'s body."""
    return AblationRunner(opts, callbacks).run()
