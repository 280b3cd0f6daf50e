"""Received messages on their way from the reader to the application.

The reader appends to a deque; the consumer pops from it. The consumer is
woken only when it is starved (it waits on an empty inbox), and the reader
pauses once ``limit`` messages wait, until the consumer has drained them
(backpressure). Once the connection has ended, a starved consumer gets how
it ended. The pause and resume are this module's; others only ask for a
resume (a socket that is ending, the heartbeat).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from aiohttp import WSMessage, WSMsgType

from .disconnect import Disconnect
from .errors import ConnectionClosed, InvalidState, WSClientError
from .stats import Meter
from .tasks import settle

__all__ = ["Inbox", "Source"]

_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY


class Source(Protocol):
    """The socket the reader reads (a link)."""

    async def control(self, msg: WSMessage) -> Disconnect | None:
        """Answer a control message; how the socket ended, or ``None``."""
        ...

    def may_pause(self) -> bool:
        """Whether the reader may wait for the consumer."""
        ...


class Inbox:
    """The messages one connection received and the application has not
    taken yet; an async iterator of them (the fast path of ``async for``)."""

    __slots__ = ("_end", "_paused", "_waiter", "limit", "messages", "meter")

    def __init__(self, limit: int, meter: Meter) -> None:
        self.limit = limit  # max_queue: the reader pauses at this many
        self.meter = meter
        self.messages: deque[WSMessage] = deque()
        self._waiter: asyncio.Future[None] | None = None  # a starved consumer
        self._paused: asyncio.Future[None] | None = None  # the reader, at the limit
        self._end: BaseException | None = None  # how the connection ended

    # -- the consumer's side ------------------------------------------------------

    def __aiter__(self) -> Inbox:
        return self

    async def __anext__(self) -> WSMessage:
        messages = self.messages
        if messages:
            return messages.popleft()
        try:
            return await self.get()
        except ConnectionClosed:
            raise StopAsyncIteration from None

    async def get(self) -> WSMessage:
        """The next message, waiting for one; once the connection has ended
        and the inbox is empty, raises how it ended (``ConnectionClosed`` if
        cleanly)."""
        if not self.messages:
            await self._fill()
        return self.messages.popleft()

    async def take(self) -> list[WSMessage]:
        """Every message waiting, at least one (see :meth:`get`); the reader
        may read on."""
        if not self.messages:
            await self._fill()
        batch = list(self.messages)
        self.messages.clear()
        self.resume_reader()
        return batch

    async def _fill(self) -> None:
        while not self.messages:
            if self._end is not None:
                raise self._ending()
            await self._starve()

    def end(self, error: BaseException) -> None:
        """The connection has ended: a consumer that finds the inbox empty
        gets ``error`` (a ``ConnectionClosed`` for a clean end)."""
        self._end = error
        self._wake()

    def _ending(self) -> BaseException:
        error = self._end
        assert error is not None
        if isinstance(error, WSClientError):
            error.with_traceback(None)  # raised again and again: keep it short
        return error

    async def _starve(self) -> None:
        if self._waiter is not None:
            raise InvalidState("another task is already receiving from this connection")
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        self.resume_reader()  # empty: whatever paused the reader is gone
        try:
            await waiter
        finally:
            if self._waiter is waiter:
                self._waiter = None

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        settle(waiter)

    # -- the reader's side ----------------------------------------------------------

    async def read(
        self, receive: Callable[[], Awaitable[WSMessage]], source: Source
    ) -> Disconnect:
        """Read data messages into the inbox until ``source.control`` says how
        the socket ended (it answers every other message).

        The hot path: counting (the UTF-8 size, inlined), a deque, a wake-up
        only when a consumer is starved, and one high-water check.
        """
        messages = self.messages
        append = messages.append
        limit = self.limit
        meter = self.meter
        text, binary = _TEXT, _BINARY
        while True:
            msg = await receive()
            kind = msg.type
            if kind is text or kind is binary:
                data = msg.data
                meter.messages_in += 1
                if kind is binary or data.isascii():
                    meter.bytes_in += len(data)
                else:
                    meter.bytes_in += len(data.encode())
                append(msg)
                if self._waiter is not None:
                    self._wake()
                if len(messages) >= limit:
                    await self._pause(source)
            elif (end := await source.control(msg)) is not None:
                return end

    def count(self, msg: WSMessage) -> None:
        """Count a data message read outside :meth:`read` (before a gate opened)."""
        meter = self.meter
        meter.messages_in += 1
        data = msg.data
        ascii_or_bytes = msg.type is _BINARY or data.isascii()
        meter.bytes_in += len(data) if ascii_or_bytes else len(data.encode())

    def extend(self, messages: Iterable[WSMessage]) -> None:
        """Hand the consumer messages read elsewhere (a socket's early ones)."""
        self.messages.extend(messages)
        if self.messages:
            self._wake()

    @property
    def paused(self) -> bool:
        """Whether the reader waits for the consumer (backpressure)."""
        return self._paused is not None

    def resume_reader(self) -> None:
        """Let a paused reader read on."""
        settle(self._paused)

    async def _pause(self, source: Source) -> None:
        """Stop reading until the consumer has drained the inbox, unless the
        socket can only deliver what it holds already (it is ending, or its
        transport is gone): then read on to find how it ended."""
        if not source.may_pause():
            return
        self._paused = asyncio.get_running_loop().create_future()
        try:
            await self._paused
        finally:
            self._paused = None
