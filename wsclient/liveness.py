"""Liveness, as helpers of a link: is the peer there, and does data flow?

- The heartbeat (transport liveness): a ping after ``heartbeat`` seconds in
  which nothing was read (not a byte: a slow link trickling a big message is
  alive); nothing read within ``pong_timeout`` after the ping means the
  transport is gone (1006).
- The stale-data watchdog (data liveness): no data message for
  ``stale_after`` seconds and the feed counts as dead (1006), unless the
  application says to keep waiting. A pong does not count as data.

A slow consumer pauses the reader (backpressure); neither helper blames the
peer for that.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from .clock import DeadlineExceeded, deadline, sleeper
from .disconnect import DisconnectKind
from .link import Link

__all__ = ["heartbeat", "watch_data"]

_EPSILON = 1e-6  # seconds: less than this left of a wait is no wait


async def heartbeat(link: Link, interval: float, pong_timeout: float) -> None:
    """Ping ``link`` after ``interval`` quiet seconds; lose it if nothing is
    read within ``pong_timeout`` after the ping."""
    clock, inbox = link.parts.clock, link.parts.inbox
    sleep = sleeper(clock)
    resumed = link.opened_at
    while True:
        if inbox.paused:  # a slow consumer holds the reader, not the peer
            inbox.resume_reader()
            resumed = clock.now()
        wait = max(link.read_at, resumed) + interval - clock.now()
        if wait > _EPSILON:  # (a float residue is no reason to sleep again)
            await sleep(wait)
            continue
        pinged_at = clock.now()
        link.pong = asyncio.get_running_loop().create_future()
        try:
            # The ping is inside the deadline: a peer that stopped reading
            # can block the write itself once the send buffer is full.
            async with deadline(clock, pong_timeout):
                await link.ws.ping()
                await link.pong
        except ConnectionError:
            return  # closing: the reader will say how
        except DeadlineExceeded:
            if link.read_at <= pinged_at:
                link.lose(f"no pong within {pong_timeout} s", DisconnectKind.HEARTBEAT)
                return
        finally:
            link.pong = None


async def watch_data(link: Link, limit: float, stale: Callable[[float], Awaitable[bool]]) -> None:
    """Lose ``link`` when no data message came for ``limit`` seconds (from the
    moment it opened), unless ``stale(idle)`` says to keep waiting. Looks
    four times per ``limit``; notes when data last flowed in the meter."""
    clock, inbox, meter = link.parts.clock, link.parts.inbox, link.parts.meter
    sleep = sleeper(clock)
    seen, since = meter.messages_in, clock.now()
    meter.data_at = since
    while True:
        await sleep(limit / 4)
        now = clock.now()
        if meter.messages_in != seen or inbox.paused:
            seen, since = meter.messages_in, now
            meter.data_at = now
            continue
        if now - since < limit - _EPSILON:
            continue
        if not await stale(now - since):
            link.lose(f"no data for {now - since:g} s", DisconnectKind.STALE)
            return
        since = now
