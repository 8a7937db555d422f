"""The ``descentlab playground`` command; :mod:`descentlab.cli` joins it to the main application."""

from __future__ import annotations

import typer

from descentlab import web


def playground(
    port: int = typer.Option(8050, "--port", min=0, max=65535, help="TCP port to listen on (0: any free one)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind; the default is loopback only."),
) -> None:
    """Start the playground web app (Race and Train pages) and print its address; Ctrl+C stops it."""
    try:
        web.serve(host=host, port=port)
    except ValueError as error:  # a --host that is not this machine's: a usage error
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
    except (ImportError, OSError) as error:  # the web extra is missing; the port is in use or reserved
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=1) from None


def register(app: typer.Typer) -> None:
    """Add the ``playground`` command to a typer application (the ``descentlab`` CLI)."""
    app.command("playground")(playground)
