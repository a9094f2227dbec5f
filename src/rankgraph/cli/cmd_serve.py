"""`rankgraph serve`: Serve neighbours, recommendations and clusters over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from rankgraph.cli.common import ConfigOption, SetOption, console, resolve_config
from rankgraph.errors import ConfigError


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        embeddings: Annotated[Path, typer.Option("--embeddings", "-e", help="Embeddings artifact directory (from `rankgraph embed`).")],
        graph: Annotated[
            Optional[Path], typer.Option("--graph", "-g", help="Graph artifact: each user's engaged items are left out of /recommend.")
        ] = None,
        host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", "-p", help="Port to listen on.")] = 8000,
        threads: Annotated[int, typer.Option("--threads", help="FAISS (OpenMP) threads per search; 0: FAISS default (all cores).")] = 1,
        allowed_root: Annotated[
            Optional[Path],
            typer.Option("--allowed-root", help="POST /reload only loads artifacts under this folder (default: the folder holding --embeddings)."),
        ] = None,
        watch: Annotated[
            float, typer.Option("--watch", help="Poll the artifact's manifest.json every this many seconds and reload on change (0: off).")
        ] = 0.0,
        batch_window_ms: Annotated[
            float, typer.Option("--batch-window-ms", help="Extra wait to gather concurrent searches into one (0: only what queued).")
        ] = 0.0,
        batching: Annotated[
            bool,
            typer.Option("--batching/--no-batching", help="Answer concurrent searches with one FAISS call (off: each alone in the request thread pool; see docs/serving.md)."),
        ] = True,
        no_checksums: Annotated[bool, typer.Option("--no-checksums", help="Skip artifact checksums on (re)load (huge artifacts).")] = False,
        config: ConfigOption = None,
        overrides: SetOption = None,
        log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
    ) -> None:
        """Serve neighbours, recommendations and clusters over HTTP (FastAPI; OpenAPI at /docs).

        Endpoints: GET /health, /info, /metrics; POST /recommend, /similar, /cluster, /reload.
        The index, the popularity read-out and the trigger scoring (neighbours, event weights) come from the config's
        `evaluate` section, so the service scores as the evaluation does. See docs/serving.md.
        """
        from rankgraph.serve import require_fastapi

        require_fastapi()
        import uvicorn

        from rankgraph.serve.app import create_app
        from rankgraph.serve.config import ServeConfig

        if not 1 <= port <= 65535:
            raise ConfigError(f"--port {port}: expected 1..65535")
        if threads < 0:
            raise ConfigError(f"--threads {threads}: expected >= 0")
        if allowed_root is not None and not allowed_root.is_dir():
            raise ConfigError(f"--allowed-root {allowed_root}: not a directory")
        cfg = resolve_config(config, overrides)
        serve_cfg = ServeConfig(
            embeddings=embeddings,
            graph=graph,
            host=host,
            port=port,
            threads=threads,
            allowed_root=allowed_root,
            batching=batching,
            batch_window_ms=batch_window_ms,
            watch_interval_s=watch,
            verify_checksums=not no_checksums,
            index=cfg.evaluate.index,
            popularity_readout=cfg.evaluate.popularity_readout,
            neighbours=cfg.evaluate.neighbours,
            trigger_weights=cfg.evaluate.trigger_weights,
        )
        application = create_app(serve_cfg)
        state = application.state.registry.current
        counts = ", ".join(f"{t} {n.count:,}" for t, n in state.emb.types.items())
        console.print(f"serving {embeddings} ({counts}; loaded in {state.load_seconds:.2f}s) on http://{host}:{port}")
        uvicorn.run(application, host=host, port=port, log_level=log_level, access_log=False)
