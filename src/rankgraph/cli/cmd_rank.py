"""`rankgraph rank`: train and evaluate the sequence ranker with graph-embedding tokens."""

from __future__ import annotations

import typer

from rankgraph.cli.common import not_built


def register(app: typer.Typer) -> None:
    @app.command("rank", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def rank(ctx: typer.Context) -> None:
        """Train and evaluate the sequence ranker with graph-embedding tokens."""
        not_built("rank", "issue #7")
