"""`rankgraph embed`: export every node's embedding by exact layer-wise inference."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from rankgraph.cli.common import SetOption, console, progress


def register(app: typer.Typer) -> None:
    @app.command("embed")
    def embed(
        graph: Annotated[Path, typer.Option("--graph", "-g", help="Graph artifact directory (from `rankgraph build`).")],
        model: Annotated[Path, typer.Option("--model", "-m", help="Model artifact directory (from `rankgraph train`).")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Embeddings artifact directory to write.")],
        overrides: SetOption = None,
        device: Annotated[Optional[str], typer.Option("--device", help="cpu or cuda (default: cpu).")] = None,
        clusters: Annotated[
            Optional[list[str]],
            typer.Option("--clusters", help="k-means per node type, e.g. --clusters post=50 (repeatable)."),
        ] = None,
    ) -> None:
        """Export every node's embedding by exact layer-wise inference.

        Writes OUT/<type>.npy (float32, L2-normalised, rows in id-map order),
        OUT/<type>_ids.parquet (raw ids, item domains) and OUT/manifest.json. The model's own
        config is used; --set overrides apply on top of it (e.g. model.inference_chunk=8192).
        """
        from rankgraph.config.base import apply_override, to_dict
        from rankgraph.config.root import config_from_dict
        from rankgraph.embed.export import export_embeddings
        from rankgraph.errors import ConfigError
        from rankgraph.graph.store import HeteroGraph
        from rankgraph.train.model_artifact import load_model, served_readout

        dev = device or "cpu"
        net, cfg = load_model(model, device=dev)
        data = to_dict(cfg)
        for assignment in overrides or []:
            apply_override(data, assignment)
        for spec in clusters or []:
            node_type, _, count = spec.partition("=")
            if not count.isdigit():
                raise ConfigError(f"--clusters '{spec}': expected TYPE=COUNT, e.g. post=50")
            apply_override(data, f"evaluate.cluster.clusters.{node_type}={count}")
        cfg = config_from_dict(data, source=f"{model}/manifest.json (with overrides)")
        g = HeteroGraph.load(graph)
        with progress() as bar:
            task = bar.add_task("layer-wise inference", total=None, status="")

            def tick(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            source = {"graph": str(graph), "model": str(model), "popularity_readout": served_readout(model)}
            emb = export_embeddings(g, net, cfg, out, device=dev, on_progress=tick, source=source)
        counts = ", ".join(f"{t} {e.count:,}x{e.dim}" for t, e in emb.types.items())
        console.print(f"embeddings written to {out}: {counts}")
