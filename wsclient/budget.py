"""A reconnect budget shared by the connections of a Session: storm protection.

Pure: the caller passes the time. Time is cut in one-second slots that hold
at most ``per_minute / 60`` reconnects each. A reconnect planned for a full
slot moves to the next slot with room (spread across it), instead of
hammering the server; the extra wait is added to the delay the policy chose,
so one delay is announced. Slots make the budget fair to reconnects planned
out of order (a 28 s wait announced before a 6 s one).
"""

from __future__ import annotations

import math

__all__ = ["ReconnectBudget"]


class ReconnectBudget:
    """At most ``per_minute`` reconnects a minute, evenly: at most a sixtieth of
    them in any one second.

    The default, 6,000 a minute (100 a second), leaves a restart of a thousand
    connections spread over 5-30 s untouched and paces a storm of thousands.
    """

    __slots__ = ("_slots", "per_minute", "per_second")

    def __init__(self, per_minute: int = 6000) -> None:
        if isinstance(per_minute, bool) or not isinstance(per_minute, int) or per_minute < 60:
            raise ValueError(f"per_minute must be an int >= 60, got {per_minute!r}")
        self.per_minute = per_minute
        self.per_second = per_minute // 60
        self._slots: dict[int, int] = {}  # second -> reconnects planned in it

    def reserve(self, now: float, delay: float) -> float:
        """The delay to wait instead of ``delay``: never shorter, and long
        enough to stay within the budget. Takes one reconnect from it."""
        at = now + delay
        slot = math.floor(at)
        while self._slots.get(slot, 0) >= self.per_second:
            slot += 1
        used = self._slots.get(slot, 0)
        self._slots[slot] = used + 1
        if len(self._slots) > 64:
            self._forget(math.floor(now))
        return delay if slot == math.floor(at) else slot + used / self.per_second - now

    def _forget(self, before: int) -> None:
        for slot in [s for s in self._slots if s < before]:
            del self._slots[slot]

    def __repr__(self) -> str:
        return f"ReconnectBudget(per_minute={self.per_minute})"
