"""The reconnect loop's glue to tenacity.

A :class:`Streak` is the run of failures since the last connection that held
(``stable_after``): it counts the attempts, keeps the backoff curves (one
``DecisionWait``) and the user's stop. tenacity's ``AsyncRetrying`` drives
the attempts of a streak up to an open socket; the socket is served outside
it, so no retry machinery stays alive while messages flow. When the socket
ends, its ``Retry`` is raised as the first attempt of the next retry loop,
which waits as the decision says; if the socket had held, a fresh streak
starts, so the attempt count and every curve start over.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from random import Random
from typing import Any

from tenacity import Future, RetryCallState
from tenacity.stop import stop_never
from tenacity.wait import wait_base

from .backoff import IMMEDIATE, DecisionWait, WaitStrategy
from .budget import ReconnectBudget
from .clock import Clock
from .disconnect import Disconnect
from .policy import HoldOff, Reconnect, Refresh

__all__ = ["Fatal", "Nap", "Retry", "Streak", "retry_of", "strategy_of"]


class Retry(Exception):
    """An attempt ended in Reconnect, Refresh or HoldOff."""

    def __init__(
        self,
        disconnect: Disconnect,
        decision: Reconnect | Refresh | HoldOff,
        *,
        now: bool = False,
    ):
        super().__init__(disconnect.describe())
        self.disconnect = disconnect
        self.decision = decision
        self.now = now  # fail over to the next endpoint at once


class Fatal(Exception):
    """An attempt ended in Fail; ``error`` is what the consumer gets."""

    def __init__(self, disconnect: Disconnect, error: BaseException, attempts: int):
        super().__init__(disconnect.describe())
        self.disconnect = disconnect
        self.error = error
        self.attempts = attempts


def retry_of(outcome: Future | None) -> Retry:
    """The ``Retry`` a failed attempt raised, from its outcome (a retry
    state's ``outcome``, or a ``RetryError``'s ``last_attempt``)."""
    exc = outcome.exception() if outcome is not None else None
    if not isinstance(exc, Retry):  # pragma: no cover - tenacity only retries Retry
        raise TypeError(f"unexpected outcome {exc!r}")
    return exc


def strategy_of(retry_state: RetryCallState) -> WaitStrategy | wait_base:
    """The wait strategy the failed attempt's decision chose (none, to fail
    over to the next endpoint)."""
    retry = retry_of(retry_state.outcome)
    return IMMEDIATE if retry.now else retry.decision.wait


class _InStreak:
    """A retry state as the user's stop sees it: the streak's attempt count,
    and ``seconds_since_start`` on the injected clock (tenacity's own count
    restarts with each retry loop and its time is ``time.monotonic``)."""

    def __init__(self, state: RetryCallState, attempt: int, seconds: float) -> None:
        self._state = state
        self.attempt_number = attempt
        self.seconds_since_start = seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(self._state, name)


class Streak:
    """The failures since the last connection that held."""

    __slots__ = (
        "_budget",
        "_clock",
        "_decided",
        "_rng",
        "_start",
        "_stop",
        "attempt",
        "refreshed",
    )

    def __init__(
        self,
        clock: Clock,
        rng: Random,
        stop: Callable[[Any], bool] | None,
        budget: ReconnectBudget | None,
    ) -> None:
        self._clock = clock
        self._start = clock.now()
        self._stop = stop
        self._budget = budget
        self._rng = rng
        self._decided: DecisionWait | None = None  # made at the first wait
        self.attempt = 0  # attempts made in this streak
        self.refreshed = False  # a Refresh decision was used

    def stop(self, retry_state: RetryCallState) -> bool:
        """tenacity's stop: the user's, seeing the streak on the clock."""
        if self._stop is None:
            return bool(stop_never(retry_state))
        seconds = self._clock.now() - self._start
        return bool(self._stop(_InStreak(retry_state, self.attempt, seconds)))

    def wait(self, retry_state: RetryCallState) -> float:
        """tenacity's wait: the decision's delay, stretched by the session's
        reconnect budget if it is spent (one delay, announced once)."""
        if self._decided is None:
            self._decided = DecisionWait(self._rng, strategy_of)
        wanted = self._decided(retry_state)
        if self._budget is None:
            return wanted
        return self._budget.reserve(self._clock.now(), wanted)


class Nap:
    """tenacity's sleep for one connection: the wait before the next attempt,
    on the clock, cut short by ``resume()`` (a hold-off), ``reconnect()`` or
    ``close()``."""

    __slots__ = ("_clock", "_task", "holding", "skip")

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._task: asyncio.Task[None] | None = None  # the wait under way
        self.holding = False  # the coming wait is a hold-off
        self.skip = False  # the coming wait, or the one under way, is cut short

    async def __call__(self, delay: float) -> None:
        if self.skip or delay <= 0:
            return
        nap = self._task = asyncio.create_task(self._clock.sleep(delay), name="wsclient wait")
        try:
            await nap
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not nap.cancelled() or task is None or task.cancelling():
                raise  # we are being cancelled, not woken
        finally:
            self._task = None

    def cut(self) -> None:
        """End the wait under way, or skip the coming one."""
        self.skip = True
        if self._task is not None:
            self._task.cancel()

    def reset(self) -> None:
        """An attempt starts: the next wait is a wait again."""
        self.skip = self.holding = False
