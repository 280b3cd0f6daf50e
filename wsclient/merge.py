"""Redundant legs merged into one stream: the rules, apart from I/O.

Several connections ("legs") deliver the same sequenced feed. Per stream, the
first copy of each seq wins and later copies are duplicates. A message that
comes after a hole (seq above the next one due) is held while another leg may
still deliver what is missing: the hole is declared a :class:`Gap` once every
leg still running has delivered past it on its current socket (none of them
has it: no added wait), once it has waited ``window`` seconds (a leg that is
reconnecting may still resume from the position and fill it), or once
``limit`` messages wait behind it. A stream starts at the earliest copy:
its first messages wait the same way until every running leg has delivered
on it.

Pure: no I/O, no clock (times are handed in). Each leg is assumed to deliver
a stream in order on one socket, as a WebSocket does; what a leg delivered is
forgotten when its next socket starts (it may replay from a resume point).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Collection, Hashable
from typing import Any

from .events import Gap
from .sequence import Resync, parse

__all__ = ["Merge"]


class _Held:
    """The messages one stream holds: after a hole, or before the stream has
    started. The lowest seq and the oldest arrival are found in O(log n)."""

    __slots__ = ("items", "seqs", "times")

    def __init__(self) -> None:
        self.items: dict[int, Any] = {}
        self.seqs: list[int] = []  # a heap; seqs no longer held are skipped lazily
        self.times: deque[tuple[float, int]] = deque()  # (arrival, seq): arrivals only grow

    def __len__(self) -> int:
        return len(self.items)

    def add(self, seq: int, item: Any, now: float) -> None:
        self.items[seq] = item
        heapq.heappush(self.seqs, seq)
        self.times.append((now, seq))

    def first(self) -> int:
        """The lowest seq held (there is one)."""
        seqs, items = self.seqs, self.items
        while seqs[0] not in items:
            heapq.heappop(seqs)
        return seqs[0]

    def since(self) -> float:
        """When the oldest message still held arrived (there is one)."""
        times, items = self.times, self.items
        while times[0][1] not in items:
            times.popleft()
        return times[0][0]


class Merge:
    """The merged stream's positions, its held messages, and the verdict on
    each message a leg delivers."""

    __slots__ = ("_held", "_seen", "duplicates", "gaps", "limit", "positions", "ready", "window")

    def __init__(self, legs: int, window: float, limit: int) -> None:
        self.window = window
        self.limit = limit  # messages a stream may hold before its hole is declared
        self.positions: dict[Hashable, int] = {}  # stream -> the last seq yielded
        self.duplicates = 0
        self.gaps = 0
        self.ready: deque[Any] = deque()  # what may be yielded, in order
        self._held: dict[Hashable, _Held] = {}
        # Per leg, per stream, the highest seq its current socket delivered.
        self._seen: list[dict[Hashable, int]] = [{} for _ in range(legs)]

    def restart(self, leg: int) -> None:
        """Leg ``leg`` (0-based) delivers from a new socket."""
        self._seen[leg].clear()

    def offer(
        self,
        leg: int,
        key: tuple[Hashable, int] | None,
        item: Any,
        now: float,
        running: Collection[int],
    ) -> None:
        """Leg ``leg`` delivered ``item`` whose sequence key is ``key``:
        append to :attr:`ready` what may be yielded now (in order, a
        :class:`Gap` just before the message after a hole). ``running`` are
        the legs that may still deliver."""
        if key is None:
            self.ready.append(item)  # outside any stream: every leg's copy
            return
        stream, seq = parse(key)
        seen = self._seen[leg]
        if seq > seen.get(stream, seq - 1):
            seen[stream] = seq
        last = self.positions.get(stream)
        held = self._held.get(stream)
        if last is not None and (seq == last + 1 or (key.__class__ is Resync and seq > last)):
            # (A Resync not ahead of the position is a copy from a leg that
            # is behind, a snapshot the merged stream has passed: yielded, it
            # would rewind the application's state.)
            self.positions[stream] = seq
            self.ready.append(item)
            if held is not None:
                self._release(stream, held)
        elif (last is not None and seq <= last) or (held is not None and seq in held.items):
            self.duplicates += 1
        else:  # after a hole, or before the stream has started: held
            if held is None:
                held = self._held[stream] = _Held()
            held.add(seq, item, now)
        if stream in self._held:
            self._settle(stream, now, running)

    def expire(self, now: float, running: Collection[int]) -> None:
        """Declare the holes that waited ``window`` seconds, or that every
        running leg has passed (what may be yielded goes to :attr:`ready`)."""
        for stream in list(self._held):
            self._settle(stream, now, running)

    def deadline(self) -> float | None:
        """When the oldest hole has waited ``window`` seconds (``None``: no hole)."""
        if not self._held:
            return None
        return min(held.since() for held in self._held.values()) + self.window

    def _settle(self, stream: Hashable, now: float, running: Collection[int]) -> None:
        """Yield what ``stream`` holds once nobody can fill the hole before it."""
        held = self._held[stream]
        while stream in self._held:
            first = held.first()
            last = self.positions.get(stream)
            if last is None:
                # The start: the earliest copy, once every running leg has
                # delivered on this stream (a leg that joined late, or missed
                # the first messages, must not start it past another's).
                known = all(stream in self._seen[leg] for leg in running)
            else:
                known = all(self._seen[leg].get(stream, first - 1) >= first for leg in running)
            if not known and now < held.since() + self.window and len(held) < self.limit:
                return
            if last is not None:
                self.gaps += 1
                self.ready.append(Gap(stream, last + 1, first))
            self.positions[stream] = first - 1
            self._release(stream, held)

    def _release(self, stream: Hashable, held: _Held) -> None:
        """Append the held messages that follow the position without a hole,
        dropping those the position has passed."""
        last = self.positions[stream]
        items = held.items
        while items and held.first() <= last:
            del items[held.first()]
            self.duplicates += 1
        while (item := items.pop(last + 1, None)) is not None:
            last += 1
            self.ready.append(item)
        self.positions[stream] = last
        if not items:
            del self._held[stream]
