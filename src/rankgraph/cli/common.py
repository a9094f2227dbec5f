"""Options and helpers shared by the CLI commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from rankgraph.config import RankGraphConfig, load_config
from rankgraph.errors import NotBuiltError

console = Console(stderr=True)

ConfigOption = Annotated[
    Optional[Path], typer.Option("--config", "-c", help="YAML config file (defaults apply to what it leaves out).")
]
SetOption = Annotated[
    Optional[list[str]],
    typer.Option("--set", "-s", help="Override a config value, e.g. --set train.lr=0.001 (repeatable)."),
]


def resolve_config(config: Path | None, overrides: list[str] | None) -> RankGraphConfig:
    """Load the config file (or defaults) with `--set` overrides applied."""
    return load_config(config, overrides or [])


def not_built(command: str, issue: str) -> None:
    """Refuse a command whose stage does not exist yet, instead of pretending to run."""
    raise NotBuiltError(f"'rankgraph {command}' is not built yet (tracked in {issue}).")


def progress() -> Progress:
    """A rich progress bar on stderr, for long work."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
        transient=False,
    )
