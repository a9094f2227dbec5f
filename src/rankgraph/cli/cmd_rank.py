"""`rankgraph rank`: train and evaluate the sequence ranker with graph-embedding tokens."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from rankgraph.cli.common import ConfigOption, SetOption, console, resolve_config
from rankgraph.errors import ConfigError


def _cut(cfg: Any, cut: Optional[str]) -> int:
    from rankgraph.data.split import parse_cut

    value = cut or cfg.evaluate.test_from or cfg.graph.train_until
    if value is None:
        raise ConfigError("no temporal cut: pass --cut or set evaluate.test_from in the config")
    return parse_cut(value, cfg.data.time_unit)


def _leak_free(path: Path, val_start: int) -> Any:
    """Load an embeddings artifact, refusing one built from events at or after the validation window."""
    from rankgraph.embed.artifact import EmbeddingSet

    emb = EmbeddingSet.load(path)
    made = emb.meta.get("train_until")
    if made is not None and int(made) > val_start:
        raise ConfigError(f"{path}: built from events before {made}, after the validation window "
                          f"starts ({val_start}); the ranker's training labels would leak into it")
    return emb


def register(app: typer.Typer) -> None:
    @app.command("rank")
    def rank(
        out: Annotated[Path, typer.Option("--out", "-o", help="Output directory (report, ranker, embeddings).")],
        config: ConfigOption = None,
        overrides: SetOption = None,
        stage: Annotated[str, typer.Option("--stage", help="all: every variant x seed and a report; "
                                           "train: fit rank.model.fusion at rank.train.seed into OUT/model; "
                                           "eval: score OUT/model on the test window; "
                                           "embed: only build leak-free graph embeddings into OUT/graph_embeddings; "
                                           "correlate: Engagement Recall vs ranker lift over --compare embeddings.")] = "all",
        embeddings: Annotated[Optional[Path], typer.Option(
            "--embeddings", "-e", help="Embeddings artifact built before the validation window "
            "(default: build the graph before it, train RankGraph and export into OUT/graph_embeddings).")] = None,
        random_embeddings: Annotated[bool, typer.Option(
            "--random-embeddings", help="Use random unit vectors instead of graph embeddings (a control).")] = False,
        compare: Annotated[Optional[list[Path]], typer.Option(
            "--compare", help="With --stage correlate: an embeddings artifact to compare (repeat, at least 2; "
            "--random-embeddings adds a random control).")] = None,
        cut: Annotated[Optional[str], typer.Option("--cut", help="Test cut (default: evaluate.test_from).")] = None,
        device: Annotated[str, typer.Option("--device", help="cpu or cuda.")] = "cpu",
        threads: Annotated[Optional[int], typer.Option("--threads", help="torch intra-op threads.")] = None,
    ) -> None:
        """Train and evaluate the sequence ranker with graph-embedding tokens.

        Rank settings come from the config's `rank` section or `--set rank.<key>=<value>`
        (e.g. `--set rank.seeds=[0,1,2] --set rank.examples.val_window=604800`).
        """
        import torch

        from rankgraph.artifact import atomic_write_text
        from rankgraph.embed.artifact import EmbeddingSet
        from rankgraph.rank import pipeline
        from rankgraph.rank.fusion import graph_inputs
        from rankgraph.rank.train import evaluate, fit, markdown_table, predict

        if stage not in ("all", "train", "eval", "embed", "correlate"):
            raise ConfigError(f"--stage {stage!r}: expected all, train, eval, embed or correlate")
        if stage == "correlate" and len(compare or []) + int(random_embeddings) < 2:
            raise ConfigError("--stage correlate needs at least two embedding variants: "
                              "--compare DIR (repeatable) and optionally --random-embeddings")
        cfg = resolve_config(config, overrides)
        rcfg = cfg.rank
        threads = threads or rcfg.train.threads
        if threads:
            torch.set_num_threads(threads)
        test_cut = _cut(cfg, cut)
        console.print("cutting ranking examples ...")
        data = pipeline.load_rank_data(cfg, rcfg, test_cut)
        console.print(f"examples: {json.dumps(data.report)}")
        out.mkdir(parents=True, exist_ok=True)
        if stage == "embed":
            pipeline.graph_embeddings(cfg, data.val_start, out / "graph_embeddings", stage=lambda m: console.print(m))
            console.print(f"embeddings written to {out / 'graph_embeddings' / 'embeddings'}")
            return
        if stage == "correlate":
            variants: dict[str, EmbeddingSet] = {str(p): _leak_free(p, data.val_start) for p in compare or []}
            if random_embeddings:
                variants["random"] = pipeline.random_embeddings(next(iter(variants.values())), rcfg.train.seed)
            k = max(cfg.evaluate.ks)
            recalls = {}
            for name, emb_v in variants.items():
                recalls[name] = pipeline.engagement_recall(cfg, emb_v, test_cut, k)
                console.print(f"{name}: Engagement Recall@{k} {recalls[name]:.4f}")
            report = pipeline.correlate(data, rcfg, variants, recalls, out / "correlation", device=device,
                                        on_run=lambda r: console.print(
                                            f"{r.get('embeddings', '-')} {r['variant']} seed {r['seed']}: "
                                            f"click NE {r['metrics']['click']['all']['ne']:.4f}"))
            console.print(pipeline.correlation_markdown(report))
            console.print(f"report written to {out / 'correlation'}")
            return
        needs_graph = stage == "all" or rcfg.model.fusion != "none"
        emb = None
        if needs_graph:
            if embeddings is not None:
                emb = _leak_free(embeddings, data.val_start)
            elif (out / "graph_embeddings" / "embeddings" / "manifest.json").exists():
                emb = EmbeddingSet.load(out / "graph_embeddings" / "embeddings")
            else:
                emb = pipeline.graph_embeddings(cfg, data.val_start, out / "graph_embeddings",
                                                stage=lambda m: console.print(m))
            if random_embeddings:
                emb = pipeline.random_embeddings(emb, rcfg.train.seed)
        if stage == "all":
            def on_run(run: dict[str, Any]) -> None:
                m = run["metrics"]
                conv = m.get("conversion", {}).get("all", {}).get("ne", float("nan"))
                console.print(f"{run['variant']:>15} seed {run['seed']}: click NE {m['click']['all']['ne']:.4f}  "
                              f"conversion NE {conv:.4f}  ({run['seconds']} s)")

            report = pipeline.compare(data, rcfg, emb, out / "report", device=device, on_run=on_run,
                                      extra={"random_embeddings": random_embeddings})
            console.print(markdown_table(report["summary"], ["all", "cold"]))
            console.print(f"report written to {out / 'report'}")
            return
        graph = graph_inputs(emb, data.vocab, rcfg.model.neighbours) if emb is not None else None
        if stage == "train":
            model = fit(data, rcfg, rcfg.model.fusion, rcfg.train.seed, graph, device=device)
            pipeline.save_ranker(model, out / "model", rcfg, data, {"seed": rcfg.train.seed,
                                 "random_embeddings": random_embeddings})
            console.print(f"ranker ({rcfg.model.fusion}) written to {out / 'model'}")
            return
        model, manifest = pipeline.load_ranker(out / "model", data, graph.dim if graph is not None else 1)
        p_click, p_conv = predict(model, data.test, graph, device=device)
        metrics = evaluate(data.test, data.vocab, p_click, p_conv)
        atomic_write_text(out / "eval.json", json.dumps(pipeline.clean_json(metrics), indent=1))
        console.print(json.dumps(pipeline.clean_json({t: m["all"] for t, m in metrics.items()}), indent=1))
