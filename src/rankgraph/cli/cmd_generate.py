"""`rankgraph generate`: write the synthetic cross-domain world (events, nodes, edges, truth)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from rankgraph.cli.common import console, progress
from rankgraph.data.synthetic import (
    ITEM_TYPES,
    NODE_TYPES,
    WorldConfig,
    WorldSummary,
    check_out_dir,
    generate_world,
)


def summary_table(summary: WorldSummary) -> Table:
    """Counts per node type, event and domain, as one table."""
    table = Table(title=f"world written to {summary.out} in {summary.seconds:.1f}s")
    table.add_column("what")
    table.add_column("name")
    table.add_column("count", justify="right")
    for t in NODE_TYPES:
        table.add_row("nodes", t, f"{summary.nodes[t]:,}")
    for e, n in summary.by_event.items():
        table.add_row("events", e, f"{n:,}")
    for d, n in summary.by_domain.items():
        table.add_row("domain", d, f"{n:,}")
    for t in ITEM_TYPES:
        table.add_row("item type", t, f"{summary.by_item_type[t]:,}")
    table.add_row("edges", "follows", f"{summary.follows:,}")
    table.add_row("users", "single-domain", f"{summary.single_domain_users:,}")
    table.add_row("total", "events", f"{summary.events:,}")
    return table


def register(app: typer.Typer) -> None:
    @app.command("generate")
    def generate(
        out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write the world into.")],
        users: Annotated[
            int, typer.Option("--users", "-u", help="Number of users; item counts scale with it.")
        ] = 10_000,
        seed: Annotated[
            int, typer.Option("--seed", help="Random seed; the same seed writes the same bytes.")
        ] = 0,
        events_per_user: Annotated[
            float,
            typer.Option("--events-per-user", "-m",
                         help="Mean clicks per user; like/comment/share/convert rows add ~60%."),
        ] = 40.0,
        topics: Annotated[int, typer.Option("--topics", help="Number of latent topics.")] = 32,
        chunk_users: Annotated[
            Optional[int], typer.Option("--chunk-users", help="Users per streamed chunk (bounds memory).")
        ] = None,
        force: Annotated[
            bool, typer.Option("--force", help="Replace a non-empty --out directory.")
        ] = False,
    ) -> None:
        """Generate the synthetic cross-domain world: events, node tables, side edges, ground truth.

        Users share latent topic interests across the feed/groups (posts), reels/watch (videos) and ads_feed/ads_reels (ads) surfaces; some start on one surface and move to another late, so recommending there needs transfer.

        The directory also holds truth/ (planted interests and item topics), a ready rankgraph.yaml and manifest.json. An existing non-empty --out is refused unless --force.
        """
        cfg = WorldConfig(n_users=users, seed=seed, events_per_user=events_per_user, n_topics=topics)
        if chunk_users is not None:
            cfg.chunk_users = chunk_users
        n_chunks = -(-cfg.n_users // cfg.resolved().chunk_users)  # validates the config first
        check_out_dir(out, force)
        with progress() as bar:
            task = bar.add_task("users, then events, by chunk", total=2 * n_chunks, status="")

            def on_chunk(done: int, total: int, events: int) -> None:
                bar.update(task, completed=done, status=f"{events:,} events")

            summary = generate_world(out, cfg, force=force, on_chunk=on_chunk)
        Console().print(summary_table(summary))
        console.print(f"config: {out / 'rankgraph.yaml'}")
