"""Registry of CLI commands: one module per command, each with a `register(app)`."""

from __future__ import annotations

import typer

COMMAND_MODULES = [
    "generate",
    "build",
    "train",
    "embed",
    "evaluate",
    "run",
    "ablate",
    "serve",
    "rank",
]


def register_all(app: typer.Typer) -> None:
    import importlib

    for name in COMMAND_MODULES:
        module = importlib.import_module(f"rankgraph.cli.cmd_{name}")
        module.register(app)
