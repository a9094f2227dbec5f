"""`rankgraph generate`: Generate the synthetic cross-domain world (events, node tables, side edges, ground truth)."""

from __future__ import annotations

import typer

from rankgraph.cli.common import not_built


def register(app: typer.Typer) -> None:
    @app.command("generate", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def generate(ctx: typer.Context) -> None:
        """Generate the synthetic cross-domain world (events, node tables, side edges, ground truth)."""
        not_built("generate", "issue #2")
