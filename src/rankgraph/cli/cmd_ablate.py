"""`rankgraph ablate`: train and tabulate ablation variants over several seeds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from rankgraph.cli.common import ConfigOption, SetOption, console, progress


def _seeds(text: str) -> list[int]:
    from rankgraph.errors import ConfigError

    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError as exc:
        raise ConfigError(f"--seeds '{text}': expected comma-separated integers, e.g. 0,1,2") from exc
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds '{text}': expected distinct integers, e.g. 0,1,2")
    return seeds


def register(app: typer.Typer) -> None:
    @app.command("ablate")
    def ablate(
        out: Annotated[Path, typer.Option("--out", "-o", help="Ablation directory (artifacts, ablation.json/.md).")],
        dataset: Annotated[
            str, typer.Option("--dataset", help="synthetic (generated), tang (Ciao-style, needs --path), or config.")
        ] = "synthetic",
        path: Annotated[Optional[Path], typer.Option("--path", help="Dataset folder for --dataset tang.")] = None,
        config: ConfigOption = None,
        overrides: SetOption = None,
        users: Annotated[int, typer.Option("--users", help="Users in the synthetic world.")] = 2000,
        world_seed: Annotated[int, typer.Option("--world-seed", help="Seed of the synthetic world (fixed).")] = 0,
        seeds: Annotated[str, typer.Option("--seeds", help="Training seeds (train.seed), comma-separated.")] = "0,1,2",
        variants: Annotated[
            Optional[str], typer.Option("--variants", help="Comma-separated variants (default: all; see docs/ablations.md).")
        ] = None,
        baselines: Annotated[
            Optional[str],
            typer.Option("--baselines", help="Comma-separated baselines ('' for none; default popularity,als,lightgcn)."),
        ] = None,
        k: Annotated[Optional[int], typer.Option("--k", help="K of the table (default: the largest evaluate.ks).")] = None,
        device: Annotated[str, typer.Option("--device", help="cpu or cuda.")] = "cpu",
        threads: Annotated[
            Optional[int], typer.Option("--threads", help="torch intra-op threads (1 is fastest on a shared machine).")
        ] = None,
    ) -> None:
        """Prepare data and the cut once, then train, embed and evaluate each variant x seed.

        Writes OUT/ablation.json and OUT/ablation.md (mean ± std over seeds of ER@K and R@K,
        overall and cross-domain), plus each run's model, embeddings and metrics under
        OUT/variants/<variant>/seed<s>/.
        """
        from rich.table import Table

        from rankgraph.ablate import AblationOptions, Callbacks, VariantSpec
        from rankgraph.ablate.runner import AblationRunner
        from rankgraph.errors import ConfigError

        if dataset not in ("synthetic", "tang", "config"):
            raise ConfigError(f"--dataset '{dataset}': expected synthetic, tang or config")
        if threads:
            import torch

            torch.set_num_threads(threads)
        opts = AblationOptions(
            out=out,
            dataset=dataset,  # type: ignore[arg-type]
            path=path,
            config=config,
            overrides=list(overrides or []),
            users=users,
            world_seed=world_seed,
            seeds=_seeds(seeds),
            variants=VariantSpec.parse(variants).names,
            baselines=None if baselines is None else [b.strip() for b in baselines.split(",") if b.strip()],
            k=k,
            device=device,
        )
        with progress() as bar:
            runner_holder: dict[str, AblationRunner] = {}
            stage_task = bar.add_task("starting", total=None, status="")
            runs_task = bar.add_task("runs", total=None, status="")
            train_task = bar.add_task("training steps", total=None, status="", visible=False)

            def on_stage(message: str) -> None:
                bar.update(stage_task, description=message)
                if message.endswith("training"):
                    bar.reset(train_task, visible=True)

            def on_tick(name: str) -> None:
                bar.update(runs_task, total=runner_holder["r"].total_runs, advance=1, status=name)

            def on_step(step: int, rec: dict) -> None:
                bar.update(train_task, completed=step, status=f"loss {rec.get('loss', float('nan')):.4f}")

            runner = AblationRunner(opts, Callbacks(stage=on_stage, tick=on_tick, train_step=on_step))
            runner_holder["r"] = runner
            bar.update(runs_task, total=runner.total_runs)
            result = runner.run()
            bar.update(stage_task, description="done")
        kk = result["k"]
        cols = [f"ER@{kk}", f"ER@{kk} xd", f"R@{kk}", f"R@{kk} xd"]
        table = Table(title=f"ablation ({dataset}, {len(result['seeds'])} seeds): mean ± std")
        table.add_column("method")
        for c in cols:
            table.add_column(c, justify="right")
        entries = [*result["variants"].items(), *[(f"[i]{n}[/i]", e) for n, e in result["baselines"].items()]]
        for name, entry in entries:
            cells = []
            for c in cols:
                m, s = entry["mean"].get(c), entry["std"].get(c, 0.0)
                cells.append("n/a" if m is None else f"{m:.4f} ± {s:.4f}")
            table.add_row(name, *cells)
        console.print(table)
        console.print(f"tables: {out / 'ablation.md'} and {out / 'ablation.json'}")
