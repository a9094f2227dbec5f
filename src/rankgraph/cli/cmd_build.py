"""`rankgraph build`: build the heterogeneous graph artifact from events."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from rankgraph.cli.common import ConfigOption, SetOption, console, resolve_config
from rankgraph.config import RankGraphConfig, load_config
from rankgraph.errors import ConfigError
from rankgraph.graph.build import build_graph
from rankgraph.graph.store import HeteroGraph

DATASETS = ("tang",)


def graph_table(graph: HeteroGraph, out: Path, seconds: float) -> Table:
    """Node counts per type and edge counts per relation, as one table."""
    table = Table(title=f"graph written to {out} in {seconds:.1f}s")
    table.add_column("what")
    table.add_column("name")
    table.add_column("src -> dst")
    table.add_column("count", justify="right")
    for t, n in graph.num_nodes.items():
        table.add_row("nodes", t, "", f"{n:,}")
    for name, rel in graph.relations.items():
        table.add_row(rel.kind, name, f"{rel.src_type} -> {rel.dst_type}", f"{rel.num_edges:,}")
    return table


def dataset_config(dataset: str, path: Path, out: Path, config: Path | None, overrides: list[str] | None) -> RankGraphConfig:
    """Convert a named public dataset into a cache beside `out` and return its config.

    With `--config` too, the data section comes from the converted dataset and every other
    section (graph, model, ...) from the given file.
    """
    if dataset not in DATASETS:
        raise ConfigError(f"--dataset {dataset!r}: known datasets are {', '.join(DATASETS)}")
    from rankgraph.data.tang import convert_tang

    cache = out.resolve().parent / f".{out.name}.tang-cache"
    converted = convert_tang(path, cache)
    cfg = load_config(converted.config_path, overrides)
    if config is not None:
        user = resolve_config(config, overrides)
        user.data = cfg.data
        if user.graph.train_until is None:
            user.graph.train_until = cfg.graph.train_until
        cfg = user
    return cfg


def register(app: typer.Typer) -> None:
    @app.command("build")
    def build(
        out: Annotated[Path, typer.Option("--out", "-o", help="Graph directory to write (replaced atomically).")],
        config: ConfigOption = None,
        train_until: Annotated[
            Optional[str],
            typer.Option("--train-until", help="Keep only events strictly before this cut (timestamp or ISO date)."),
        ] = None,
        dataset: Annotated[
            Optional[str], typer.Option("--dataset", help="Build from a public dataset instead: 'tang' (Ciao, Epinions).")
        ] = None,
        path: Annotated[Optional[Path], typer.Option("--path", help="Folder of the --dataset files.")] = None,
        sets: SetOption = None,
    ) -> None:
        """Build the heterogeneous graph: id maps, engagement, semantic and side relations, node features.

        Events strictly before --train-until (or graph.train_until) are used. The artifact's manifest records the config, the cut, node and edge counts, degree statistics and the SQL that built it.
        """
        import time

        from rankgraph.graph.build import parse_train_until

        if dataset is not None:
            if path is None:
                raise ConfigError("--dataset needs --path (the folder of the dataset's files)")
            with console.status(f"converting {dataset} dataset at {path}"):
                cfg = dataset_config(dataset, path, out, config, sets)
        else:
            if path is not None:
                raise ConfigError("--path is only used with --dataset")
            cfg = resolve_config(config, sets)
        cut = parse_train_until(train_until, cfg.data.time_unit) if train_until is not None else None
        started = time.perf_counter()
        with console.status("building graph") as status:

            def stage(msg: str) -> None:
                console.print(f"[dim]- {msg}[/dim]")
                status.update(f"building graph: {msg}")

            graph = build_graph(cfg, out, train_until=cut, stage=stage)
        Console().print(graph_table(graph, out, time.perf_counter() - started))
        if graph.meta.get("side_edges"):
            for name, rep in graph.meta["side_edges"].items():
                if rep["dropped"]:
                    console.print(f"side edges '{name}': dropped {rep['dropped']:,} of {rep['rows']:,} rows "
                                  "(endpoint not a node of the graph)")
        console.print(f"train_until: {graph.meta.get('train_until')}")
