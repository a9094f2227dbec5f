"""`rankgraph embed`: Export every node's embedding by exact layer-wise inference."""

from __future__ import annotations

import typer

from rankgraph.cli.common import not_built


def register(app: typer.Typer) -> None:
    @app.command("embed", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def embed(ctx: typer.Context) -> None:
        """Export every node's embedding by exact layer-wise inference."""
        not_built("embed", "issue #6")
