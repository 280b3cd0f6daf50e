"""Tier 1: the connection's own rules (wsclient.plan), pure: facts in, one value out."""

from __future__ import annotations

import pytest
from tenacity import wait_fixed

from wsclient import (
    Disconnect,
    DisconnectKind,
    Doubling,
    Exponential,
    Fail,
    HoldOff,
    Reconnect,
    ReconnectPolicy,
    Refresh,
    State,
    Stop,
    Uniform,
)
from wsclient.plan import Round, decide, fail_over, least_wait, stable, state_after

POLICY = ReconnectPolicy.default()
REFUSED = Disconnect(kind=DisconnectKind.REFUSED)


def retry_after(seconds: float) -> tuple[HoldOff, Disconnect]:
    """What the policy makes of a 429 with ``Retry-After: seconds``."""
    rejected = Disconnect(status=429, retry_after=seconds)
    decision = POLICY.decide(rejected)
    assert isinstance(decision, HoldOff)
    return decision, rejected


# -- decide: the policy, overridden by what only the connection knows ----------


def test_a_user_close_stops_whatever_ended_the_socket() -> None:
    for end in (Disconnect(1002), Disconnect(1012), REFUSED, Disconnect(status=401)):
        decision = decide(POLICY, end, closing=True, hook_failed=True, refreshed=True)
        assert isinstance(decision, Stop)


def test_an_on_connect_error_fails_even_on_a_retryable_close() -> None:
    decision = decide(POLICY, Disconnect(1011), closing=False, hook_failed=True, refreshed=False)
    assert decision == Fail("on_connect raised")


def test_fresh_credentials_are_tried_once_per_streak() -> None:
    policy = POLICY.with_status_rule(401, Refresh("token expired"))
    rejected = Disconnect(status=401)
    first = decide(policy, rejected, closing=False, hook_failed=False, refreshed=False)
    assert first == Refresh("token expired")
    again = decide(policy, rejected, closing=False, hook_failed=False, refreshed=True)
    assert again == Fail("refused again after fresh credentials: token expired")


def test_otherwise_the_policy_decides() -> None:
    for end in (Disconnect(1000), Disconnect(1012), Disconnect(1013), Disconnect(1008), REFUSED):
        assert decide(POLICY, end, closing=False, hook_failed=False, refreshed=True) == (
            POLICY.decide(end)
        )


@pytest.mark.parametrize(
    ("decision", "state"),
    [
        (Stop(), State.CLOSED),
        (Fail(), State.FAILED),
        (Reconnect(), State.WAITING),
        (HoldOff(), State.WAITING),
        (Refresh(), State.WAITING),
    ],
)
def test_the_state_a_decision_leads_to(decision: object, state: State) -> None:
    assert state_after(decision) is state  # type: ignore[arg-type]


# -- fail_over: which endpoint next, and which wait of a round -----------------


def test_a_single_endpoint_never_fails_over() -> None:
    decision, end = retry_after(300)
    assert fail_over(Round(), 1, decision, end, connected=False) == (Round(), decision, False)


def test_the_longest_retry_after_of_a_round_is_waited_never_the_last() -> None:
    # Endpoint A says Retry-After 300, endpoint B says 10: back at A after 300 s, not 10.
    at_a, a_end = retry_after(300)
    at_b, b_end = retry_after(10)
    round_, wait, now = fail_over(Round(), 2, at_a, a_end, connected=False)
    assert (round_.current, now) == (1, True)  # B at once
    round_, wait, now = fail_over(round_, 2, at_b, b_end, connected=False)
    assert (round_, wait, now) == (Round(0), at_a, False)
    assert least_wait(wait.wait) == 300


def test_a_later_longer_hold_off_wins_too() -> None:
    at_a, a_end = retry_after(10)
    at_b, b_end = retry_after(300)
    round_, _, _ = fail_over(Round(), 2, at_a, a_end, connected=False)
    _, wait, now = fail_over(round_, 2, at_b, b_end, connected=False)
    assert (wait, now) == (at_b, False)


def test_a_hold_off_wins_a_tie_with_a_refused_endpoint() -> None:
    # 429 without Retry-After (standard curve) and a refused port: resume() must still work.
    hold = POLICY.decide(Disconnect(status=429))
    refused = POLICY.decide(REFUSED)
    assert isinstance(hold, HoldOff)
    assert isinstance(refused, Reconnect)
    round_, _, _ = fail_over(Round(), 2, refused, REFUSED, connected=False)
    _, wait, _ = fail_over(round_, 2, hold, Disconnect(status=429), connected=False)
    assert wait is hold
    round_, _, _ = fail_over(Round(), 2, hold, Disconnect(status=429), connected=False)
    _, wait, _ = fail_over(round_, 2, refused, REFUSED, connected=False)
    assert wait is hold


def test_a_1012_goes_to_the_next_endpoint_at_once() -> None:
    restart = Disconnect(1012, "restart")
    decision = POLICY.decide(restart)
    assert isinstance(decision, Reconnect)
    round_, wait, now = fail_over(Round(), 2, decision, restart, connected=True)
    assert (round_.current, wait, now) == (1, decision, True)


def test_after_a_1012_the_restarting_endpoint_waits_its_5_to_30_seconds() -> None:
    # A restarts (1012), B is down too: the round ends with A's 5-30 s, not B's 0-5 s.
    restart = Disconnect(1012, "restart")
    restarting = POLICY.decide(restart)
    assert isinstance(restarting, Reconnect)
    refused = POLICY.decide(REFUSED)
    assert isinstance(refused, Reconnect)
    round_, _, _ = fail_over(Round(), 2, restarting, restart, connected=True)
    round_, wait, now = fail_over(round_, 2, refused, REFUSED, connected=False)
    assert (round_.current, wait, now) == (0, restarting, False)
    assert wait.wait == Uniform(5, 30)


@pytest.mark.parametrize("code", [1000, 1001, 1006, 1011, 4000])
def test_other_ends_of_an_open_connection_stay_with_the_endpoint(code: int) -> None:
    end = Disconnect(code)
    decision = POLICY.decide(end)
    assert isinstance(decision, Reconnect)
    assert fail_over(Round(1, 1), 3, decision, end, connected=True) == (
        Round(1, 1),
        decision,
        False,
    )


def test_a_refresh_stays_with_the_endpoint() -> None:
    end = Disconnect(status=401)
    assert fail_over(Round(), 2, Refresh(), end, connected=False) == (Round(), Refresh(), False)


def test_a_round_tries_every_endpoint_once_then_waits_and_starts_over() -> None:
    refused = POLICY.decide(REFUSED)
    assert isinstance(refused, Reconnect)
    round_ = Round()
    seen = []
    for _ in range(7):
        round_, _, now = fail_over(round_, 3, refused, REFUSED, connected=False)
        seen.append((round_.current, now))
    assert seen == [(1, True), (2, True), (0, False), (1, True), (2, True), (0, False), (1, True)]


def test_a_successful_handshake_starts_the_round_over_where_it_is() -> None:
    at_a, a_end = retry_after(300)
    round_, _, _ = fail_over(Round(), 3, at_a, a_end, connected=False)
    assert round_.connected() == Round(1)


def test_least_wait() -> None:
    assert least_wait(Uniform(5, 30)) == 5
    assert least_wait(Doubling(30, 120)) == 30
    assert least_wait(Exponential()) == 0
    assert least_wait(wait_fixed(7)) == 0  # a tenacity wait cannot be told


# -- stable: may the backoff curves start over? ----------------------------------


@pytest.mark.parametrize(
    ("kind", "code", "expected"),
    [
        (DisconnectKind.CLOSE, 1011, True),  # up from 0 to now=40
        (DisconnectKind.HEARTBEAT, 1006, False),  # read nothing after 10
        (DisconnectKind.STALE, 1006, False),  # no data after 20
        (DisconnectKind.LOST, 1006, True),
    ],
)
def test_stable_counts_only_the_time_the_connection_was_really_up(
    kind: DisconnectKind, code: int, expected: bool
) -> None:
    end = Disconnect(code, kind=kind)
    facts = {"opened_at": 0.0, "read_at": 10.0, "data_at": 20.0, "now": 40.0}
    assert stable(end, stable_after=30, **facts) is expected


def test_stale_without_a_watchdog_reading_counts_until_now() -> None:
    end = Disconnect(1006, kind=DisconnectKind.STALE)
    assert stable(end, opened_at=0, read_at=0, data_at=None, now=30, stable_after=30)
    assert not stable(end, opened_at=0, read_at=0, data_at=None, now=29.9, stable_after=30)


def test_stable_measures_from_when_the_socket_opened() -> None:
    end = Disconnect(1011)
    assert stable(end, opened_at=1000, read_at=0, data_at=None, now=1030, stable_after=30)
    assert not stable(end, opened_at=1000, read_at=0, data_at=None, now=1029, stable_after=30)


def test_of_two_equal_waits_in_a_round_the_first_is_waited() -> None:
    """Two refused endpoints: the round waits what the first one asked (its
    reason is the one announced)."""
    first = Reconnect(Uniform(3, 9), "first refused")
    second = Reconnect(Uniform(3, 20), "second refused")
    round_, _, _ = fail_over(Round(), 2, first, REFUSED, connected=False)
    _, wait, now = fail_over(round_, 2, second, REFUSED, connected=False)
    assert (wait, now) == (first, False)
