"""Rotation: make before break. The next socket is opened and set up (its
``on_connect`` has run) while the current one still delivers; only then is the
current one closed, and the supervisor adopts the successor in its place.

Until it is adopted, a successor's messages wait in its early inbox: they
repeat the current socket's stream, and are dropped if it is never adopted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from .disconnect import Disconnect, DisconnectKind
from .link import Link

__all__ = ["adopt", "set_up"]


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
