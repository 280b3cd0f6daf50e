"""Liveness, as helpers of a link: is the peer there, and does data flow?

- :class:`Heartbeat` (transport liveness): a ping after ``heartbeat``
  seconds in which nothing was read (not a byte: a slow link trickling a big
  message is alive); nothing read within ``pong_timeout`` after the ping
  means the transport is gone (1006). With ``ping_message``, the ping is
  that data message (a server's own ping), and any read answers it.
- :class:`Watchdog` (data liveness): no data message for ``stale_after``
  seconds and the feed counts as dead (1006), unless the application says to
  keep waiting. A pong does not count as data.

Both run on clock timers: a quiet, healthy connection holds no task for
them, only a pending timer; a task lives only while a ping waits for its
pong, or while ``on_stale`` is asked. A slow consumer pauses the reader
(backpressure); neither helper blames the peer for that.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from .clock import DeadlineExceeded, Timer, deadline
from .disconnect import DisconnectKind
from .link import Link
from .outbox import outgoing

__all__ = ["Heartbeat", "Watchdog"]

_EPSILON = 1e-6  # seconds: less than this left of a wait is no wait


class _OnTimers:
    """A watcher of a link: one look pending on the clock at a time, none
    once stopped."""

    __slots__ = ("_link", "_timer")

    def __init__(self, link: Link, first: float) -> None:
        self._link = link
        self._timer: Timer = link.later(first, self._due)

    def stop(self) -> None:
        """The socket is gone: no more looks."""
        self._timer.cancel()

    def _look_in(self, delay: float) -> None:
        self._timer = self._link.later(delay, self._due)

    def _due(self) -> None:
        if not self._link.retired:  # (a timer that was due as it was stopped)
            self._look()

    def _look(self) -> None:
        raise NotImplementedError


class Heartbeat(_OnTimers):
    """Pings ``link`` after ``interval`` quiet seconds; loses it if nothing is
    read within ``pong_timeout`` after the ping."""

    __slots__ = ("_interval", "_pong_timeout", "_resumed")

    def __init__(self, link: Link, interval: float, pong_timeout: float) -> None:
        self._interval = interval
        self._pong_timeout = pong_timeout
        self._resumed = link.opened_at  # when a paused reader was last let go
        super().__init__(link, interval)

    def _answered(self, pinged_at: float) -> None:
        """``pong_timeout`` after a ping message: was anything read since?"""
        link = self._link
        if link.retired:
            return
        if link.read_at <= pinged_at:
            detail = f"no answer to the ping message within {self._pong_timeout} s"
            link.lose(detail, DisconnectKind.HEARTBEAT)
        else:
            self._look()

    def _look(self) -> None:
        link = self._link
        clock, inbox = link.parts.clock, link.parts.inbox
        if inbox.paused:  # a slow consumer holds the reader, not the peer
            inbox.resume_reader()
            self._resumed = clock.now()
        wait = max(link.read_at, self._resumed) + self._interval - clock.now()
        if wait > _EPSILON:  # (a float residue is no reason to wait again)
            self._look_in(wait)
        else:
            link.spawn(self._ping(), "heartbeat", transient=True)

    async def _ping(self) -> None:
        link = self._link
        clock = link.parts.clock
        pinged_at = clock.now()
        message = link.parts.options.ping_message
        if message is not None:  # the server's own ping: any data read answers it
            try:
                # Bounded like a ping: a peer that stopped reading blocks the write.
                async with deadline(clock, self._pong_timeout):
                    await link.write(outgoing(message, "ping_message"))
            except DeadlineExceeded:
                detail = f"the ping message could not be written within {self._pong_timeout} s"
                link.lose(detail, DisconnectKind.HEARTBEAT)
                return
            except ConnectionError:
                return  # closing: the reader says how
            answered = functools.partial(self._answered, pinged_at)
            self._timer = link.later(self._pong_timeout, answered)
            return
        try:
            await link.round_trip()  # (its deadline covers the write: a peer
            # that stopped reading blocks it once the send buffer is full)
        except ConnectionError:
            return  # closing: the reader will say how
        except TimeoutError:
            if link.read_at <= pinged_at:
                link.lose(f"no pong within {self._pong_timeout} s", DisconnectKind.HEARTBEAT)
                return
        self._due()


class Watchdog(_OnTimers):
    """Loses ``link`` when no data message came for ``limit`` seconds (from
    the moment it opened), unless ``stale(idle)`` says to keep waiting. Looks
    four times per ``limit``; notes when data last flowed in the meter."""

    __slots__ = ("_limit", "_seen", "_since", "_stale")

    def __init__(
        self, link: Link, limit: float, stale: Callable[[float], Awaitable[bool]]
    ) -> None:
        meter = link.parts.meter
        self._limit = limit
        self._stale = stale
        self._seen = meter.messages_in
        self._since = meter.data_at = link.parts.clock.now()
        super().__init__(link, limit / 4)

    def _look(self) -> None:
        link = self._link
        meter = link.parts.meter
        now = link.parts.clock.now()
        if meter.messages_in != self._seen or link.parts.inbox.paused:
            self._seen, self._since = meter.messages_in, now
            meter.data_at = now
        elif now - self._since >= self._limit - _EPSILON:
            link.spawn(self._judge(now - self._since), "stale watchdog", transient=True)
            return
        self._look_in(self._limit / 4)

    async def _judge(self, idle: float) -> None:
        link = self._link
        if not await self._stale(idle):
            link.lose(f"no data for {idle:g} s", DisconnectKind.STALE)
            return
        self._since = link.parts.clock.now()
        self._look_in(self._limit / 4)
