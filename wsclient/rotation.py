"""Rotation: make before break. The next socket is opened and set up (its
``on_connect`` and subscriptions have run) while the current one still
delivers; only then is the current one closed, and the supervisor adopts the
successor in its place. A :class:`Rotator` runs one rotation at a time (at
``max_age``, or when the application asks) and holds the successor until it
is adopted.

Until it is adopted, a successor's messages wait in its early inbox: they
repeat the current socket's stream, and are dropped if it is never adopted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from .clock import Clock, sleeper
from .disconnect import Disconnect, DisconnectKind
from .link import Link

__all__ = ["Rotator", "adopt", "set_up"]

logger = logging.getLogger("wsclient")


class Rotator:
    """One connection's rotations: at most one under way, and the successor
    it set up until the supervisor takes it."""

    __slots__ = ("_dial", "_extra", "_url", "successor", "task")

    def __init__(
        self,
        dial: Callable[[], Awaitable[Link | Disconnect]],
        url: Callable[[], str],
        extra: Mapping[str, object],
    ):
        self._dial = dial  # opens the next socket (not adopted)
        self._url = url
        self._extra = extra  # the log record's fields: the connection's name
        self.successor: Link | None = None  # set up, not adopted yet
        self.task: asyncio.Task[None] | None = None  # the rotation under way

    def start(self, link: Link, why: str) -> asyncio.Task[None]:
        """Rotate ``link`` away now, or join the rotation under way."""
        if self.task is None or self.task.done():
            self.task = link.spawn(self._run(link, why), "rotation")
        return self.task

    async def at_age(self, link: Link, clock: Clock, max_age: float) -> None:
        """Rotate ``link`` away once it is ``max_age`` seconds old (unless a
        rotation is under way then)."""
        await sleeper(clock)(max_age)
        if self.task is None or self.task.done():
            self.task = asyncio.current_task()
            await self._run(link, "max_age reached")

    async def _run(self, link: Link, why: str) -> None:
        """Set up the next socket while ``link`` still delivers, then close
        ``link``; the supervisor takes the successor once ``link`` has ended
        (a successor that failed: the supervisor reconnects)."""
        successor = await set_up(self._dial)
        if isinstance(successor, Disconnect):
            failure = successor.describe()
            logger.warning(
                "%s: rotation failed (%s); reconnecting", self._url(), failure, extra=self._extra
            )
        else:
            self.successor = successor
        link.close(Disconnect(1000, why, kind=DisconnectKind.ROTATE))

    async def take(self, now: float) -> Link | None:
        """The successor, adopted as the next socket; ``None`` if there is
        none or it died meanwhile (then it is retired). It stays here while
        being adopted: if that is cancelled, :meth:`drop` retires it."""
        successor = self.successor
        if successor is None:
            return None
        adopted = await adopt(successor, now)
        self.successor = None
        return successor if adopted else None

    async def drop(self) -> None:
        """Retire a successor that will never be adopted (the connection ends)."""
        successor, self.successor = self.successor, None
        if successor is not None:
            await successor.retire(current=False)


async def set_up(dial: Callable[[], Awaitable[Link | Disconnect]]) -> Link | Disconnect:
    """Open the next socket with ``dial`` and run its on_connect, reading it
    meanwhile (a close frame must be noticed). Returns the successor, or why
    there is none (it could not be opened, or it died while being set up)."""
    successor = await dial()
    if isinstance(successor, Disconnect):
        return successor
    try:
        reader = successor.spawn(successor.read_early(), "rotation reader")
        gate = successor.proceed()  # on_connect, if any; it goes live once adopted
        if gate is not None:
            await asyncio.wait({gate, reader}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        await successor.retire(current=False)
        raise
    if reader.done() or successor.ending is not None:
        end = reader.result() if reader.done() else successor.ending
        await successor.retire(current=False)
        return end or Disconnect(kind=DisconnectKind.LOST, detail="died while set up")
    return successor


async def adopt(successor: Link, now: float) -> bool:
    """Make a set-up successor the next socket; False if it died meanwhile
    (then it is retired).

    Its reader is cancelled here (a cancelled ``receive()`` leaves the socket
    usable) and started again by the supervisor, which then flushes the
    outbox onto it before it goes live, like any new socket.
    """
    helpers = await successor.halt()
    ended = any(not t.cancelled() and t.result() is not None for t in helpers)
    if ended or successor.ending is not None or not successor.hook_done:
        await successor.retire(current=False)
        return False
    successor.opened_at = now
    successor.adopted = True
    return True
