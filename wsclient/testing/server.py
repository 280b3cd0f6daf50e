"""A scriptable WebSocket server on loopback that misbehaves on cue.

Each incoming connection plays the next script from a list: send these
messages, close with a code, write a raw (even invalid) frame, drop or reset
the socket, stall, stop answering pings, or reject the handshake::

    server = FaultServer([
        [Send("tick 1"), Close(1012, "restart")],
        [Reject(429, {"Retry-After": "7"})],
        [Send("tick 2"), Drop()],
    ], then=[Hold()])
    async with server:
        async with wsclient.connect(server.url) as conn: ...

Connections past the end of the list play ``then``. What the client sent on
connection ``i`` is in ``server.received[i]``; its handshake in
``server.requests[i]``; the close code it ended with in ``server.closes[i]``.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict
from yarl import URL

from ..clock import Clock, SystemClock

__all__ = [
    "Close",
    "CloseFrame",
    "Drop",
    "FaultServer",
    "Hold",
    "Pause",
    "Raw",
    "Receive",
    "Reject",
    "Reset",
    "Send",
    "Stall",
    "Step",
    "close_frame",
]


def close_frame(code: int | None = None, reason: bytes = b"") -> bytes:
    """A server-to-client close frame with any code, valid or not
    (``None``: a frame without a code)."""
    payload = b"" if code is None else struct.pack("!H", code) + reason
    if len(payload) > 125:
        return b"\x88\x7e" + struct.pack("!H", len(payload)) + payload
    return bytes([0x88, len(payload)]) + payload


@dataclass(frozen=True)
class Seen:
    """The handshake request of one connection."""

    path_qs: str
    headers: Mapping[str, str]


class _Play:
    """One connection playing its script."""

    def __init__(
        self, server: FaultServer, request: web.Request, ws: web.WebSocketResponse
    ) -> None:
        self.server = server
        self.request = request
        self.ws = ws
        self.received: list[str | bytes] = []
        self.pong = True

    async def read_one(self) -> bool:
        """Read one frame; False once the client is gone."""
        msg = await self.ws.receive()
        if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
            self.received.append(msg.data)
            return True
        if msg.type is WSMsgType.PING:
            if self.pong:
                await self.ws.pong(msg.data)
            return True
        return msg.type is WSMsgType.PONG

    async def read_until_gone(self) -> None:
        while await self.read_one():
            pass

    async def until_shutdown(self) -> None:
        await self.server._shutdown.wait()


class Step(Protocol):
    """One thing a connection does."""

    async def __call__(self, play: _Play) -> None: ...


@dataclass(frozen=True)
class Send:
    """Send a TEXT (str) or BINARY (bytes) message."""

    data: str | bytes

    async def __call__(self, play: _Play) -> None:
        if isinstance(self.data, str):
            await play.ws.send_str(self.data)
        else:
            await play.ws.send_bytes(self.data)


@dataclass(frozen=True)
class Close:
    """Close with a valid code and reason, and wait for the client's reply."""

    code: int = 1000
    reason: str = ""

    async def __call__(self, play: _Play) -> None:
        await play.ws.close(code=self.code, message=self.reason.encode())


@dataclass(frozen=True)
class CloseFrame:
    """Write a raw close frame (any code, even one that must never be sent;
    ``None`` for none), then read until the client goes."""

    code: int | None = None
    reason: bytes = b""

    async def __call__(self, play: _Play) -> None:
        await Raw(close_frame(self.code, self.reason))(play)
        await play.read_until_gone()


@dataclass(frozen=True)
class Raw:
    """Write raw bytes onto the socket (a bad frame, a broken header...)."""

    data: bytes

    async def __call__(self, play: _Play) -> None:
        transport = play.request.transport
        assert transport is not None
        transport.write(self.data)


@dataclass(frozen=True)
class Drop:
    """Close the TCP connection without a close frame."""

    async def __call__(self, play: _Play) -> None:
        transport = play.request.transport
        assert transport is not None
        transport.close()


@dataclass(frozen=True)
class Reset:
    """Reset the TCP connection (RST)."""

    async def __call__(self, play: _Play) -> None:
        transport = play.request.transport
        assert transport is not None
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()


@dataclass(frozen=True)
class Hold:
    """Keep the connection: read (and record) what the client sends until it
    closes, or for ``seconds`` on the server's clock; answer pings unless
    ``pong`` is False."""

    seconds: float | None = None
    pong: bool = True

    async def __call__(self, play: _Play) -> None:
        play.pong = self.pong
        if self.seconds is None:
            await play.read_until_gone()
            return
        tasks = {
            asyncio.ensure_future(play.read_until_gone()),
            asyncio.ensure_future(play.server.clock.sleep(self.seconds)),
        }
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)


@dataclass(frozen=True)
class Receive:
    """Wait for ``count`` messages from the client (recorded), answering pings."""

    count: int = 1

    async def __call__(self, play: _Play) -> None:
        goal = len(play.received) + self.count
        while len(play.received) < goal:
            if not await play.read_one():
                return


@dataclass(frozen=True)
class Pause:
    """Do nothing (not even read) for ``seconds`` on the server's clock."""

    seconds: float

    async def __call__(self, play: _Play) -> None:
        await play.server.clock.sleep(self.seconds)


@dataclass(frozen=True)
class Stall:
    """Stop reading and answering, but keep the socket open, until the server stops."""

    async def __call__(self, play: _Play) -> None:
        await play.until_shutdown()


@dataclass(frozen=True)
class Reject:
    """Refuse the handshake with an HTTP ``status`` (only as a script's first step)."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str = ""

    async def __call__(self, play: _Play) -> None:  # pragma: no cover - handled first
        raise AssertionError("Reject must be the first step of a script")


def _deepen_backlog(server: TestServer) -> None:
    """Listen with a backlog of 4096 instead of aiohttp's 128: in a burst of
    more concurrent connects the kernel drops SYNs, the client retries a second
    later, and virtual time would take that second of silence for idleness."""
    assert server.runner is not None
    for site in server.runner.sites:
        for sock in getattr(site._server, "sockets", None) or ():
            with socket.fromfd(sock.fileno(), sock.family, sock.type) as same:
                same.listen(4096)


class FaultServer:
    """A WebSocket server on 127.0.0.1 that plays one script per connection.

    Args:
        script: One list of steps per connection, in order of arrival.
        then: The steps of every connection past the end of ``script``.
        clock: The clock ``Hold(seconds)`` and ``Pause`` count on.
    """

    def __init__(
        self,
        script: Sequence[Sequence[Step]] = (),
        *,
        then: Sequence[Step] = (Hold(),),
        clock: Clock | None = None,
    ) -> None:
        self.script = [list(steps) for steps in script]
        self.then = list(then)
        self.clock = clock or SystemClock()
        self.received: list[list[str | bytes]] = []
        self.requests: list[Seen] = []
        self.closes: list[int | None] = []  # the close code each connection ended with
        self._shutdown = asyncio.Event()
        self._server: TestServer | None = None
        self.app = web.Application()
        self.app.router.add_get("/{tail:.*}", self._handle)
        self.app.on_shutdown.append(self._on_shutdown)

    @property
    def connections(self) -> int:
        """How many handshakes have arrived."""
        return len(self.requests)

    @property
    def url(self) -> URL:
        """``ws://127.0.0.1:<port>/``."""
        if self._server is None:
            raise RuntimeError("the server is not started")
        return self._server.make_url("/").with_scheme("ws")

    async def start(self) -> FaultServer:
        """Listen on 127.0.0.1, on a free port."""
        server = TestServer(self.app, host="127.0.0.1")
        await server.start_server()
        return self.attach(server)

    def attach(self, server: TestServer) -> FaultServer:
        """Use a ``TestServer`` of ``self.app`` started elsewhere (by
        pytest-aiohttp's ``aiohttp_server``, which also closes it)."""
        self._server = server
        _deepen_backlog(server)
        return self

    async def close(self) -> None:
        """Stop listening and end every connection (stalled ones too)."""
        if self._server is not None:
            await self._server.close()

    async def __aenter__(self) -> FaultServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _on_shutdown(self, app: web.Application) -> None:
        self._shutdown.set()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        index = len(self.requests)
        self.requests.append(Seen(request.path_qs, CIMultiDict(request.headers)))
        steps = self.script[index] if index < len(self.script) else self.then
        ws = web.WebSocketResponse(autoping=False)
        play = _Play(self, request, ws)
        self.received.append(play.received)
        self.closes.append(None)
        if steps and isinstance(steps[0], Reject):
            reject = steps[0]
            return web.Response(status=reject.status, headers=reject.headers, text=reject.body)
        await ws.prepare(request)
        try:
            for step in steps:
                await step(play)
            if not ws.closed and not request.transport.is_closing():  # type: ignore[union-attr]
                await play.read_until_gone()
        finally:
            self.closes[index] = ws.close_code
        return ws
