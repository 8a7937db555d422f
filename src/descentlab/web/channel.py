"""The Train page's WebSocket conversation: commands in, training frames out.

The page sends JSON commands::

    {"type": "configure", "config": {...TrainConfig...}}   build a fresh run (answered by "ready")
    {"type": "play"} | {"type": "pause"}                   stream frames until paused or finished
    {"type": "step"}                                       one epoch, one frame
    {"type": "reset"}                                      rebuild the run from its configuration
    {"type": "ack"}                                        the page has drawn one frame

and receives ``ready`` (the points, the explain panel, frame 0), ``frame`` (history since the previous
frame, decision boundary, gradient norms, current equations) and ``error`` (a readable message, the fields at
fault and the ``command`` it answers, ``null`` when the message could not be read; the connection stays open).
Settings that are refused leave no run: "play", "step" and "reset" are then refused too, until a "configure"
succeeds, so nothing trains settings other than the ones the page shows. Training runs in a worker thread one
frame at a time, so the server keeps answering while a run plays, and commands are read while it plays. While
playing, at most ``FRAMES_IN_FLIGHT`` frames are sent ahead of the page's acknowledgements, so a slow page never
falls behind a fast run (and "pause" takes effect at once). Each connection owns its run; nothing is shared
between connections.

Bounds: a message over ``ServerLimits.max_body_bytes`` is refused with a readable error (the server's protocol
layer closes the connection, code 1009, only for one over twice that); at most ``COMMANDS_QUEUED`` commands wait
while a frame is computed, after which the socket is not read, so a client that floods the connection is held
back by the WebSocket's flow control instead of growing the server's memory. A page that goes away (a tab closed
while it plays) ends the conversation quietly.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anyio
from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from descentlab.web.builders import SettingError
from descentlab.web.schemas import SERVER_LIMITS, ServerLimits, TrainConfig, readable
from descentlab.web.training import TrainingRun

COMMANDS = ("configure", "play", "pause", "step", "reset", "ack")
FRAMES_IN_FLIGHT = 2
COMMANDS_QUEUED = 16
_CLOSED = object()  # queued when the page disconnects
_BINARY = object()  # queued for a binary message (commands are text)


class BadCommand(ValueError):
    """A command the page sent could not be used; ``details`` lists the fields at fault."""

    def __init__(self, message: str, details: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.details = details or []
        self.command: str | None = None  # the command refused, once it could be read


class TrainChannel:
    """One page connection and its (at most one) training run."""

    def __init__(self, websocket: WebSocket, limits: ServerLimits = SERVER_LIMITS) -> None:
        self.websocket = websocket
        self.limits = limits
        self.config: TrainConfig | None = None
        self.run: TrainingRun | None = None
        self.refusal = ""  # why the last settings were refused ("" when they were not)
        self.playing = False
        self.unacknowledged = 0
        self.commands: asyncio.Queue[Any] = asyncio.Queue(maxsize=COMMANDS_QUEUED)
        self.closed = asyncio.Event()  # set by the reader, so a full queue cannot hide the disconnect

    async def serve(self) -> None:
        reader = asyncio.create_task(self._read())
        try:
            while not self.closed.is_set():
                if self._may_stream():
                    command = None if self.commands.empty() else self.commands.get_nowait()
                else:
                    command = await self.commands.get()
                if command is _CLOSED:
                    return
                if command is not None:
                    await self._handle(command)
                if self._may_stream() and not self.closed.is_set():
                    assert self.run is not None
                    try:
                        await self._send_frame(await self._advance(self.run.epochs_per_frame()))
                    except BadCommand as error:
                        await self._send_error(error)
        except WebSocketDisconnect:  # the page went away while an answer was on its way: nothing to tell it
            return
        finally:
            reader.cancel()

    def _may_stream(self) -> bool:
        return self.playing and self.run is not None and not self.run.done and self.unacknowledged < FRAMES_IN_FLIGHT

    async def _read(self) -> None:
        """Queue incoming messages until the page disconnects; with ``COMMANDS_QUEUED`` waiting, stop reading."""
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                self.closed.set()
                await self.commands.put(_CLOSED)  # wakes serve() if it waits for a command
                return
            text = message.get("text")
            await self.commands.put(_BINARY if text is None else text)

    async def _handle(self, text: Any) -> None:
        kind = None
        try:
            if text is _BINARY:
                raise BadCommand("send commands as text messages holding JSON, not binary ones")
            kind, message = self._parse(text)
            if kind == "ack":
                self.unacknowledged = max(0, self.unacknowledged - 1)
            elif kind == "configure":
                await self._configure(message.get("config"))
            elif self.run is None and self.refusal:
                raise BadCommand(
                    f"{kind!r} needs settings the server accepts; the last ones were refused: {self.refusal}"
                )
            elif self.run is None:
                raise BadCommand(f"{kind!r} needs a run: send 'configure' with the settings first")
            elif kind == "play":
                self.playing = not self.run.done
                if self.run.done:
                    await self._send_frame(self.run.frame())
            elif kind == "pause":
                self.playing = False
                await self._send_frame(self.run.frame())
            elif kind == "step":
                self.playing = False
                await self._send_frame(await self._advance(1))
            else:  # reset
                assert self.config is not None
                await self._configure_from(self.config)
        except BadCommand as error:
            error.command = kind
            await self._send_error(error)

    async def _advance(self, epochs: int) -> dict[str, Any]:
        """Train ``epochs`` epochs in a worker thread; a check the library makes mid-run stops playing."""
        assert self.run is not None
        try:
            return await anyio.to_thread.run_sync(self.run.run_epochs, epochs)
        except (ValueError, TypeError) as error:
            self.playing = False
            raise BadCommand(f"training stopped: {error}") from None

    def _parse(self, text: str) -> tuple[str, dict[str, Any]]:
        size = len(text.encode("utf-8"))
        if size > self.limits.max_body_bytes:
            raise BadCommand(
                f"the message has {size} bytes; the limit is {self.limits.max_body_bytes}: send smaller settings"
            )
        try:
            message = json.loads(text)
        except json.JSONDecodeError as error:
            raise BadCommand(f"the message is not JSON ({error.msg} at character {error.pos})") from None
        if not isinstance(message, dict) or message.get("type") not in COMMANDS:
            raise BadCommand(f"a command is an object with 'type' one of {', '.join(COMMANDS)}")
        return message["type"], message

    async def _configure(self, raw: Any) -> None:
        """Replace the run by one with these settings; refused settings leave no run (see the module docstring)."""
        try:
            config = TrainConfig.model_validate(raw if raw is not None else {})
        except ValidationError as error:
            details = readable(error.errors())
            raise self._refused("; ".join(f"{d['field']}: {d['message']}" for d in details), details) from None
        await self._configure_from(config)

    async def _configure_from(self, config: TrainConfig) -> None:
        try:
            run = await anyio.to_thread.run_sync(TrainingRun, config)
        except SettingError as error:  # the library's own checks of the optimizer (e.g. β₂ = 1)
            raise self._refused(str(error), error.under("optimizer").details()) from None
        except (ValueError, TypeError) as error:
            raise self._refused(str(error)) from None
        self.config, self.run, self.refusal, self.playing, self.unacknowledged = config, run, "", False, 0
        await self._send(run.introduction())

    def _refused(self, message: str, details: list[dict[str, str]] | None = None) -> BadCommand:
        self.config, self.run, self.refusal, self.playing = None, None, message, False
        return BadCommand(message, details)

    async def _send_frame(self, frame: dict[str, Any]) -> None:
        if frame["status"] in ("finished", "diverged"):
            self.playing = False
        self.unacknowledged += 1
        await self._send({**frame, "playing": self.playing})

    async def _send_error(self, error: BadCommand) -> None:
        await self._send({"type": "error", "message": str(error), "details": error.details, "command": error.command})

    async def _send(self, message: dict[str, Any]) -> None:
        await self.websocket.send_text(json.dumps(message, allow_nan=False))
