"""`rankgraph build`: Build the heterogeneous graph artifact from events."""

from __future__ import annotations

import typer

from rankgraph.cli.common import not_built


def register(app: typer.Typer) -> None:
    @app.command("build", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def build(ctx: typer.Context) -> None:
        """Build the heterogeneous graph artifact from events."""
        not_built("build", "issue #3")
