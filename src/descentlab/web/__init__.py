"""The playground: descentlab in the browser (``descentlab playground``).

Two pages driven by the library: *Race* (optimizers descending a loss surface from the points you click)
and *Train* (a small network learning a 2-D dataset, streamed live). Everything is served from the
installed packages — no internet needed. Needs the ``web`` extra: ``pip install 'descentlab[web]'``.

    from descentlab.web import serve
    serve(port=8050)            # then open http://127.0.0.1:8050
"""

from __future__ import annotations

import errno
import socket
from typing import TYPE_CHECKING, Any

from descentlab._numbers import is_integer

if TYPE_CHECKING:
    import typer

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# uvicorn closes a connection (1009) whose WebSocket message exceeds its ws_max_size before the application
# sees it; at this multiple of ServerLimits.max_body_bytes a message just over the limit still reaches the
# Train channel, which answers it with a readable refusal and keeps the connection.
WS_MAX_SIZE_FACTOR = 2


def create_app(server_limits: Any = None) -> Any:
    """The ASGI application (FastAPI); ``server_limits`` is a :class:`~descentlab.web.schemas.ServerLimits`
    (the defaults when ``None``)."""
    from descentlab.web.app import create_app as _create_app
    from descentlab.web.schemas import SERVER_LIMITS

    return _create_app(SERVER_LIMITS if server_limits is None else server_limits)


def serve(host: str = "127.0.0.1", port: int = 8050) -> None:
    """Run the playground until interrupted; binds to the loopback interface by default.

    The address is printed once the socket listens, with the port the system chose for ``port=0``. Any other
    ``host`` makes the playground reachable from other machines; a warning says so. A ``host`` that is not an
    address of this machine raises ``ValueError``; a port that cannot be listened on (in use, reserved) raises
    ``OSError``; both say what to change.
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

    listening = _listen(host, port)
    if host not in LOOPBACK_HOSTS:
        print(f"warning: binding to {host} makes the playground reachable from other machines")
    shown = f"[{host}]" if ":" in host else host
    print(f"descentlab playground: http://{shown}:{listening.getsockname()[1]}/race  (Ctrl+C to stop)", flush=True)
    config = uvicorn.Config(
        _create_app(), log_level="warning", ws_max_size=WS_MAX_SIZE_FACTOR * SERVER_LIMITS.max_body_bytes
    )
    try:
        uvicorn.Server(config).run(sockets=[listening])
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl+C it handled, once it has shut down
        pass
    finally:
        listening.close()


def _listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port``, or the readable error saying why there can be none."""
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as error:
        raise _not_this_machine(host, error) from None
    listening = socket.socket(family, socket.SOCK_STREAM)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: restart at once after a stop
        listening.bind(address)
        listening.listen()
    except OSError as error:
        listening.close()
        if error.errno == errno.EADDRNOTAVAIL:
            raise _not_this_machine(host, error) from None
        if error.errno == errno.EADDRINUSE:
            hint = "is another playground running? Stop it or choose another port"
        elif error.errno == errno.EACCES:
            hint = "ports below 1024 need administrator rights; choose another port, e.g. 8050"
        else:
            hint = "choose another port"
        raise OSError(f"cannot listen on {host}:{port}: {error.strerror}; {hint}") from None
    return listening


def _not_this_machine(host: str, error: OSError) -> ValueError:
    return ValueError(
        f"serve: host={host!r} is not an address of this machine ({error.strerror}); use 127.0.0.1 (this machine "
        f"only) or 0.0.0.0 (every interface)"
    )


def register(app: typer.Typer) -> None:
    """Add the ``playground`` command to a typer application (see :mod:`descentlab.web.cli`)."""
    from descentlab.web.cli import register as _register

    _register(app)


__all__ = ["create_app", "register", "serve"]
