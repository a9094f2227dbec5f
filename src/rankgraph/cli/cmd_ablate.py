"""`rankgraph ablate`: Train and tabulate ablation variants over several seeds."""

from __future__ import annotations

import typer

from rankgraph.cli.common import not_built


def register(app: typer.Typer) -> None:
    @app.command("ablate", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def ablate(ctx: typer.Context) -> None:
        """Train and tabulate ablation variants over several seeds."""
        not_built("ablate", "issue #6")
