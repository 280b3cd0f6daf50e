"""A snapshot of a connection's counters (``conn.stats``)."""

from __future__ import annotations

from dataclasses import dataclass

from .state import State

__all__ = ["Stats"]


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
