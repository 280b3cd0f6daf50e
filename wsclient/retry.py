"""The reconnect loop's glue to tenacity.

Each attempt (open a socket, serve it until it ends) either returns (a Stop
decision), raises :class:`Retry` (Reconnect or HoldOff) or :class:`Fatal`
(Fail). One ``AsyncRetrying`` covers one streak of failures: when a
connection that had been stable ends, its ``Retry`` is not retried in the old
streak but carried into a new one, so the attempt count and every backoff
curve start over.
"""

from __future__ import annotations

from typing import Any

from tenacity import RetryCallState
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from .backoff import IMMEDIATE, WaitStrategy
from .clock import Clock
from .disconnect import Disconnect
from .policy import HoldOff, Reconnect, Refresh

__all__ = ["ClockedStop", "Fatal", "Retry", "in_streak", "retry_of", "strategy_of"]


class Retry(Exception):
    """An attempt ended in Reconnect or HoldOff."""

    def __init__(
        self,
        disconnect: Disconnect,
        decision: Reconnect | Refresh | HoldOff,
        *,
        stable: bool,
        now: bool = False,
    ):
        super().__init__(disconnect.describe())
        self.disconnect = disconnect
        self.decision = decision
        self.stable = stable
        self.now = now  # fail over to the next endpoint at once

    def restarted(self) -> Retry:
        """The same end, as the first failure of a new streak."""
        return Retry(self.disconnect, self.decision, stable=False, now=self.now)


class Fatal(Exception):
    """An attempt ended in Fail; ``error`` is what the consumer gets."""

    def __init__(self, disconnect: Disconnect, error: BaseException, attempts: int):
        super().__init__(disconnect.describe())
        self.disconnect = disconnect
        self.error = error
        self.attempts = attempts


def in_streak(exc: BaseException) -> bool:
    """tenacity's retry predicate: retry what failed in this streak."""
    return isinstance(exc, Retry) and not exc.stable


def retry_of(retry_state: RetryCallState) -> Retry:
    """The ``Retry`` a failed attempt raised."""
    outcome = retry_state.outcome
    exc = outcome.exception() if outcome is not None else None
    if not isinstance(exc, Retry):  # pragma: no cover - tenacity only retries Retry
        raise TypeError(f"unexpected outcome {exc!r}")
    return exc


def strategy_of(retry_state: RetryCallState) -> WaitStrategy | wait_base:
    """The wait strategy the failed attempt's decision chose (none, to fail
    over to the next endpoint)."""
    retry = retry_of(retry_state)
    return IMMEDIATE if retry.now else retry.decision.wait


class _OnClock:
    """A retry state whose ``seconds_since_start`` counts on the injected clock
    (tenacity's own reads ``time.monotonic``)."""

    def __init__(self, state: RetryCallState, seconds: float) -> None:
        self._state = state
        self.seconds_since_start = seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(self._state, name)


class ClockedStop(stop_base):
    """The user's tenacity stop, seeing time on the connection's clock, so
    ``stop_after_delay`` works in virtual time too. One per streak."""

    def __init__(self, stop: Any, clock: Clock) -> None:
        self._stop = stop
        self._clock = clock
        self._start = clock.now()

    def __call__(self, retry_state: RetryCallState) -> bool:
        seconds = self._clock.now() - self._start
        return bool(self._stop(_OnClock(retry_state, seconds)))
