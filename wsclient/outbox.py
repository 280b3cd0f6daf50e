"""Sends made while no socket can take them, and the pace of all sends.

Bounded (``buffer_size``), kept in order, never dropped silently: a full
outbox refuses the send with ``BufferFull``, and a write that fails while
flushing puts the message back at the head for the next socket.

A :class:`Pacer` (``send_rate``) spaces every data message a connection
writes (the application's, on_connect's, a flush) at least ``1/rate``
seconds apart, on the injected clock: never more than ``rate`` in a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from .clock import Clock, Timer, call_later
from .errors import BufferFull

__all__ = ["Outbox", "Outgoing", "Pacer", "outgoing", "utf8_size"]

Outgoing = tuple[str | bytes, int]
"""One message to send: its payload (str: TEXT, bytes: BINARY) and size in bytes."""


def utf8_size(data: str) -> int:
    """The bytes ``data`` takes as UTF-8 (``isascii`` is O(1) in CPython).

    Raises:
        ValueError: the text cannot be encoded (a lone surrogate such as
            ``"\\udcff"``): it could never be sent.
    """
    if data.isascii():
        return len(data)
    try:
        return len(data.encode())
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"the text cannot be sent: {exc.reason} at position {exc.start} "
            "(a WebSocket TEXT message must be valid UTF-8)"
        ) from None


def outgoing(message: Any, what: str) -> Outgoing:
    """``message`` as it goes out: str as TEXT, bytes as BINARY, anything
    else as JSON text (``TypeError`` naming ``what`` if it is not JSON)."""
    if isinstance(message, bytes | bytearray | memoryview):
        payload = bytes(message)
        return payload, len(payload)
    if not isinstance(message, str):
        try:
            message = json.dumps(message)
        except TypeError as exc:
            raise TypeError(f"{what} must be str, bytes or JSON-serializable: {exc}") from None
    return message, utf8_size(message)


class Outbox:
    """The bounded buffer of sends made while down; ahead of it, the sends a
    dying socket took without confirming them, to be sent again; and those
    given up on (``unconfirmed``)."""

    __slots__ = ("_again", "_queue", "limit", "unconfirmed")

    def __init__(self, limit: int) -> None:
        self.limit = limit  # buffer_size
        self._queue: deque[tuple[Outgoing, int]] | None = None  # (message, 0); made when needed
        self._again: deque[tuple[Outgoing, int]] | None = None  # (message, strikes)
        self.unconfirmed: deque[str | bytes] | None = None  # the last `limit` given up on

    def __len__(self) -> int:
        return len(self._queue or ()) + len(self._again or ())

    def unconfirmed_by(self, dead: list[tuple[Outgoing, int]], *, resend: bool) -> int:
        """A socket died with ``dead`` sent but not confirmed (with how many
        sockets each died on before). With ``resend``, a message that died on
        no socket before goes again on the next one, ahead of the outbox;
        the others are given up on. Returns how many were given up on."""
        again: list[tuple[Outgoing, int]] = []
        given_up: list[str | bytes] = []
        for message, strikes in dead:
            if resend and not strikes:
                again.append((message, strikes + 1))
            else:
                given_up.append(message[0])
        if again:
            if self._again is None:
                self._again = deque()
            room = max(self.limit - len(self._again), 0)  # buffer_size bounds these too
            given_up += [message[0] for message, _ in again[room:]]
            self._again.extend(again[:room])  # (after any still waiting: those are older)
        if given_up:
            if self.unconfirmed is None:
                self.unconfirmed = deque(maxlen=max(self.limit, 1))
            self.unconfirmed.extend(given_up)
        return len(given_up)

    def put(self, message: Outgoing) -> None:
        """Keep ``message`` for the next socket.

        Raises:
            BufferFull: ``limit`` messages wait already; this one was not taken.
        """
        if self._queue is None:
            self._queue = deque()
        if len(self._queue) >= self.limit:
            raise BufferFull(
                f"the outbox holds {len(self._queue)} messages (buffer_size); "
                "this one was not sent"
            )
        self._queue.append((message, 0))

    def take(self) -> Outgoing | None:
        """The oldest send waiting for the next socket (not one to send
        again), taken out to go elsewhere; ``None`` if none waits."""
        return self._queue.popleft()[0] if self._queue else None

    def put_back(self, message: Outgoing) -> None:
        """Return a message :meth:`take` gave, at the head."""
        if self._queue is None:
            self._queue = deque()
        self._queue.appendleft((message, 0))

    def unsent(self) -> list[str | bytes]:
        """The payloads still waiting, oldest first."""
        return [data for queue in (self._again, self._queue) for (data, _), _ in queue or ()]

    async def flush(self, write: Callable[[Outgoing, int], Awaitable[None]]) -> None:
        """Write every message in order (those to send again first), those put
        meanwhile too: it returns only when it found the outbox empty, with
        no wait after that look.

        Raises:
            ConnectionError: a write failed; that message is back at the head
                (so is one whose write was cancelled: its socket is going,
                and what it had buffered goes with it).
        """
        for queue in (self._again, self._queue):  # (the again queue grows only between sockets)
            while queue:  # None or empty: nothing to flush
                message, strikes = queue.popleft()
                try:
                    await write(message, strikes)
                except BaseException:
                    queue.appendleft((message, strikes))  # not delivered: for the next socket
                    raise


class Pacer:
    """Turns for writes, ``1/rate`` seconds apart, given in the order they
    are asked for. A turn is taken only when it is given: a waiter cancelled
    meanwhile passes it on. An urgent waiter (on_connect's sends, the
    subscriptions, a ping message: what a new socket needs first) goes ahead
    of the queue, so sends that wait for a socket that went away never hold
    up the next socket's set-up."""

    __slots__ = ("_clock", "_interval", "_next", "_queue", "_timer")

    def __init__(self, clock: Clock, rate: float) -> None:
        self._clock = clock
        self._interval = 1.0 / rate
        self._next = float("-inf")  # the earliest time of the next turn
        self._queue: deque[asyncio.Future[None]] = deque()
        self._timer: Timer | None = None

    async def wait(self, *, urgent: bool = False) -> None:
        """Wait for a turn."""
        now = self._clock.now()
        if not self._queue and now >= self._next:
            self._next = now + self._interval
            return
        turn = asyncio.get_running_loop().create_future()
        if urgent:
            self._queue.appendleft(turn)
        else:
            self._queue.append(turn)
        self._arm()
        try:
            await turn
        except asyncio.CancelledError:
            if turn.cancelled():
                with contextlib.suppress(ValueError):
                    self._queue.remove(turn)
            else:  # given its turn just as it was cancelled: the next one has it
                self._next = self._clock.now()
                self._give()
            raise

    def _arm(self) -> None:
        if self._timer is None and self._queue:
            delay = max(0.0, self._next - self._clock.now())
            self._timer = call_later(self._clock, delay, self._give)

    def _give(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._queue:
            turn = self._queue.popleft()
            if not turn.done():
                turn.set_result(None)
                self._next = self._clock.now() + self._interval
                break
        self._arm()
