"""`rankgraph serve`: Serve neighbours, recommendations and clusters over HTTP."""

from __future__ import annotations

import typer

from rankgraph.cli.common import not_built


def register(app: typer.Typer) -> None:
    @app.command("serve", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def serve(ctx: typer.Context) -> None:
        """Serve neighbours, recommendations and clusters over HTTP."""
        not_built("serve", "issue #8")
