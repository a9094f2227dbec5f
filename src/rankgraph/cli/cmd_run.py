"""`rankgraph run`: Run the whole pipeline end to end and write a report."""

from __future__ import annotations

import typer

from rankgraph.cli.common import not_built


def register(app: typer.Typer) -> None:
    @app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def run(ctx: typer.Context) -> None:
        """Run the whole pipeline end to end and write a report."""
        not_built("run", "issue #6")
