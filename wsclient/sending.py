"""Where the application's sends go, and its subscriptions.

A send goes straight to the socket that takes sends now: on_connect's own
socket while on_connect runs, else an open socket whose outbox has been
flushed. Otherwise it waits in the outbox for the next socket, unless the
connection has ended. Subscriptions are desired state
(:class:`~wsclient.subscriptions.Subscriptions`): sent now if a socket takes
sends, and by the gate of every new socket.
"""

from __future__ import annotations

import contextlib
from collections.abc import Hashable

from .errors import ConnectionClosed, InvalidState
from .gate import hook_of
from .link import Link, Parts
from .outbox import Outgoing
from .state import TERMINAL
from .supervisor import Supervisor

__all__ = ["Sender"]


class Sender:
    """Routes one connection's sends, subscribes and unsubscribes."""

    __slots__ = ("_core", "_parts")

    def __init__(self, core: Supervisor, parts: Parts) -> None:
        self._core = core
        self._parts = parts

    def _hook(self) -> Link | None:
        return hook_of(self._parts)  # on_connect's socket, in its context

    def _taker(self) -> tuple[Link | None, Link | None]:
        """The socket that takes sends now, if any, and on_connect's socket."""
        hook = self._hook()
        link = hook or self._core.link
        if link is not None and (link is hook or (link.sending and link.ending is None)):
            return link, hook
        return None, hook

    @staticmethod
    async def _write(link: Link, hook: Link | None, message: Outgoing, *, mine: bool) -> bool:
        """Write to ``link`` (``mine``: the application's own message, not a
        subscription); False if it is going (the message was not written, or
        was lost with its transport's buffer)."""
        try:
            await link.write(message, confirm=mine and link is not hook)
        except ConnectionError:
            if link is hook:  # on_connect runs again on the next socket
                link.lose("send failed during on_connect")
                raise ConnectionClosed("the connection dropped during on_connect") from None
            return False
        return True

    def check_alive(self, what: str) -> None:
        """``InvalidState`` once the connection has ended (or is closing)."""
        core = self._core
        if core.closing is not None or core.life.state in TERMINAL:
            raise InvalidState(
                f"<Connection {core.url} {core.life.state}> has ended; {what}"
            ) from (core.error)

    async def send(self, message: Outgoing) -> None:
        """Send now, or keep it in the outbox for the next socket."""
        tried: Link | None = None
        while True:
            link, hook = self._taker()
            if link is None or link is tried:
                break
            if await self._write(link, hook, message, mine=True):
                return
            tried = link
            # That socket is going: the next one, if it takes sends already
            # (a send that waited its turn across a reconnect), or the outbox.
        self.check_alive("the message was not sent")
        self._parts.outbox.put(message)

    async def subscribe(self, name: Hashable, message: Outgoing, undo: Outgoing | None) -> None:
        """Want ``name`` from now on; sent now if a socket takes sends (else
        the gate of the socket being set up, or of the next one, sends it)."""
        self.check_alive("nothing was subscribed")
        version = self._parts.subscriptions.add(name, message, undo)
        link, hook = self._taker()
        if link is None:
            return  # (a socket that has an older version owes this one: its gate sends it)
        sent = link.sent_subscriptions()
        before = sent.get(name)
        sent[name] = version  # (from the start: an unsubscribe meanwhile must undo it)
        written = False
        try:
            written = await self._write(link, hook, message, mine=False)
        finally:
            if not written and sent.get(name) == version:
                if before is None:
                    sent.pop(name)
                else:
                    sent[name] = before

    async def unsubscribe(self, name: Hashable) -> None:
        """Want ``name`` no longer: undo it on every socket it was sent to."""
        undo = self._parts.subscriptions.remove(name)
        core = self._core
        current = self._hook() or core.link
        successor = core.successor
        for link in (current, successor if successor is not current else None):
            sent = link.subscribed if link is not None else None
            if link is None or sent is None or name not in sent:
                continue
            del sent[name]
            if undo is not None:
                with contextlib.suppress(ConnectionError):  # gone, and its subscriptions
                    await link.write(undo)
