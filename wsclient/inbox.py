"""Received messages on their way from the reader to the application.

The reader appends to a deque; the consumer pops from it. The consumer is
woken only when it is starved (it waits on an empty inbox), and the reader
pauses once ``limit`` messages wait, until the consumer has drained them
(backpressure). Once the connection has ended, a starved consumer gets how
it ended. The pause and resume are this module's; others only ask for a
resume (a socket that is ending, the heartbeat).

Each socket's messages fill a deque of their own (a segment): a new socket
starts one behind a :class:`~wsclient.events.Reconnected` marker, and the
consumer moves on to it only when the one it reads is drained. So every
message of connection N comes before any of connection N+1, at no cost per
message: the boundary is looked at only when a deque runs empty.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from aiohttp import WSMessage, WSMsgType

from .clock import Clock
from .disconnect import Disconnect, DisconnectKind
from .errors import ConnectionClosed, InvalidState, WSClientError
from .events import Reconnected
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

    __slots__ = (
        "_end",
        "_later",
        "_paused",
        "_reading",
        "_started",
        "_waiter",
        "cause",
        "clock",
        "limit",
        "messages",
        "meter",
        "paused_for",
    )

    def __init__(self, limit: int, meter: Meter, clock: Clock) -> None:
        self.limit = limit  # max_queue: the reader pauses at this many
        self.meter = meter
        self.clock = clock
        self.paused_for = 0.0  # seconds the current socket's reader waited for the consumer
        self.messages: deque[WSMessage] = deque()  # the consumer's segment
        self._reading = self.messages  # the reader's: the newest
        self._later: deque[tuple[Reconnected, deque[WSMessage]]] | None = (
            None  # after the consumer's
        )
        self._started = False  # a socket has delivered
        self.cause: Disconnect | None = None  # how the last socket that delivered ended
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
        while not self.messages:
            await self._fill()
        return self.messages.popleft()

    async def item(self) -> WSMessage | Reconnected:
        """The next message, or the marker of a boundary crossed on the way
        to it (see :meth:`get`)."""
        while not self.messages:
            if (marker := await self._fill()) is not None:
                return marker
        return self.messages.popleft()

    async def take(self) -> list[WSMessage]:
        """Every message waiting in the segment, at least one (see
        :meth:`get`); the reader may read on."""
        while not self.messages:
            await self._fill()
        batch = list(self.messages)
        self.messages.clear()
        self.resume_reader()
        return batch

    async def _fill(self) -> Reconnected | None:
        """The consumer's segment is drained: move on to the next one (its
        marker is returned), or wait for news; raise how the connection ended
        once nothing is left."""
        if (marker := self._next_segment()) is None:
            await self._starve()
        return marker

    def _next_segment(self) -> Reconnected | None:
        """Move on to the next segment (its marker), if there is one; raise
        how the connection ended once nothing is left."""
        if self._later:
            marker, self.messages = self._later.popleft()
            self.resume_reader()  # the messages before it no longer count against it
            return marker
        if self._end is not None:
            raise self._ending()
        return None

    def poll(self) -> WSMessage | Reconnected | None:
        """The next message, or the marker of a boundary crossed on the way
        to it, if there is one now (``None`` if not); raises how the
        connection ended once nothing is left."""
        messages = self.messages
        if messages:
            msg = messages.popleft()
            if not messages:
                self.resume_reader()  # drained: the reader may read on
            return msg
        return self._next_segment()

    def watch(self, waiter: asyncio.Future[None]) -> None:
        """Settle ``waiter`` on news (a message, a boundary, the end): for a
        consumer that waits on several inboxes at once, this one polled empty."""
        self._waiter = waiter
        self.resume_reader()  # empty: whatever paused the reader is gone

    def unwatch(self, waiter: asyncio.Future[None]) -> None:
        """Stop settling ``waiter``."""
        if self._waiter is waiter:
            self._waiter = None

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
        messages = self._reading
        append = messages.append
        room = self._room()
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
                if len(messages) >= room:
                    await self._pause(source)
                    room = self._room()
            elif (end := await source.control(msg)) is not None:
                return end

    def count(self, msg: WSMessage) -> None:
        """Count a data message read outside :meth:`read` (before a gate opened)."""
        meter = self.meter
        meter.messages_in += 1
        data = msg.data
        ascii_or_bytes = msg.type is _BINARY or data.isascii()
        meter.bytes_in += len(data) if ascii_or_bytes else len(data.encode())

    def begin(self) -> None:
        """A socket starts to deliver: its messages go to a new segment, after
        all that earlier sockets delivered (the first socket's need none)."""
        self.paused_for = 0.0
        if not self._started:
            self._started = True
            return
        cause = self.cause or Disconnect(kind=DisconnectKind.LOST, detail="ended unseen")
        self._reading = deque()
        if self._later is None:
            self._later = deque()
        self._later.append((Reconnected(self.meter.connects, cause), self._reading))
        self._wake()

    def extend(self, messages: Iterable[WSMessage]) -> None:
        """Hand the consumer messages read elsewhere (a socket's early ones)."""
        self._reading.extend(messages)
        if self._reading:
            self._wake()

    def _room(self) -> int:
        """How many messages the reader's segment may hold before the reader
        pauses: ``limit`` in all, counting those of earlier segments."""
        waiting = len(self.messages) + sum(len(segment) for _, segment in self._later or ())
        return max(self.limit - waiting + len(self._reading), 1)

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
        since = self.clock.now()
        try:
            await self._paused
        finally:
            self._paused = None
            self.paused_for += self.clock.now() - since
