"""`rankgraph train`: Train RankGraph embeddings on a graph artifact."""

from __future__ import annotations

import typer

from rankgraph.cli.common import not_built


def register(app: typer.Typer) -> None:
    @app.command("train", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def train(ctx: typer.Context) -> None:
        """Train RankGraph embeddings on a graph artifact."""
        not_built("train", "issue #5")
