"""Sequence numbers: which messages of a stream are duplicates, where a
stream has a gap, and how far each stream has been yielded.

Pure: no I/O, no clock. The application's ``sequence`` key says what a
message is: ``(stream, seq)`` for a sequenced message, :class:`Resync` for one
that starts its stream afresh, ``None`` for one outside any stream.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, Generic, NamedTuple, TypeVar

from .events import Gap

__all__ = ["Key", "Resync", "Sequencer", "parse"]


S = TypeVar("S", bound=Hashable)


class Resync(NamedTuple, Generic[S]):
    """What a ``sequence`` key returns for a message that starts its stream
    afresh at ``seq`` (a snapshot, a new epoch, a server whose numbering
    restarted): it is yielded, and counts as neither a duplicate nor a gap."""

    stream: S
    seq: int


Key = Callable[[Any], tuple[Hashable, int] | None]


def _malformed(what: str) -> TypeError:
    return TypeError(
        f"sequence key returned {what}: expected (stream, seq) with an int seq, or None"
    )


def parse(key: tuple[Hashable, int]) -> tuple[Hashable, int]:
    """``(stream, seq)`` from what a key returned, or a ``TypeError`` saying
    what was wrong with it."""
    try:
        stream, seq = key
    except (TypeError, ValueError):
        raise _malformed(f"a {type(key).__name__}") from None
    if seq.__class__ is not int:
        raise _malformed(f"a seq of type {type(seq).__name__}")
    return stream, seq


class Sequencer:
    """The last seq yielded per stream, and the verdict on each next one."""

    __slots__ = ("duplicates", "gaps", "held", "positions")

    def __init__(self) -> None:
        self.positions: dict[Hashable, int] = {}  # stream -> the last seq yielded
        self.duplicates = 0
        self.gaps = 0
        # The message that revealed a gap, until yielded after its marker (kept
        # here, not by one iterator: the position has moved past it already).
        self.held: list[Any] = []

    def judge(self, key: tuple[Hashable, int] | None) -> bool | Gap:
        """The verdict on a message whose key is ``key``: ``True`` to yield it,
        ``False`` to drop it (a duplicate), or the :class:`Gap` to announce
        just before yielding it."""
        if key is None:
            return True
        stream, seq = parse(key)
        positions = self.positions
        last = positions.get(stream)
        if last is None or key.__class__ is Resync:
            positions[stream] = seq
            return True
        if seq == last + 1:  # (the usual case first)
            positions[stream] = seq
            return True
        if seq <= last:
            self.duplicates += 1
            return False
        positions[stream] = seq
        self.gaps += 1
        return Gap(stream, last + 1, seq)
