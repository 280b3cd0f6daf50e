"""Time, injected: the only place wsclient reads the time or sleeps.

Everything that waits takes a :class:`Clock`. The system clock is the
default; ``wsclient.testing.FakeClock`` runs the same code in virtual time.
A clock may also offer timers (``call_later``): the heartbeat and the stale
watchdog run on them, so an idle connection holds no task of its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Protocol, runtime_checkable

from .tasks import await_all

__all__ = [
    "Clock",
    "DeadlineExceeded",
    "ScaledClock",
    "SystemClock",
    "Timer",
    "call_later",
    "deadline",
    "sleeper",
]


@runtime_checkable
class Clock(Protocol):
    """A source of monotonic time and of sleeping."""

    def now(self) -> float:
        """Seconds on a monotonic scale (only differences mean anything)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return after ``seconds`` have passed on this clock."""
        ...


class Timer(Protocol):
    """A pending call: ``cancel()`` calls it off."""

    def cancel(self) -> object:
        """Call it off (nothing happens if it ran already)."""
        ...


def call_later(clock: Clock, delay: float, callback: Callable[[], object]) -> Timer:
    """Call ``callback`` after ``delay`` seconds on ``clock``: on the clock's
    own timers (``clock.call_later``) where it has them, else in a task that
    sleeps on it (a ``Task`` is returned then: its owner awaits it)."""
    own = getattr(clock, "call_later", None)
    if own is not None:
        timer: Timer = own(delay, callback)
        return timer

    async def later() -> None:
        await clock.sleep(delay)
        callback()

    return asyncio.create_task(later(), name="wsclient timer")


class SystemClock:
    """The real clock: ``time.monotonic`` and ``asyncio.sleep``."""

    def now(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep(seconds)``."""
        await asyncio.sleep(seconds)

    def call_later(self, seconds: float, callback: Callable[[], object]) -> Timer:
        """The event loop's own timer."""
        return asyncio.get_running_loop().call_later(seconds, callback)

    def __repr__(self) -> str:
        return "SystemClock()"


def sleeper(clock: Clock) -> Callable[[float], Awaitable[None]]:
    """``clock.sleep``; for the system clock ``asyncio.sleep`` itself (one
    frame less per sleeper)."""
    return asyncio.sleep if type(clock) is SystemClock else clock.sleep


class ScaledClock:
    """Real time, run ``factor`` times faster: a 30 s backoff takes 30/factor s.

    For demonstrations; tests want ``wsclient.testing.FakeClock``.
    """

    def __init__(self, factor: float) -> None:
        if not factor > 0:
            raise ValueError(f"factor must be > 0, got {factor!r}")
        self.factor = factor
        self._origin = time.monotonic()

    def now(self) -> float:
        """Seconds since this clock was made, ``factor`` times faster than real."""
        return (time.monotonic() - self._origin) * self.factor

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds / factor`` of real time."""
        await asyncio.sleep(seconds / self.factor)

    def call_later(self, seconds: float, callback: Callable[[], object]) -> Timer:
        """The event loop's own timer, ``seconds / factor`` of real time away."""
        return asyncio.get_running_loop().call_later(seconds / self.factor, callback)

    def __repr__(self) -> str:
        return f"ScaledClock({self.factor})"


class DeadlineExceeded(TimeoutError):
    """A :func:`deadline` ran out (not a ``TimeoutError`` of the body's own)."""


@asynccontextmanager
async def deadline(clock: Clock, seconds: float | None) -> AsyncIterator[None]:
    """Like ``asyncio.timeout``, but counted on ``clock``: raises
    :class:`DeadlineExceeded` when the body takes longer than ``seconds``
    (``None``: no limit)."""
    task = asyncio.current_task()
    if seconds is None or task is None:
        yield
        return
    if type(clock) is SystemClock:  # the loop's own timer: no task needed
        scope = asyncio.timeout(seconds)
        try:
            async with scope:
                yield
        except TimeoutError:
            if scope.expired():
                raise DeadlineExceeded(f"no answer within {seconds} s") from None
            raise
        return
    cancelling = task.cancelling()
    fired = False

    async def alarm() -> None:
        nonlocal fired
        await clock.sleep(seconds)
        fired = True
        task.cancel()

    timer = asyncio.create_task(alarm(), name="wsclient-deadline")
    try:
        yield
    except asyncio.CancelledError:
        if fired and task.uncancel() <= cancelling:
            raise DeadlineExceeded(f"no answer within {seconds} s") from None
        raise
    finally:
        timer.cancel()
        await await_all({timer})
