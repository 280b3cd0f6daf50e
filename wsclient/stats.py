"""A connection's counters: :class:`Meter` counts as things happen, and
:class:`Stats` is the snapshot ``conn.stats`` gives of it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .state import State

__all__ = ["Meter", "Stats"]


class Meter:
    """What a connection has done so far, counted by the part that does it:
    the reader counts what comes in, a socket what goes out and the pongs,
    the stale watchdog when data last flowed, the supervisor the connects."""

    __slots__ = (
        "bytes_in",
        "bytes_out",
        "connects",
        "data_at",
        "last_code",
        "messages_in",
        "messages_out",
        "on_round_trip",
        "pong_at",
        "pongs",
    )

    def __init__(self) -> None:
        self.messages_in = 0
        self.bytes_in = 0
        self.messages_out = 0
        self.bytes_out = 0
        self.pongs = 0
        self.pong_at: float | None = None
        self.data_at: float | None = None  # the stale watchdog saw data flow
        self.connects = 0
        self.last_code: int | None = None
        # Told every measured round trip (the heartbeat's pings, ping()):
        # set by wsclient.metrics, None otherwise.
        self.on_round_trip: Callable[[float], object] | None = None

    def snapshot(
        self,
        state: State,
        url: str,
        now: float,
        *,
        opened_at: float | None,
        buffered: int,
        duplicates: int,
        gaps: int,
    ) -> Stats:
        """The counters now, with what the other parts know."""
        return Stats(
            state=state,
            url=url,
            connects=self.connects,
            reconnects=max(self.connects - 1, 0),
            messages_in=self.messages_in,
            bytes_in=self.bytes_in,
            messages_out=self.messages_out,
            bytes_out=self.bytes_out,
            pongs=self.pongs,
            pong_age=None if self.pong_at is None else now - self.pong_at,
            data_age=None if self.data_at is None else now - self.data_at,
            buffered=buffered,
            last_close_code=self.last_code,
            uptime=0.0 if opened_at is None else now - opened_at,
            duplicates=duplicates,
            gaps=gaps,
        )


@dataclass(frozen=True, slots=True)
class Stats:
    """What a connection has done so far.

    Attributes:
        state: The state when the snapshot was taken.
        url: The current endpoint, redacted.
        connects: Successful handshakes.
        reconnects: Successful handshakes after the first.
        messages_in: Data messages received (control frames not counted).
        bytes_in: Their payload bytes (UTF-8 bytes for text).
        messages_out: Data messages sent, buffered ones once flushed.
        bytes_out: Their payload bytes.
        pongs: Pongs received: the transport is alive (heartbeat liveness).
        pong_age: Seconds since the last pong (``None`` before the first).
        data_age: Seconds since data last flowed, as the ``stale_after``
            watchdog samples it (a quarter of ``stale_after``); ``None``
            without the watchdog.
        buffered: Messages waiting in the outbox.
        last_close_code: The effective close code of the last disconnect.
        uptime: Seconds the current connection has been open (0 while down).
        duplicates: Messages the ``sequence`` key found repeated, dropped.
        gaps: Jumps in a stream's numbering the ``sequence`` key found.
    """

    state: State
    url: str
    connects: int
    reconnects: int
    messages_in: int
    bytes_in: int
    messages_out: int
    bytes_out: int
    pongs: int
    pong_age: float | None
    data_age: float | None
    buffered: int
    last_close_code: int | None
    uptime: float
    duplicates: int = 0
    gaps: int = 0
