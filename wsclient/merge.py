"""Redundant legs merged into one stream: the rules, apart from I/O.

Several connections ("legs") deliver the same sequenced feed. Per stream, the
first copy of each seq wins and later copies are duplicates. A message that
comes after a hole (seq above the next one due) is held while another leg may
still deliver what is missing: the hole is declared a :class:`Gap` once every
leg still running has delivered past it on its current socket (none of them
has it: no added wait), or once it has waited ``window`` seconds (a leg that
is reconnecting may still resume from the position and fill it).

Pure: no I/O, no clock (times are handed in). Each leg is assumed to deliver
a stream in order on one socket, as a WebSocket does; what a leg delivered is
forgotten when its next socket starts (it may replay from a resume point).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Hashable
from typing import Any

from .events import Gap
from .sequence import Resync, parse

__all__ = ["Merge"]


class Merge:
    """The merged stream's positions, its held messages, and the verdict on
    each message a leg delivers."""

    __slots__ = ("_held", "_seen", "duplicates", "gaps", "positions", "ready", "window")

    def __init__(self, legs: int, window: float) -> None:
        self.window = window
        self.positions: dict[Hashable, int] = {}  # stream -> the last seq yielded
        self.duplicates = 0
        self.gaps = 0
        self.ready: deque[Any] = deque()  # what may be yielded, in order
        # stream -> seq -> (message, when it was held): what came after a hole.
        self._held: dict[Hashable, dict[int, tuple[Any, float]]] = {}
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
        out = self.ready
        if key is None:
            out.append(item)  # outside any stream: every leg's copy
            return
        stream, seq = parse(key)
        seen = self._seen[leg]
        if seq > seen.get(stream, seq - 1):
            seen[stream] = seq
        positions = self.positions
        last = positions.get(stream)
        if last is None:
            positions[stream] = seq
            out.append(item)
        elif seq == last + 1 or (key.__class__ is Resync and seq > last):
            # A Resync not ahead of the position is a copy from a leg that
            # is behind (a snapshot the merged stream has passed already):
            # yielded, it would rewind the application's state.
            positions[stream] = seq
            out.append(item)
            held = self._held.get(stream)
            if held:
                self._release(stream, held)
        elif seq <= last:
            self.duplicates += 1
        else:
            held = self._held.setdefault(stream, {})
            if seq in held:
                self.duplicates += 1
            else:
                held[seq] = (item, now)
        if self._held.get(stream):
            self._settle(stream, now, running)

    def expire(self, now: float, running: Collection[int]) -> None:
        """Declare the holes that waited ``window`` seconds, or that every
        running leg has passed (what may be yielded goes to :attr:`ready`)."""
        for stream in [s for s, held in self._held.items() if held]:
            self._settle(stream, now, running)

    def deadline(self) -> float | None:
        """When the oldest hole has waited ``window`` seconds (``None``: no hole)."""
        times = [at for held in self._held.values() for _, at in held.values()]
        return min(times) + self.window if times else None

    def _settle(self, stream: Hashable, now: float, running: Collection[int]) -> None:
        held = self._held[stream]
        while held:
            first = min(held)
            since = min(at for _, at in held.values())
            passed = all(self._seen[leg].get(stream, first - 1) >= first for leg in running)
            if not passed and now < since + self.window:
                return
            self.gaps += 1
            self.ready.append(Gap(stream, self.positions[stream] + 1, first))
            self.positions[stream] = first - 1
            self._release(stream, held)

    def _release(self, stream: Hashable, held: dict[int, tuple[Any, float]]) -> None:
        """Append the held messages that follow the position without a hole,
        dropping those the position has passed."""
        positions = self.positions
        last = positions[stream]
        for seq in [s for s in held if s <= last]:
            del held[seq]
            self.duplicates += 1
        while (entry := held.pop(last + 1, None)) is not None:
            last += 1
            self.ready.append(entry[0])
        positions[stream] = last
