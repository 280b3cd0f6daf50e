"""Which sends a socket is known to have delivered.

A WebSocket peer answers pings in order, each pong carrying its ping's
payload (RFC 6455 §5.5.2-3), so the pong to a ping proves the peer read
every frame written before that ping. Each ping a link sends carries the
number of messages written before it (:meth:`Fence.marker`); its pong
confirms them. What is still unconfirmed when a socket ends under us may or
may not have been read (a close we asked for came after every send, on the
same ordered stream: nothing of that socket counts as unconfirmed).

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections import deque

from .clock import Timer
from .outbox import Outgoing

__all__ = ["Fence", "Unconfirmed"]

_PREFIX = b"wsclient:"  # ours: an unsolicited pong confirms nothing

Unconfirmed = tuple[Outgoing, int]
"""A send not known to be delivered, and on how many sockets that died it
was so before this one (0: a first send)."""


class Fence:
    """The sends written to one socket and not yet confirmed, oldest first."""

    __slots__ = ("_limit", "_pending", "_written", "dropped", "pinged_at", "timer")

    def __init__(self, limit: int) -> None:
        self._limit = limit  # buffer_size: a peer whose pongs never confirm costs no more
        self._pending: deque[tuple[int, Outgoing, int]] = deque()  # (number, message, strikes)
        self._written = 0
        self.dropped = 0  # unconfirmed ones no longer kept (beyond the limit)
        self.pinged_at = float("-inf")  # when the link last pinged to confirm
        self.timer: Timer | None = None  # the link's next such ping

    def __len__(self) -> int:
        return len(self._pending)

    def wrote(self, message: Outgoing, strikes: int = 0) -> None:
        """``message`` was written (``strikes``: see :data:`Unconfirmed`)."""
        self._pending.append((self._written, message, strikes))
        self._written += 1
        if len(self._pending) > self._limit:
            self._pending.popleft()
            self.dropped += 1

    def marker(self) -> bytes:
        """The payload of a ping sent now: its pong confirms all written so far."""
        return _PREFIX + b"%d" % self._written

    def ponged(self, payload: bytes) -> None:
        """A pong came: confirm what was written before its ping (a pong
        that carries no marker of ours confirms nothing)."""
        if not payload.startswith(_PREFIX):  # (a pong nobody here asked for)
            return
        try:
            upto = int(payload[len(_PREFIX) :])
        except ValueError:
            return
        pending = self._pending
        while pending and pending[0][0] < upto:
            pending.popleft()

    def unconfirmed(self) -> list[Unconfirmed]:
        """What is still unconfirmed, oldest first."""
        return [(message, strikes) for _, message, strikes in self._pending]
