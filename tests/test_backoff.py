"""Tier 1: wait strategies and the tenacity wait that picks them, pure."""

from __future__ import annotations

import random

import pytest
from tenacity import AsyncRetrying, RetryCallState, wait_exponential, wait_fixed

from wsclient.backoff import (
    HOLD_OFF,
    IMMEDIATE,
    STANDARD,
    DecisionWait,
    Doubling,
    Exponential,
    Uniform,
    WaitStrategy,
)

from .conftest import Midpoint


def test_standard_backoff_first_delay_within_0_to_5_then_doubling_bound_capped() -> None:
    rng = random.Random(7)
    strategy = Exponential()
    for repeat, bound in [(1, 5), (2, 10), (3, 20), (4, 40), (5, 60), (6, 60), (50, 60)]:
        delays = [strategy.delay(repeat, rng) for _ in range(300)]
        assert all(0 <= d <= bound for d in delays)
        assert max(delays) > 0.8 * bound  # full jitter reaches the top
        assert min(delays) < 0.2 * bound  # and the bottom


def test_standard_backoff_grows_in_expectation() -> None:
    strategy = Exponential()
    assert [strategy.delay(n, Midpoint()) for n in range(1, 7)] == [2.5, 5, 10, 20, 30, 30]


def test_huge_repeat_counts_do_not_overflow() -> None:
    assert Exponential(cap=60).delay(10**6, Midpoint()) == 30
    assert Doubling().delay(10**6, Midpoint()) == 600


def test_uniform_stays_in_range_and_ignores_repeats() -> None:
    rng = random.Random(3)
    delays = [Uniform(5, 30).delay(n, rng) for n in range(1, 500)]
    assert all(5 <= d <= 30 for d in delays)
    assert Uniform(2, 2).delay(9, rng) == 2


def test_the_named_strategies_are_the_documented_defaults() -> None:
    """A forced reconnect or a rotation waits nothing; the others are README's."""
    assert [IMMEDIATE.delay(n, random.Random(n)) for n in (1, 2, 50)] == [0, 0, 0]
    assert Exponential(first=5.0, cap=60.0) == STANDARD
    assert Doubling(low=30.0, high=120.0, cap=600.0) == HOLD_OFF


def test_hold_off_doubles_on_repeats_up_to_ten_minutes() -> None:
    hold = Doubling()
    assert [hold.delay(n, Midpoint()) for n in (1, 2, 3, 4, 5)] == [75, 150, 300, 600, 600]
    rng = random.Random(5)
    assert all(30 <= hold.delay(1, rng) <= 120 for _ in range(200))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Exponential(first=-1), "first"),
        (lambda: Exponential(cap=float("inf")), "cap"),
        (lambda: Exponential(first=float("nan")), "first"),
        (lambda: Uniform(5, 1), "must not exceed"),
        (lambda: Uniform(float("nan"), 1), "low"),
        (lambda: Uniform(0, float("nan")), "high"),
        (lambda: Uniform(1, float("inf")), "high"),
        (lambda: Uniform(-0.5, 1), "low"),
        (lambda: Doubling(low=120, high=30), "must not exceed"),
        (lambda: Doubling(low=-1), "low"),
        (lambda: Doubling(cap=-2), "cap"),
    ],
)
def test_bad_parameters_are_refused(build: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()  # type: ignore[operator]


def test_a_tenacity_wait_is_called_with_the_retry_state() -> None:
    state = RetryCallState(AsyncRetrying(), None, (), {})
    state.attempt_number = 3
    wait = DecisionWait(Midpoint(), lambda _: wait_exponential(multiplier=1))
    assert wait(state) == 4.0
    assert DecisionWait(Midpoint(), lambda _: wait_fixed(2))(state) == 2.0


def test_decision_wait_counts_repeats_per_strategy() -> None:
    """A 1012 restart (Uniform) in the middle of a streak does not feed the curve."""
    picks: list[WaitStrategy] = [
        Exponential(),
        Uniform(5, 30),
        Uniform(5, 30),
        Exponential(),
        Exponential(),
    ]
    wait = DecisionWait(Midpoint(), lambda _: picks.pop(0))
    state = RetryCallState(AsyncRetrying(), None, (), {})
    delays = [wait(state) for _ in range(5)]
    assert delays == [2.5, 17.5, 17.5, 5.0, 10.0]
