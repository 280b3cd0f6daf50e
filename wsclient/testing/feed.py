"""A sequenced feed served by several replica servers on 127.0.0.1.

Like an exchange's redundant feed lines: tick ``n`` goes out at
``n * interval`` on the clock, the same tick from every replica to every
socket it has. A replica can be restarted (its sockets closed with a code,
handshakes refused for a while), drop its sockets, lag, or lose chosen ticks:
what redundant legs (``redundancy=N``) are for, in tests and the demo.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer
from yarl import URL

from ..clock import Clock, SystemClock

__all__ = ["Replica", "TickFeed", "tick"]


def tick(seq: int) -> str:
    """The default message of tick ``seq``: ``{"seq": seq, "price": ...}``."""
    return json.dumps({"seq": seq, "price": round(64_000 + (seq * 7919 % 800) / 10, 1)})


class Replica:
    """One server of the feed."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.lag = 0.0  # seconds this replica sends each tick late
        self.lose: set[int] = set()  # ticks this replica never sends
        self.handshakes = 0
        self.received: list[str] = []  # what clients sent it (text)
        self._down_until = 0.0
        self._sockets: dict[web.WebSocketResponse, web.Request] = {}
        self._late: set[asyncio.Task[None]] = set()
        self._server: TestServer | None = None
        self.app = web.Application()
        self.app.router.add_get("/{tail:.*}", self._handle)

    @property
    def url(self) -> URL:
        """``ws://127.0.0.1:<port>/feed``."""
        assert self._server is not None, "the feed is not started"
        return self._server.make_url("/feed").with_scheme("ws")

    @property
    def sockets(self) -> int:
        """How many sockets it serves now."""
        return len(self._sockets)

    async def restart(self, code: int = 1012, *, down: float = 0.0) -> None:
        """Close every socket with ``code`` and refuse handshakes (503) for
        ``down`` seconds: a deploy."""
        self._down_until = self.clock.now() + down
        sockets = list(self._sockets)
        await asyncio.gather(*(ws.close(code=code, message=b"restarting") for ws in sockets))

    def drop(self) -> None:
        """Drop every socket without a close frame (a lost link)."""
        for request in list(self._sockets.values()):
            if request.transport is not None:
                request.transport.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.handshakes += 1
        if self.clock.now() < self._down_until:
            return web.Response(status=503, text="restarting")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets[ws] = request
        try:
            async for msg in ws:  # subscriptions and the like: ticks go out regardless
                if msg.type is WSMsgType.TEXT:
                    self.received.append(msg.data)
        finally:
            self._sockets.pop(ws, None)
        return ws

    async def publish(self, seq: int, message: str) -> None:
        """Send tick ``seq`` to every socket (``lag`` seconds late, unless lost)."""
        if seq in self.lose:
            return
        if self.lag:
            task = asyncio.create_task(self._later(message))
            self._late.add(task)
            task.add_done_callback(self._late.discard)
            return
        await self._send(message)

    async def _later(self, message: str) -> None:
        await self.clock.sleep(self.lag)
        await self._send(message)

    async def _send(self, message: str) -> None:
        for ws in list(self._sockets):
            if not ws.closed:
                with contextlib.suppress(ConnectionError):
                    await ws.send_str(message)

    async def start(self) -> None:
        self._server = TestServer(self.app, host="127.0.0.1")
        await self._server.start_server()

    async def close(self) -> None:
        for task in list(self._late):
            task.cancel()
        await asyncio.gather(*self._late, return_exceptions=True)
        if self._server is not None:
            await self._server.close()


class TickFeed:
    """``replicas`` servers of one feed: tick ``n`` at ``n * interval`` from
    each, ``count`` ticks in all (``None``: until closed).

    Use it with ``async with``; ``urls`` are the replicas' endpoints.
    """

    def __init__(
        self,
        replicas: int = 2,
        *,
        interval: float = 0.1,
        count: int | None = None,
        clock: Clock | None = None,
        message: Callable[[int], str] = tick,
    ) -> None:
        self.clock = clock or SystemClock()
        self.interval = interval
        self.count = count
        self.message = message
        self.replicas = [Replica(self.clock) for _ in range(replicas)]
        self.sent = 0  # the last tick sent
        self._task: asyncio.Task[None] | None = None

    @property
    def urls(self) -> list[URL]:
        """Each replica's endpoint."""
        return [replica.url for replica in self.replicas]

    async def __aenter__(self) -> TickFeed:
        for replica in self.replicas:
            await replica.start()
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for replica in self.replicas:
            await replica.close()

    async def _run(self) -> None:
        start = self.clock.now()
        seq = 0
        while self.count is None or seq < self.count:
            seq += 1
            await self.clock.sleep(max(start + seq * self.interval - self.clock.now(), 0.0))
            message = self.message(seq)
            for replica in self.replicas:
                await replica.publish(seq, message)
            self.sent = seq
