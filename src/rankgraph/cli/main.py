"""Entry point of the `rankgraph` console script.

Each command lives in its own module under `rankgraph.cli` and registers itself here.
Errors that RankGraph raises for users (bad input, bad config, corrupt artifact) become
one clear line on stderr and exit code 2; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import sys

import typer

from rankgraph import __version__
from rankgraph.cli import commands
from rankgraph.cli.common import console
from rankgraph.errors import NotBuiltError, RankGraphError

app = typer.Typer(
    name="rankgraph",
    help="RankGraph: heterogeneous graph embeddings for cross-domain recommendation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
commands.register_all(app)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rankgraph {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    """RankGraph: build a heterogeneous graph from engagement logs, learn embeddings, use them."""


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        app(args=args, prog_name="rankgraph", standalone_mode=False)
    except NotBuiltError as exc:
        console.print(f"[yellow]not built:[/yellow] {exc}")
        return 3
    except RankGraphError as exc:
        if debug:
            raise
        console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        return 2
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        console.print("aborted")
        return 130
    except Exception as exc:  # click usage errors and friends
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return exc.exit_code
        if isinstance(exc, click.exceptions.Exit):
            return int(exc.exit_code or 0)
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
