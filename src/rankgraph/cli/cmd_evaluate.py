"""`rankgraph evaluate`: score an embeddings artifact (and baselines) on a temporal split."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from rankgraph.cli.common import ConfigOption, SetOption, console, resolve_config


def register(app: typer.Typer) -> None:
    @app.command("evaluate")
    def evaluate_cmd(
        embeddings: Annotated[Path, typer.Option("--embeddings", "-e", help="Embeddings artifact (from `rankgraph embed`).")],
        config: ConfigOption = None,
        overrides: SetOption = None,
        test_from: Annotated[
            Optional[str],
            typer.Option("--test-from", help="Cut: a timestamp, unix seconds, or a period number (default: evaluate.test_from)."),
        ] = None,
        baselines: Annotated[
            Optional[str], typer.Option("--baselines", help="Comma-separated baselines to score too ('' for none).")
        ] = None,
        out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the metrics JSON here.")] = None,
    ) -> None:
        """Engagement Recall@K, Recall@K, NDCG@K and next-period edge recall, overall, per domain, cross-domain.

        The events come from the config's `data` section; the embeddings must come from a
        graph built before the cut (the embeddings manifest records its train_until, and a
        cut earlier than it is refused: that would leak the future).
        """
        import pyarrow.compute as pc

        from rankgraph.artifact import atomic_write_text
        from rankgraph.data.events import read_events
        from rankgraph.embed.artifact import EmbeddingSet
        from rankgraph.errors import ConfigError
        from rankgraph.evaluate.compare import embedding_recommender, eval_data_for, evaluate_baselines, headline
        from rankgraph.evaluate.evaluator import evaluate
        from rankgraph.pipeline import resolve_cut

        cfg = resolve_config(config, overrides)
        if test_from is not None:
            cfg.evaluate.test_from = test_from
        emb = EmbeddingSet.load(embeddings)
        events = read_events(cfg.data)
        ts = events.column("ts")
        cut = resolve_cut(cfg, int(pc.max(ts).as_py()), int(pc.min(ts).as_py()))
        trained_until = emb.meta.get("train_until")
        if trained_until is not None and int(trained_until) > cut:
            raise ConfigError(
                f"--test-from {cut} is before the embeddings' graph cut {trained_until}: "
                "the embeddings have seen test events"
            )
        data = eval_data_for(emb, events, cut)
        methods = {"rankgraph": evaluate(data, embedding_recommender(emb, data, cfg), cfg.evaluate)}
        names = None if baselines is None else [b.strip() for b in baselines.split(",") if b.strip()]
        methods.update(evaluate_baselines(data, cfg, names, lambda m: console.print(m)))
        result = {"cut": cut, "ks": cfg.evaluate.ks, "methods": methods}
        k = cfg.evaluate.ks[-1]
        for name, m in methods.items():
            figures = ", ".join(f"{key} {v:.4f}" for key, v in headline(m, k).items() if v is not None)
            console.print(f"{name}: {figures}")
        if out is not None:
            atomic_write_text(out, json.dumps(result, indent=2, default=str))
            console.print(f"metrics written to {out}")
