"""`rankgraph evaluate`: Evaluate embeddings on a temporal split (Engagement Recall@K, Recall@K, NDCG@K)."""

from __future__ import annotations

import typer

from rankgraph.cli.common import not_built


def register(app: typer.Typer) -> None:
    @app.command("evaluate", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def evaluate(ctx: typer.Context) -> None:
        """Evaluate embeddings on a temporal split (Engagement Recall@K, Recall@K, NDCG@K)."""
        not_built("evaluate", "issue #6")
