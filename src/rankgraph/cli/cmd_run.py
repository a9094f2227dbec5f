"""`rankgraph run`: the whole pipeline end to end, with a report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from rankgraph.cli.common import ConfigOption, SetOption, console, progress


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(
        out: Annotated[Path, typer.Option("--out", "-o", help="Run directory (artifacts, metrics.json, report).")] = Path(
            "runs/default"
        ),
        dataset: Annotated[
            str, typer.Option("--dataset", help="synthetic (generated), tang (Ciao-style .mat/.txt, needs --path), or config.")
        ] = "synthetic",
        path: Annotated[Optional[Path], typer.Option("--path", help="Dataset folder for --dataset tang.")] = None,
        config: ConfigOption = None,
        overrides: SetOption = None,
        users: Annotated[int, typer.Option("--users", help="Users in the synthetic world.")] = 3000,
        seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic world.")] = 0,
        baselines: Annotated[
            Optional[str], typer.Option("--baselines", help="Comma-separated baselines (default: evaluate.baselines).")
        ] = None,
        device: Annotated[str, typer.Option("--device", help="cpu or cuda.")] = "cpu",
    ) -> None:
        """Generate or load data, split in time, build, train, embed, evaluate against baselines, report.

        Writes OUT/{data,graph,model,embeddings}/, OUT/metrics.json, OUT/report.md and
        OUT/report.html, and prints the headline table. With --dataset config, --config
        describes your own events (see README).
        """
        from rich.table import Table

        from rankgraph.errors import ConfigError
        from rankgraph.pipeline import RunOptions, run_pipeline
        from rankgraph.report.writer import summary_rows

        if dataset not in ("synthetic", "tang", "config"):
            raise ConfigError(f"--dataset '{dataset}': expected synthetic, tang or config")
        opts = RunOptions(
            out=out,
            dataset=dataset,  # type: ignore[arg-type]
            path=path,
            config=config,
            overrides=list(overrides or []),
            users=users,
            seed=seed,
            baselines=[b.strip() for b in baselines.split(",") if b.strip()] if baselines else None,
            device=device,
        )
        with progress() as bar:
            stage_task = bar.add_task("starting", total=None, status="")
            train_task = None

            def on_stage(message: str) -> None:
                bar.update(stage_task, description=message)

            def on_step(step: int, rec: dict) -> None:
                nonlocal train_task
                if train_task is None:
                    train_task = bar.add_task("training steps", total=None, status="")
                bar.update(train_task, completed=step, status=f"loss {rec['loss']:.4f}")

            result = run_pipeline(opts, on_stage=on_stage, on_train_step=on_step)
            bar.update(stage_task, description="done")
        header, rows = summary_rows(result.metrics)
        k = result.metrics["ks"][-1]
        keep = [0] + [i for i, h in enumerate(header) if h.endswith(f"@{k}") or h.endswith(f"@{k} xd")]
        table = Table(title=f"{dataset}: test from {result.cut}")
        for i in keep:
            table.add_column(header[i], justify="right" if i else "left")
        for r in rows:
            table.add_row(*[r[i] for i in keep])
        console.print(table)
        console.print(f"report: {out / 'report.md'} and {out / 'report.html'}")
