"""The middle test tier's transport: scripted fake sockets (with the fake clock).

A test hands ``Session(transport=FakeTransport(...))`` the outcome of each
opening handshake in order: a :class:`FakeSocket`, an exception to raise, or
an ``asyncio.Future`` that the handshake waits on (a hang the test ends).
It then plays the server: ``sock.feed("a", "b")`` makes the client read two
messages, ``sock.feed_close(1012)`` a close frame, ``sock.drop()`` a lost
transport; ``sock.sent`` is what the client wrote, ``sock.close_code`` the
code it closed with. Everything happens when the test says, so races are set
up exactly instead of hoped for over loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from aiohttp import WSMessage, WSMsgType
from yarl import URL

import wsclient
from wsclient.clock import Clock
from wsclient.options import Options
from wsclient.transport import Socket

__all__ = ["FEED_URL", "FakeSocket", "FakeTransport", "fake_connection", "until"]

FEED_URL = "ws://feed.test/"  # never resolved: the fake transport opens every socket

_CLOSED = WSMessage(WSMsgType.CLOSED, None, None)
_CLOSING = WSMessage(WSMsgType.CLOSING, None, None)


class FakeSocket:
    """One scripted WebSocket; the test plays the server.

    Args:
        answer_close: Seconds (on ``clock``) the peer takes to answer the
            client's close frame; ``None`` never answers (close_timeout ends it).
        clock: The clock of ``answer_close`` and ``write_delay``.
        write_delay: Seconds (on ``clock``) each write takes.
        pong: Answer pings.
    """

    def __init__(
        self,
        *,
        answer_close: float | None = 0.0,
        clock: Clock | None = None,
        write_delay: float = 0.0,
        pong: bool = True,
    ) -> None:
        self.incoming: deque[WSMessage] = deque()
        self.sent: list[str | bytes] = []
        self.sent_at: list[float] = []  # when each was written (with a clock)
        self.close_code: int | None = None  # the client's close frame
        self.aborted = False
        self.pings = 0
        self.pongs: list[bytes] = []
        self.heard: Callable[[], None] | None = None
        self.protocol: str | None = None  # the subprotocol "the server" chose
        self.answered = False  # "the server" answered the client's close frame
        self.fail_writes = False
        self._answer_close = answer_close
        self._clock = clock
        self._write_delay = write_delay
        self._pong = pong
        self._gone = False  # the transport is gone
        self._waiter: asyncio.Future[None] | None = None

    # -- the server's side (the test) ----------------------------------------------

    def feed(self, *items: str | bytes | WSMessage) -> None:
        """Messages for the client to read, in one go."""
        for item in items:
            if isinstance(item, str):
                self.incoming.append(WSMessage(WSMsgType.TEXT, item, None))
            elif isinstance(item, bytes):
                self.incoming.append(WSMessage(WSMsgType.BINARY, item, None))
            else:
                self.incoming.append(item)
        if self.heard is not None:
            self.heard()
        self._wake()

    def feed_close(self, code: int = 1000, reason: str = "") -> None:
        """The server's close frame (``code`` 0: one without a code)."""
        self.feed(WSMessage(WSMsgType.CLOSE, code, reason))

    def drop(self) -> None:
        """The transport goes away without a close frame."""
        self._gone = True
        self.feed(_CLOSED)

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- the Socket protocol (the client's side) -----------------------------------------

    async def receive(self) -> WSMessage:
        while not self.incoming:
            if self._gone:
                return _CLOSED
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        return self.incoming.popleft()

    async def send_str(self, data: str) -> None:
        await self._write(data)

    async def send_bytes(self, data: bytes) -> None:
        await self._write(data)

    async def _write(self, data: str | bytes) -> None:
        if self._gone or self.close_code is not None or self.fail_writes:
            raise ConnectionResetError("Cannot write to closing transport")
        if self._write_delay:
            assert self._clock is not None
            await self._clock.sleep(self._write_delay)
            if self._gone:
                raise ConnectionResetError("Cannot write to closing transport")
        self.sent.append(data)
        if self._clock is not None:
            self.sent_at.append(self._clock.now())

    async def ping(self, message: bytes = b"") -> None:
        if self._gone:
            raise ConnectionResetError("Cannot write to closing transport")
        self.pings += 1
        if self._pong:
            self.feed(WSMessage(WSMsgType.PONG, message, None))

    async def pong(self, message: bytes = b"") -> None:
        self.pongs.append(message)

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        if self.close_code is None:
            self.close_code = code
        self.feed(_CLOSING)  # a reader blocked in receive() learns of it
        answered_already = any(m.type is WSMsgType.CLOSE for m in self.incoming)
        if self._answer_close is None and not answered_already:
            await asyncio.Event().wait()  # the peer never answers
        if self._answer_close and self._clock is not None:
            await self._clock.sleep(self._answer_close)
        self.answered = not self._gone
        self._gone = True
        self._wake()
        return True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername" and not self._gone:
            return ("127.0.0.1", 1)
        return default

    def abort(self) -> None:
        self.aborted = True
        self._gone = True
        self._wake()

    @property
    def closed(self) -> bool:
        """The client ended this socket (a close frame, or an abort)."""
        return self.aborted or self.close_code is not None


class FakeTransport:
    """Hands out scripted outcomes of opening handshakes, in order; once the
    script has run out, every handshake is refused."""

    def __init__(self, *outcomes: FakeSocket | BaseException | asyncio.Future[FakeSocket]) -> None:
        self.script: deque[FakeSocket | BaseException | asyncio.Future[FakeSocket]] = deque(
            outcomes
        )
        self.opened: list[FakeSocket] = []
        self.dials: list[URL] = []
        self.headers: list[Mapping[str, str] | None] = []

    def add(self, *outcomes: FakeSocket | BaseException | asyncio.Future[FakeSocket]) -> None:
        self.script.extend(outcomes)

    async def open(self, url: URL, headers: Mapping[str, str] | None, options: Options) -> Socket:
        self.dials.append(url)
        self.headers.append(headers)
        outcome = self.script.popleft() if self.script else ConnectionRefusedError("refused")
        if isinstance(outcome, asyncio.Future):
            outcome = await outcome
        if isinstance(outcome, BaseException):
            raise outcome
        self.opened.append(outcome)
        return outcome

    def abort(self, ws: Socket) -> None:
        assert isinstance(ws, FakeSocket)
        ws.abort()

    def on_read(self, ws: Socket, heard: Callable[[], None]) -> None:
        assert isinstance(ws, FakeSocket)
        ws.heard = heard

    def answered(self, ws: Socket) -> bool:
        assert isinstance(ws, FakeSocket)
        return ws.answered


@contextlib.asynccontextmanager
async def fake_connection(
    transport: FakeTransport, options: dict[str, Any], **extra: Any
) -> AsyncIterator[wsclient.Connection]:
    """A connection over ``transport`` (heartbeat off unless ``extra`` says)."""
    settings = options | {"heartbeat": None} | extra
    async with (
        wsclient.Session(transport=transport, **settings) as session,
        session.connect(FEED_URL) as conn,
    ):
        yield conn


async def until(clock: Clock, done: Callable[[], bool]) -> None:
    """Wait in virtual steps (so timers fire meanwhile) until ``done()``."""
    for _ in range(10_000):
        if done():
            return
        await clock.sleep(0.25)
    raise AssertionError("never happened")
