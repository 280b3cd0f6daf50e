"""Tier 1: the session's reconnect budget, pure (the caller passes the time).

How it spreads what it delays is tested with the session in test_feeds.py;
here: its limits, its smallest size, and that it forgets the past.
"""

from __future__ import annotations

import pytest

from wsclient import ReconnectBudget


@pytest.mark.parametrize("per_minute", [59, 0, -60, 60.0, "600", True])
def test_a_budget_below_one_a_second_or_not_an_int_is_refused(per_minute: object) -> None:
    with pytest.raises(ValueError, match=r"per_minute must be an int >= 60, got"):
        ReconnectBudget(per_minute)  # type: ignore[arg-type]


def test_the_smallest_budget_lets_one_reconnect_a_second() -> None:
    budget = ReconnectBudget(per_minute=60)
    assert budget.per_second == 1
    assert [budget.reserve(10.0, 0.25) for _ in range(4)] == [0.25, 1.0, 2.0, 3.0]


def test_a_budget_of_sixty_plus_a_few_still_lets_one_a_second() -> None:
    budget = ReconnectBudget(per_minute=119)  # rounds down: never more than promised
    assert [budget.reserve(0.0, 0.0) for _ in range(3)] == [0.0, 1.0, 2.0]


def test_a_delay_is_never_shortened_and_later_seconds_are_not_pushed() -> None:
    budget = ReconnectBudget(per_minute=120)  # 2 a second
    assert [budget.reserve(0.0, 3.9) for _ in range(2)] == [3.9, 3.9]
    assert budget.reserve(0.0, 3.9) == 4.0  # the third of second 3 moves to second 4
    assert budget.reserve(0.0, 4.2) == 4.2  # second 4 still has room for it
    assert budget.reserve(0.0, 4.9) == 5.0  # second 4 is full: the next one with room,
    assert budget.reserve(0.0, 4.9) == 5.5  # spread across it
    assert budget.reserve(0.0, 7.0) == 7.0


def test_past_seconds_are_forgotten_so_weeks_of_reconnects_cost_no_memory() -> None:
    budget = ReconnectBudget(per_minute=60)
    kept = 0
    for second in range(10_000):
        assert budget.reserve(float(second), 0.0) == 0.0
        kept = max(kept, len(budget._slots))  # (what it keeps: the bound is the point)
    assert kept < 100


def test_forgetting_keeps_the_current_second_full() -> None:
    """Forgetting runs once more than 64 seconds are planned; the second under
    way is not past, so a reconnect in it still waits for room."""
    budget = ReconnectBudget(per_minute=60)
    assert budget.reserve(100.0, 0.0) == 0.0  # second 100 is full now
    for ahead in range(1, 65):  # seconds 101-164: 65 seconds planned, forgetting runs
        assert budget.reserve(100.0, float(ahead)) == ahead
    assert budget.reserve(100.5, 0.0) == 64.5  # the first second with room: 165
    assert repr(budget) == "ReconnectBudget(per_minute=60)"


def test_the_default_budget_is_a_hundred_a_second() -> None:
    budget = ReconnectBudget()
    assert [budget.reserve(0.0, 0.0) for _ in range(100)] == [0.0] * 100
    assert budget.reserve(0.0, 0.0) == 1.0
    assert repr(budget) == "ReconnectBudget(per_minute=6000)"
