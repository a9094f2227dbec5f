"""`rankgraph train`: Train RankGraph embeddings on a graph artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from rankgraph.cli.common import ConfigOption, SetOption, console, progress, resolve_config
from rankgraph.errors import ConfigError


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train(
        graph: Annotated[Path, typer.Option("--graph", "-g", help="Graph artifact directory (from `rankgraph build`).")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Model artifact directory to write.")],
        config: ConfigOption = None,
        overrides: SetOption = None,
        resume: Annotated[
            bool, typer.Option("--resume", help="Continue from OUT/checkpoints/last.pt exactly where it stopped.")
        ] = False,
        device: Annotated[
            Optional[str], typer.Option("--device", help="cpu or cuda (default: train.device from the config).")
        ] = None,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    ) -> None:
        """Train RankGraph embeddings on a graph artifact.

        Writes OUT/model.safetensors and OUT/manifest.json (kind `model`), the metrics log
        OUT/metrics.jsonl and the resumable checkpoint OUT/checkpoints/last.pt. Under
        `torchrun` it trains data-parallel (gloo on CPU, nccl on CUDA); see docs/training.md.
        """
        from rankgraph.graph.store import HeteroGraph
        from rankgraph.train.distributed import device_for, from_env, shutdown
        from rankgraph.train.trainer import train_graph

        cfg = resolve_config(config, overrides)
        dev = device or cfg.train.device
        if dev not in ("cpu", "cuda") and not dev.startswith("cuda:"):
            raise ConfigError(f"--device '{dev}': expected cpu or cuda")
        if dev.startswith("cuda"):
            from rankgraph.capabilities import with_cuda

            if not with_cuda():
                raise ConfigError(f"--device {dev}: torch sees no CUDA device")
        ctx = from_env(dev)
        dev = device_for(ctx, dev)
        cfg.train.device = dev
        g = HeteroGraph.load(graph)
        show = not quiet and ctx.is_main
        try:
            if show:
                with progress() as bar:
                    task = bar.add_task("training", total=cfg.train.steps * cfg.train.ensemble, status="")

                    def on_step(step: int, rec: dict) -> None:
                        status = f"loss {rec['loss']:.4f}  {rec['pairs_per_s']:,.0f} pairs/s"
                        if "val_mrr" in rec:
                            status += f"  val MRR {rec['val_mrr']:.4f}"
                        bar.update(task, completed=step, status=status)

                    result = train_graph(
                        g, cfg, out, graph_path=graph, resume=resume, device=dev, dist_ctx=ctx, on_step=on_step
                    )
            else:
                result = train_graph(g, cfg, out, graph_path=graph, resume=resume, device=dev, dist_ctx=ctx)
        finally:
            shutdown(ctx)
        if ctx.is_main:
            s = result.summary()

            def fmt(v: float | None) -> str:
                return "n/a" if v is None else f"{v:.4f}"

            console.print(
                f"model written to {out}: {s['steps']} steps, last loss {fmt(s['last_loss'])}, "
                f"best val MRR {fmt(s['best_val_mrr'])} at step {s['best_step']} "
                f"(untrained {fmt(s['initial_val_mrr'])})"
            )
