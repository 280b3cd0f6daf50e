"""What a connection reports to ``on_event``: frozen, slotted dataclasses.

Pure: no I/O. URLs in events are redacted; a ``Disconnect`` carries no secret.
Every wait the client is about to take is announced with its ``delay``.
The events of a connection's life carry ``leg``: the leg of a redundant
connection (``redundancy``) they happened on, 1-based; ``None`` without.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from .disconnect import Disconnect, Initiator
from .policy import Decision

__all__ = [
    "ConnectFailed",
    "Connected",
    "Disconnected",
    "Event",
    "Gap",
    "GaveUp",
    "HoldingOff",
    "ReconnectScheduled",
    "Reconnected",
    "Stale",
]


@dataclass(frozen=True, slots=True)
class Connected:
    """The opening handshake succeeded.

    ``attempt`` counts the attempts of the current streak, this one included:
    1 for a first try; after a drop, the drop itself was attempt 1.
    """

    url: str
    attempt: int
    leg: int | None = None


@dataclass(frozen=True, slots=True)
class Disconnected:
    """An open connection ended.

    ``code`` is the effective close code: 1005 for a close frame without one,
    1006 for a lost transport or a missed pong.
    """

    code: int | None
    reason: str
    initiated_by: Initiator
    cause: Disconnect
    paused: float = 0.0
    """Seconds the reader spent paused on that socket because the consumer
    fell ``max_queue`` behind: a server's keepalive may drop a client that
    stops reading (a slow consumer, not a server fault)."""
    unconfirmed: int = 0
    """Sends written to that socket that no pong confirmed before it ended
    under us: they may or may not have reached the server (see
    ``Connection.unconfirmed`` and ``resend_unconfirmed``)."""
    leg: int | None = None


@dataclass(frozen=True, slots=True)
class ConnectFailed:
    """An attempt to open a connection failed before the handshake completed."""

    url: str
    attempt: int
    cause: Disconnect
    leg: int | None = None


@dataclass(frozen=True, slots=True)
class ReconnectScheduled:
    """The next attempt, to ``url``, starts after ``delay`` seconds (announced
    for every wait, the reconnect budget's share included)."""

    attempt: int
    delay: float
    decision: Decision
    cause: Disconnect
    url: str = ""
    leg: int | None = None


@dataclass(frozen=True, slots=True)
class Stale:
    """No data message came for ``idle`` seconds (``stale_after``); the
    connection reconnects unless ``on_stale`` chose to keep waiting. Data
    liveness, apart from the heartbeat's transport liveness."""

    idle: float
    kept_waiting: bool
    leg: int | None = None


@dataclass(frozen=True, slots=True)
class HoldingOff:
    """The policy holds off for ``delay`` seconds; ``resume()`` ends it early."""

    delay: float
    reason: str
    attempt: int
    leg: int | None = None


@dataclass(frozen=True, slots=True)
class GaveUp:
    """The connection ended for good: a Fail decision or exhausted retries."""

    attempts: int
    cause: Disconnect
    leg: int | None = None


@dataclass(frozen=True, slots=True)
class Reconnected:
    """A marker in ``conn.stream()``: the messages before it came from earlier
    connections, those after it from connection number ``connection``
    (1-based, counting every socket opened). ``cause`` is how the connection
    whose messages came last before it ended."""

    connection: int
    cause: Disconnect


@dataclass(frozen=True, slots=True)
class Gap:
    """Messages of ``stream`` are missing: after the last one yielded, the next
    came with ``received`` where ``expected`` was due. A marker in
    ``conn.stream()`` just before that message, and an event."""

    stream: Hashable
    expected: int
    received: int


Event = (
    Connected
    | Disconnected
    | ConnectFailed
    | ReconnectScheduled
    | HoldingOff
    | GaveUp
    | Stale
    | Gap
)
