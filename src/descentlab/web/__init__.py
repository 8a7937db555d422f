"""The playground: descentlab in the browser (``descentlab playground``).

Two pages driven by the library: *Race* (optimizers descending a loss surface from the points you click)
and *Train* (a small network learning a 2-D dataset, streamed live). Everything is served from the
installed packages — no internet needed. Needs the ``web`` extra: ``pip install 'descentlab[web]'``.

    from descentlab.web import serve
    serve(port=8050)            # then open http://127.0.0.1:8050
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from descentlab._numbers import is_integer

if TYPE_CHECKING:
    import typer

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def create_app(server_limits: Any = None) -> Any:
    """The ASGI application (FastAPI); ``server_limits`` is a :class:`~descentlab.web.schemas.ServerLimits`
    (the defaults when ``None``)."""
    from descentlab.web.app import create_app as _create_app
    from descentlab.web.schemas import SERVER_LIMITS

    return _create_app(SERVER_LIMITS if server_limits is None else server_limits)


def serve(host: str = "127.0.0.1", port: int = 8050) -> None:
    """Run the playground until interrupted, printing its address; binds to the loopback interface by default.

    Any other ``host`` makes the playground reachable from other machines; a warning says so.
    """
    if not is_integer(port) or not 0 <= port <= 65535:
        raise ValueError(f"serve: port={port!r} must be an integer in [0, 65535], e.g. 8050")
    port = int(port)
    try:
        import uvicorn
    except ImportError as error:
        raise ImportError(
            "the playground needs the web extra: pip install 'descentlab[web]' (fastapi, uvicorn, plotly)"
        ) from error
    from descentlab.web.app import create_app as _create_app
    from descentlab.web.schemas import SERVER_LIMITS

    if host not in LOOPBACK_HOSTS:
        print(f"warning: binding to {host} makes the playground reachable from other machines")
    shown = f"[{host}]" if ":" in host else host
    print(f"descentlab playground: http://{shown}:{port}/race  (Ctrl+C to stop)", flush=True)
    uvicorn.run(_create_app(), host=host, port=port, log_level="warning", ws_max_size=SERVER_LIMITS.max_body_bytes)


def register(app: typer.Typer) -> None:
    """Add the ``playground`` command to a typer application (see :mod:`descentlab.web.cli`)."""
    from descentlab.web.cli import register as _register

    _register(app)


__all__ = ["create_app", "register", "serve"]
