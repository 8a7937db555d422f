"""The playground's web application: two pages, their static files, a JSON API and a WebSocket.

Routes (all handlers parse, call the library through :mod:`descentlab.web.race` /
:mod:`descentlab.web.training`, and return JSON):

=================================  ================================================================
``GET /race``, ``GET /train``      the pages (``/`` redirects to ``/race``)
``GET /static/…``                  the pages' own scripts and styles
``GET /vendor/plotly.min.js``      Plotly.js from the installed ``plotly`` package (no CDN)
``GET /api/options``               surfaces, optimizers and their defaults, schedules, limits
``GET /api/surfaces/{name}?n=``    contour grid of one surface
``POST /api/explain``              update equations (``describe()``) and notes for one optimizer
``POST /api/race``                 trajectories and losses for every racer and start
``WS /api/train``                  the training conversation (see :mod:`descentlab.web.channel`)
=================================  ================================================================

Every error has the same shape, ``{"error": message, "details": [{"field", "message"}]}``: bad input is
answered with status 422 (a check the library makes names its field too, e.g. ``hyperparameters.lr``; so does
malformed JSON); a body the JSON parser gives up on (a number of thousands of digits, nesting thousands deep)
with 400; a body over the size limit with 413; an unknown path with 404 and a method a route does not take with
405; a race while the server already computes its limit of races with 503 (and
``Retry-After``). A training connection beyond the server's limit, or beyond one client's (by peer address),
gets an ``error`` message and close code 1013 (try again later).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from descentlab import optim
from descentlab.web import race
from descentlab.web.builders import SettingError, describe
from descentlab.web.channel import TrainChannel
from descentlab.web.notes import OPTIMIZER_NOTES
from descentlab.web.schemas import (
    LIMITS,
    SCHEDULE_TYPES,
    SERVER_LIMITS,
    TRAIN_EXCLUDED_OPTIMIZERS,
    ExplainRequest,
    RaceRequest,
    ServerLimits,
    TrainConfig,
    readable,
    schedule_parameters,
    settable_hyperparameters,
)

STATIC = Path(__file__).with_name("static")


def plotly_js() -> Path:
    """The minified Plotly.js bundled inside the installed ``plotly`` Python package."""
    path = resources.files("plotly") / "package_data" / "plotly.min.js"
    return Path(str(path))


class BadInput(ValueError):
    """Input the library rejected; answered with status 422, the library's message and the field it names."""

    def __init__(self, message: str, details: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.details = details or []


class Busy(RuntimeError):
    """The server is at one of its limits; answered with status 503 and a hint to retry shortly."""


def create_app(limits: ServerLimits = SERVER_LIMITS) -> FastAPI:
    """Build the playground application (one per server; every connection gets its own state)."""
    app = FastAPI(title="descentlab playground", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.training_sessions = Counter()  # open training sessions per client address
    races = threading.BoundedSemaphore(limits.max_races_in_flight)  # race handlers run in worker threads
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        details = readable(error.errors())
        return _error(422, "; ".join(f"{d['field']}: {d['message']}" for d in details), details)

    @app.exception_handler(BadInput)
    async def bad_input(request: Request, error: BadInput) -> JSONResponse:
        return _error(422, str(error), error.details)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        response = _error(error.status_code, _http_message(request, error))
        response.headers.update(error.headers or {})
        return response

    @app.exception_handler(Busy)
    async def busy(request: Request, error: Busy) -> JSONResponse:
        response = _error(503, str(error))
        response.headers["Retry-After"] = "1"
        return response

    @app.get("/", include_in_schema=False)
    def index() -> RedirectResponse:
        return RedirectResponse("/race")

    @app.get("/race", include_in_schema=False)
    def race_page() -> FileResponse:
        return FileResponse(STATIC / "race.html")

    @app.get("/train", include_in_schema=False)
    def train_page() -> FileResponse:
        return FileResponse(STATIC / "train.html")

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly() -> FileResponse:
        return FileResponse(plotly_js(), media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})

    @app.get("/api/options")
    def options() -> dict[str, Any]:
        return _options()

    @app.get("/api/surfaces/{name}")
    def surface(name: str, n: int = Query(120, ge=LIMITS.grid_min, le=LIMITS.grid_max)) -> dict[str, Any]:
        with _library_errors():
            return race.surface_grid(name, n)

    @app.post("/api/explain")
    def explain(spec: ExplainRequest) -> dict[str, str]:
        with _library_errors():
            return {**describe(spec), "note": OPTIMIZER_NOTES[spec.optimizer]}

    @app.post("/api/race")
    def run_race(request: RaceRequest) -> dict[str, Any]:
        if not races.acquire(blocking=False):
            raise Busy(
                f"the server is computing as many races as it allows at once ({limits.max_races_in_flight}); "
                "press Race again in a moment"
            )
        try:
            with _library_errors():
                return race.run_race(request)
        finally:
            races.release()

    @app.websocket("/api/train")
    async def train(websocket: WebSocket) -> None:
        await websocket.accept()
        sessions: Counter[str] = app.state.training_sessions
        client = websocket.client.host if websocket.client else "unknown"
        refusal = _training_refusal(sessions, client, limits)
        if refusal:
            await websocket.send_text(json.dumps({"type": "error", "message": refusal, "details": []}))
            await websocket.close(code=1013)
            return
        sessions[client] += 1
        try:
            await TrainChannel(websocket, limits).serve()
        finally:
            sessions[client] -= 1
            if not sessions[client]:
                del sessions[client]

    return app


def _training_refusal(sessions: Counter[str], client: str, limits: ServerLimits) -> str:
    """Why a new training session must wait ("" if it may start): the server's limit, then the client's."""
    if sessions.total() >= limits.max_training_sessions:
        return (
            f"the server is already running {limits.max_training_sessions} training sessions; "
            "close another Train tab and reload"
        )
    if sessions[client] >= limits.max_training_sessions_per_client:
        return (
            f"{client} already runs {limits.max_training_sessions_per_client} training sessions, the limit per "
            "client; close one of its Train tabs and reload"
        )
    return ""


def _options() -> dict[str, Any]:
    from descentlab import surfaces

    return {
        "surfaces": [race.surface_summary(name) for name in surfaces.SURFACES],
        "optimizers": {name: settable_hyperparameters(name) for name in optim.OPTIMIZERS},
        "schedules": {kind: schedule_parameters(kind) for kind in SCHEDULE_TYPES},
        "train": {
            "defaults": TrainConfig().model_dump(),
            "optimizers": [name for name in optim.OPTIMIZERS if name not in TRAIN_EXCLUDED_OPTIMIZERS],
        },
        "limits": asdict(LIMITS),
    }


@contextmanager
def _library_errors() -> Iterator[None]:
    """Turn the library's ``ValueError``/``TypeError`` (its readable checks) into a 422 answer, naming the
    request field where the library's message names it."""
    try:
        yield
    except BadInput:
        raise
    except SettingError as error:
        raise BadInput(str(error), error.details()) from error
    except (ValueError, TypeError) as error:
        raise BadInput(str(error)) from error


def _http_message(request: Request, error: HTTPException) -> str:
    """What the routing and body parsing refused, said for a person (their own details are terse)."""
    path = request.url.path
    if error.status_code == 404:
        return f"there is nothing at {path}; the pages are /race and /train, the API is under /api/"
    if error.status_code == 405:
        return f"{path} does not take {request.method}; it allows {error.headers.get('Allow', 'no other method')}"
    if error.status_code == 400:  # JSON the parser gives up on: a number of over 4300 digits, deep nesting
        return (
            "the request body could not be parsed (is a number too long, or a list nested too deep?); send the "
            "settings as one JSON object, as the pages do"
        )
    return str(error.detail)


def _error(status: int, message: str, details: list[dict[str, str]] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "details": details or []}, status_code=status)


class BodyLimit:
    """Refuse HTTP request bodies over ``max_bytes`` (status 413) before any handler reads them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                response = _error(413, f"the request body exceeds {self.max_bytes} bytes; send smaller settings")
                await response(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
