"""Virtual time for tests, in the manner of trio's ``MockClock(autojump)``."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Any

__all__ = ["FakeClock"]


class _Activity:
    """When an event loop last did anything: socket events, ready callbacks,
    or work in its executor (a DNS lookup). One per loop, shared by clocks.

    It wraps the loop's selector and ``run_in_executor`` (asyncio's own
    loops); on a loop without a selector it only sees ready callbacks.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.last = time.monotonic()  # when the loop last had work
        self.jobs = 0  # executor jobs under way
        self.busy = False  # the batch of callbacks running now came from work
        self._ready: Any = getattr(loop, "_ready", ())
        selector = getattr(loop, "_selector", None)
        if selector is not None:
            select = selector.select

            def watched_select(timeout: float | None = None) -> Any:
                # A batch can take long (a hundred handshakes): its end counts.
                ready = bool(self._ready)
                if ready or self.busy:
                    self.last = time.monotonic()
                events = select(timeout)
                self.busy = ready or bool(events)
                if events:
                    self.last = time.monotonic()
                return events

            selector.select = watched_select
        run_in_executor = loop.run_in_executor

        def watched_run_in_executor(executor: Any, func: Callable[..., Any], *args: Any) -> Any:
            future = run_in_executor(executor, func, *args)
            self.jobs += 1
            future.add_done_callback(self._job_done)
            return future

        loop.run_in_executor = watched_run_in_executor  # type: ignore[method-assign, assignment]

    def _job_done(self, _: object) -> None:
        self.jobs -= 1
        self.last = time.monotonic()

    def quiet_for(self) -> float:
        """Seconds the loop has had nothing to do (0 if it has something now)."""
        if self.jobs or self._ready or self.busy:
            return 0.0
        return time.monotonic() - self.last

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> _Activity:
        activity = getattr(loop, "_wsclient_activity", None)
        if not isinstance(activity, cls):
            activity = cls(loop)
            loop._wsclient_activity = activity  # type: ignore[attr-defined]
        return activity


class _Timer:
    """A timer of a FakeClock: its future wakes when due, then the callback
    runs, unless the timer was cancelled meanwhile."""

    __slots__ = ("_callback", "cancelled", "due")

    def __init__(self, due: asyncio.Future[None], callback: Callable[[], object]) -> None:
        self.due = due
        self._callback = callback
        self.cancelled = False
        due.add_done_callback(self._fire)

    def _fire(self, due: asyncio.Future[None]) -> None:
        if not self.cancelled and not due.cancelled() and due.exception() is None:
            self._callback()

    def cancel(self) -> None:
        """Call it off (nothing happens if it ran already)."""
        self.cancelled = True
        self.due.cancel()


_DAY = 24 * 3600.0


class VirtualTimeExceeded(RuntimeError):
    """Virtual time would have jumped past the FakeClock's ``limit``: most
    likely a test that can never end (a fault script that ran out while the
    client reconnects for ever), which jumps through virtual time forever."""


class FakeClock:
    """A clock whose time only moves when a test, or an idle event loop, moves it.

    A sleeper wakes when virtual time reaches its deadline. With ``autojump``
    on, once the event loop has had nothing to do for ``idle`` seconds of real
    time (no socket event, no ready callback, no executor job), virtual time
    jumps to the earliest pending deadline: concurrent timers (a backoff, a
    hold-off, a heartbeat) fire in the same order as in real time, only
    without the waiting. :meth:`advance` moves time by hand.

    A test that polls with real ``asyncio.sleep`` keeps the loop busy and
    virtual time still: wait on an event instead.

    A test that never ends (say, a client reconnecting for ever once the
    server's script ran out) would jump through virtual time for ever. An
    autojump past ``limit`` virtual seconds from the start (a day by
    default, a few real seconds of jumping; ``None``: no limit) fails every sleeper instead, with
    :class:`VirtualTimeExceeded`: the test fails with a clear error.

    Attributes:
        sleeps: Every delay ever requested, in order.
    """

    def __init__(
        self,
        start: float = 0.0,
        *,
        autojump: bool = True,
        idle: float = 0.001,
        limit: float | None = _DAY,
    ) -> None:
        if not idle >= 0:
            raise ValueError(f"idle must be >= 0, got {idle!r}")
        if limit is not None and not limit > 0:
            raise ValueError(f"limit must be > 0 seconds or None, got {limit!r}")
        self._now = start
        self._end = None if limit is None else start + limit
        self._autojump = autojump
        self._idle = idle
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._check: asyncio.TimerHandle | None = None
        self.sleeps: list[float] = []
        if autojump:
            with contextlib.suppress(RuntimeError):  # watch the running loop from now on
                _Activity.of(asyncio.get_running_loop())

    def now(self) -> float:
        """The virtual time."""
        return self._now

    async def sleep(self, seconds: float) -> None:
        """Return when virtual time has advanced by ``seconds``."""
        self.sleeps.append(seconds)
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._order), waiter))
        if self._autojump and self._check is None:
            self._arm(loop, _Activity.of(loop), self._idle)
        await waiter

    def call_later(self, seconds: float, callback: Callable[[], object]) -> _Timer:
        """Call ``callback`` when virtual time has advanced by ``seconds``
        (recorded in :attr:`sleeps` like a sleep); ``cancel()`` on what it
        returns calls it off, even once due."""
        self.sleeps.append(seconds)
        loop = asyncio.get_running_loop()
        timer = _Timer(loop.create_future(), callback)
        due = (self._now + max(seconds, 0.0), next(self._order), timer.due)
        heapq.heappush(self._sleepers, due)
        if seconds <= 0:
            self._wake_due()
        elif self._autojump and self._check is None:
            self._arm(loop, _Activity.of(loop), self._idle)
        return timer

    @property
    def pending(self) -> list[float]:
        """The deadlines of the sleepers still waiting, earliest first."""
        return sorted(when for when, _, waiter in self._sleepers if not waiter.done())

    def advance(self, seconds: float) -> None:
        """Move virtual time forward by ``seconds`` and wake who is due."""
        if seconds < 0:
            raise ValueError(f"time does not go back: advance({seconds!r})")
        self._now += seconds
        self._wake_due()

    def _wake_due(self) -> None:
        sleepers = self._sleepers
        while sleepers and (sleepers[0][0] <= self._now or sleepers[0][2].done()):
            waiter = heapq.heappop(sleepers)[2]
            if not waiter.done():
                waiter.set_result(None)

    def _arm(self, loop: asyncio.AbstractEventLoop, activity: _Activity, delay: float) -> None:
        self._check = loop.call_later(delay, self._look, loop, activity)

    def _look(self, loop: asyncio.AbstractEventLoop, activity: _Activity) -> None:
        self._check = None
        self._wake_due()  # also drops cancelled sleepers from the top
        if not self._sleepers:
            return
        quiet = activity.quiet_for()
        if quiet < self._idle:
            self._arm(loop, activity, self._idle - quiet)
            return
        due = self._sleepers[0][0]
        if self._end is not None and due > self._end:
            self._run_away(due)
            return
        self._now = max(self._now, due)
        self._wake_due()
        if self._sleepers:
            self._arm(loop, activity, self._idle)

    def _run_away(self, due: float) -> None:
        """Fail every sleeper: time would pass the limit."""
        assert self._end is not None
        error = VirtualTimeExceeded(
            f"virtual time would jump to {due:.0f} s, past the FakeClock's limit "
            f"({self._end:.0f} s): does this test ever end? (raise FakeClock(limit=...), "
            "or None to turn it off)"
        )
        sleepers, self._sleepers = self._sleepers, []
        for _, _, waiter in sleepers:
            if not waiter.done():
                waiter.set_exception(error)

    def __repr__(self) -> str:
        return f"<FakeClock now={self._now:.3f} pending={len(self.pending)}>"
