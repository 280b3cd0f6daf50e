"""One WebSocket of a Connection, and what belongs to it alone.

A :class:`Link` lives from a successful handshake to the end of its socket.
Until its gate opens (``on_connect`` has run and the outbox is flushed), the
messages it receives wait in ``early``, where only ``on_connect`` reads them,
and only sends made from ``on_connect`` go straight to it.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque
from typing import TYPE_CHECKING, Any

from aiohttp import ClientWebSocketResponse, WSMessage

from .disconnect import Disconnect
from .tasks import settle

if TYPE_CHECKING:
    from .connection import Connection

__all__ = ["Link", "current_hook"]

# The link whose on_connect runs in this context: set for the gate task and so
# for whatever it spawns (such as the inner task of wait_for on Python 3.11).
current_hook: contextvars.ContextVar[Link | None] = contextvars.ContextVar(
    "wsclient_on_connect", default=None
)


class Link:
    """One open socket of ``owner``."""

    __slots__ = (
        "closer",
        "early",
        "ending",
        "hook_error",
        "open",
        "opened_at",
        "owner",
        "pong",
        "read_at",
        "tasks",
        "waiter",
        "ws",
    )

    def __init__(self, owner: Connection, ws: ClientWebSocketResponse, opened_at: float) -> None:
        self.owner = owner
        self.ws = ws
        self.opened_at = opened_at
        self.read_at = opened_at  # when the socket last read anything
        self.early: deque[WSMessage] | None = None  # before the gate opens (made lazily)
        self.waiter: asyncio.Future[None] | None = None  # on_connect waits on early
        self.open = False  # the gate has opened
        self.ending: Disconnect | None = None  # why wsclient ends this socket
        self.closer: asyncio.Task[None] | None = None  # the closing handshake
        self.hook_error: BaseException | None = None  # on_connect raised this
        self.pong: asyncio.Future[None] | None = None  # the heartbeat awaits a pong
        self.tasks: set[asyncio.Task[Any]] = set()  # helpers: gate, heartbeat

    def heard(self, now: float) -> None:
        """Something was read from the socket at ``now``."""
        self.read_at = now

    def hooked(self) -> bool:
        """Whether the running code is this link's on_connect, before its gate opens."""
        return not self.open and current_hook.get() is self

    def wake(self) -> None:
        """Wake on_connect if it waits for an early message."""
        waiter, self.waiter = self.waiter, None
        settle(waiter)
