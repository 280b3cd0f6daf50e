"""The receive loops the throughput phase races, one per client library.

Each takes a ``/stream`` URL and the number of messages the server will send,
receives them all, and returns how long the messages after the first took
(the first one's arrival starts the clock, so connecting is not counted).
wsclient's background reader may have queued one socket read's worth of
messages by then (at most ``max_queue``, 1024): a head start that matters
only in runs of a few thousand messages, such as ``--quick``.
Every loop does the same per-message work: count, compare, and have a
``str`` in hand (aiohttp, wsclient and websockets decode TEXT for us; picows
is asked to). websockets and picows are optional: missing, they are skipped.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

import wsclient

__all__ = [
    "BATCHES",
    "CLIENTS",
    "LEAN",
    "RAW",
    "STREAM_ENDS",
    "WSCLIENT",
    "Client",
    "Run",
    "available",
]

# The benchmark server ends each stream with a 1000 on purpose; by default a
# server's 1000 reconnects.
STREAM_ENDS = wsclient.ReconnectPolicy.default().with_rule(
    1000, wsclient.Stop("the benchmark stream is complete")
)

RAW = "aiohttp async-for"
LEAN = "aiohttp receive()"
BATCHES = "wsclient batches()"
WSCLIENT = "wsclient"
STREAM = "wsclient stream()"
SEQUENCED = "wsclient + sequence"
STREAM_SEQUENCED = "wsclient stream() + sequence"
WEBSOCKETS = "websockets"
PICOWS = "picows"


@dataclass(frozen=True, slots=True)
class Run:
    """One receive run: ``messages`` arrived in ``seconds`` after the first."""

    messages: int
    seconds: float


def _ended_early(received: int, count: int) -> RuntimeError:
    return RuntimeError(f"the stream ended after {received} of {count} messages")


async def _time_async_for(messages: AsyncIterator[object], count: int) -> Run:
    """Time ``async for`` over ``messages`` from the first message to the
    ``count``-th."""
    await anext(messages)
    start = time.perf_counter()
    received = 1
    async for _msg in messages:
        received += 1
        if received == count:
            break
    end = time.perf_counter()
    if received != count:
        raise _ended_early(received, count)
    return Run(count - 1, end - start)


async def aiohttp_async_for(url: str, count: int) -> Run:
    """aiohttp as documented: ``async for msg in ws``."""
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        return await _time_async_for(ws, count)


async def aiohttp_receive(url: str, count: int) -> Run:
    """The leanest aiohttp loop: a bound ``receive`` and the data types
    cached in a tuple: the "lean receive" row of the benchmark."""
    data_types = (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY)
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        receive = ws.receive
        await receive()
        start = time.perf_counter()
        received = 1
        while received < count:
            msg = await receive()
            if msg.type not in data_types:
                break
            received += 1
        end = time.perf_counter()
    if received != count:
        raise _ended_early(received, count)
    return Run(count - 1, end - start)


async def wsclient_async_for(url: str, count: int) -> Run:
    """wsclient with its defaults (heartbeat on): ``async for msg in conn``."""
    async with wsclient.connect(url, policy=STREAM_ENDS) as conn:
        return await _time_async_for(conn, count)


def _counting_key() -> Callable[[object], tuple[str, int]]:
    """A ``sequence`` key that numbers messages as they come (every message
    here has the same payload): the cost of the sequencing machinery itself;
    reading a seq out of a payload is the application's cost either way."""
    numbers = itertools.count(1)

    def key(_msg: object) -> tuple[str, int]:
        return "s", next(numbers)

    return key


async def wsclient_stream(url: str, count: int) -> Run:
    """wsclient's stream with its seams: ``async for item in conn.stream()``."""
    async with wsclient.connect(url, policy=STREAM_ENDS) as conn:
        return await _time_async_for(conn.stream(), count)


async def wsclient_sequenced(url: str, count: int) -> Run:
    """``async for msg in conn`` with a ``sequence`` key (duplicates dropped)."""
    async with wsclient.connect(url, policy=STREAM_ENDS, sequence=_counting_key()) as conn:
        return await _time_async_for(conn, count)


async def wsclient_stream_sequenced(url: str, count: int) -> Run:
    """``conn.stream()`` with a ``sequence`` key (duplicates, gaps, markers)."""
    async with wsclient.connect(url, policy=STREAM_ENDS, sequence=_counting_key()) as conn:
        return await _time_async_for(conn.stream(), count)


async def wsclient_batches(url: str, count: int) -> Run:
    """wsclient's batch API: ``async for batch in conn.batches()``."""
    async with wsclient.connect(url, policy=STREAM_ENDS) as conn:
        await anext(conn)
        start = time.perf_counter()
        received = 1
        async for batch in conn.batches():
            for _msg in batch:
                received += 1
            if received >= count:
                break
        end = time.perf_counter()
    if received < count:
        raise _ended_early(received, count)
    return Run(received - 1, end - start)


async def websockets_async_for(url: str, count: int) -> Run:
    """websockets' asyncio implementation: ``async for msg in ws``."""
    # optional: a missing module (mypy too) means this client is skipped
    from websockets.asyncio.client import connect  # type: ignore[import-not-found, unused-ignore]  # noqa: PLC0415

    async with connect(url, compression=None, max_size=None, proxy=None) as ws:
        return await _time_async_for(aiter(ws), count)


async def picows_callback(url: str, count: int) -> Run:
    """picows: frames arrive in a callback (no awaiting per message); each
    TEXT payload is decoded to ``str`` like the others do."""
    # optional: a missing module (mypy too) means this client is skipped
    import picows  # type: ignore[import-not-found, unused-ignore]  # noqa: PLC0415

    loop = asyncio.get_running_loop()
    done: asyncio.Future[Run] = loop.create_future()
    text, close = picows.WSMsgType.TEXT, picows.WSMsgType.CLOSE

    class Counter(picows.WSListener):  # type: ignore[misc, unused-ignore]
        received = 0
        start = 0.0

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            kind = frame.msg_type
            if kind == text:
                frame.get_payload_as_utf8_text()
                self.received += 1
                if self.received == 1:
                    self.start = time.perf_counter()
                elif self.received == count and not done.done():
                    done.set_result(Run(count - 1, time.perf_counter() - self.start))
            elif kind == close:
                transport.send_close(frame.get_close_code())
                transport.disconnect()
                if not done.done():
                    done.set_exception(_ended_early(self.received, count))

    transport, _listener = await picows.ws_connect(Counter, url)
    try:
        return await done
    finally:
        transport.disconnect()
        await transport.wait_disconnected()


@dataclass(frozen=True, slots=True)
class Client:
    """A named receive loop; ``module`` must be importable for it to run."""

    name: str
    run: Callable[[str, int], Awaitable[Run]]
    module: str | None = None

    def installed(self) -> bool:
        return self.module is None or importlib.util.find_spec(self.module) is not None


CLIENTS = (
    Client(RAW, aiohttp_async_for),
    Client(LEAN, aiohttp_receive),
    Client(WSCLIENT, wsclient_async_for),
    Client(BATCHES, wsclient_batches),
    Client(STREAM, wsclient_stream),
    Client(SEQUENCED, wsclient_sequenced),
    Client(STREAM_SEQUENCED, wsclient_stream_sequenced),
    Client(WEBSOCKETS, websockets_async_for, "websockets"),
    Client(PICOWS, picows_callback, "picows"),
)


def available() -> tuple[list[Client], list[str]]:
    """The clients that can run here, and the names of those skipped."""
    ready = [c for c in CLIENTS if c.installed()]
    return ready, [c.name for c in CLIENTS if c not in ready]
