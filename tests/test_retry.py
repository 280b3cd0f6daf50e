"""Tier 1: the reconnect loop's glue to tenacity, without a loop: a streak's
stop sees the streak (its attempts, its time on the injected clock), its
wait asks the failed attempt's decision and the session's budget."""

from __future__ import annotations

import random
from typing import Any

import pytest
from tenacity import AsyncRetrying, Future, RetryCallState, stop_after_attempt, stop_after_delay

from wsclient import Disconnect, HoldOff, Reconnect, ReconnectBudget
from wsclient.backoff import Exponential, Uniform
from wsclient.retry import Retry, Streak, retry_of, strategy_of

from .conftest import Midpoint


class Manual:
    """A clock that moves only when told."""

    def __init__(self, now: float = 100.0) -> None:
        self.at = now

    def now(self) -> float:
        return self.at

    async def sleep(self, seconds: float) -> None:  # pragma: no cover - never slept on
        self.at += seconds


def failed(retry: Retry, attempt: int = 1) -> RetryCallState:
    """tenacity's state after an attempt that raised ``retry``."""
    state = RetryCallState(AsyncRetrying(), None, (), {})
    state.attempt_number = attempt
    outcome = Future(attempt)
    outcome.set_exception(retry)
    state.outcome = outcome
    return state


END = Disconnect(1011)


def test_the_failed_attempts_retry_and_its_decisions_wait_are_found() -> None:
    retry = Retry(END, Reconnect(Uniform(5, 30)))
    assert retry_of(failed(retry).outcome) is retry
    assert strategy_of(failed(retry)) == Uniform(5, 30)
    assert str(retry) == "close, code 1011"


def test_a_fail_over_to_the_next_endpoint_waits_nothing() -> None:
    retry = Retry(END, HoldOff(Uniform(60, 60)), now=True)
    assert strategy_of(failed(retry)) == Uniform(0, 0)


def test_without_a_stop_a_streak_never_stops() -> None:
    streak = Streak(Manual(), random.Random(1), None, None)
    streak.attempt = 10_000
    assert streak.stop(failed(Retry(END, Reconnect()), 10_000)) is False


def test_the_users_stop_counts_the_streaks_attempts_not_tenacitys() -> None:
    """tenacity starts counting again with each retry loop; the streak does not."""
    streak = Streak(Manual(), random.Random(1), stop_after_attempt(3), None)
    streak.attempt = 2
    assert streak.stop(failed(Retry(END, Reconnect()), 1)) is False
    streak.attempt = 3
    assert streak.stop(failed(Retry(END, Reconnect()), 1)) is True


def test_the_users_stop_measures_time_on_the_injected_clock() -> None:
    clock = Manual(now=500.0)
    streak = Streak(clock, random.Random(1), stop_after_delay(60), None)
    clock.at = 559.0
    assert streak.stop(failed(Retry(END, Reconnect()))) is False
    clock.at = 560.0
    assert streak.stop(failed(Retry(END, Reconnect()))) is True


def test_the_stop_sees_the_rest_of_tenacitys_state() -> None:
    seen: list[Any] = []

    def stop(state: Any) -> bool:
        seen.append(state)
        return False

    streak = Streak(Manual(), random.Random(1), stop, None)
    retry = Retry(END, Reconnect())
    streak.stop(failed(retry))
    assert seen[0].outcome.exception() is retry


def test_the_wait_follows_the_decision_and_its_curve_over_the_streak() -> None:
    streak = Streak(Manual(), Midpoint(), None, None)
    waits = [streak.wait(failed(Retry(END, Reconnect(Exponential(2, 60))))) for _ in range(3)]
    assert waits == [1.0, 2.0, 4.0]


def test_the_wait_is_stretched_by_a_spent_budget() -> None:
    budget = ReconnectBudget(per_minute=60)
    first = Streak(Manual(now=10.0), Midpoint(), None, budget)
    second = Streak(Manual(now=10.0), Midpoint(), None, budget)
    restart = Retry(END, Reconnect(Uniform(2, 2)))
    assert first.wait(failed(restart)) == 2.0
    assert second.wait(failed(restart)) == 3.0  # second 12 is taken: the next one


@pytest.mark.parametrize("now", [True, False])
def test_a_retry_says_whether_to_fail_over_at_once(now: bool) -> None:
    assert Retry(END, Reconnect(), now=now).now is now


def test_an_outcome_that_is_not_a_retry_is_a_clear_error() -> None:
    outcome = Future(1)
    outcome.set_exception(ValueError("boom"))
    with pytest.raises(TypeError, match="unexpected outcome ValueError"):
        retry_of(outcome)
    with pytest.raises(TypeError, match="unexpected outcome None"):
        retry_of(None)


def test_a_new_streak_has_made_no_attempt_and_used_no_refresh() -> None:
    """Fresh credentials are tried once per streak: a new streak may again."""
    streak = Streak(Manual(), random.Random(1), None, None)
    assert (streak.attempt, streak.refreshed) == (0, False)
