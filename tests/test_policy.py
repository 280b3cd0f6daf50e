"""Tier 1: the decision table, pure (no event loop)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsclient import (
    Disconnect,
    DisconnectKind,
    Fail,
    HoldOff,
    Reconnect,
    ReconnectPolicy,
    Refresh,
    Stop,
)
from wsclient.backoff import HOLD_OFF, IMMEDIATE, STANDARD, Exponential, Uniform
from wsclient.policy import CLOSE_CODES, HANDSHAKE_STATUSES, KINDS

POLICY = ReconnectPolicy.default()
RESTART = Uniform(5.0, 30.0)

# The decision table in the documentation (README, "The default decisions"), written out
# independently of the table in policy.py.
EXPECTED_CODES: list[tuple[range, type, object]] = [
    (range(0, 1000), Fail, None),
    (range(1000, 1002), Reconnect, STANDARD),
    (range(1002, 1005), Fail, None),
    (range(1005, 1007), Reconnect, STANDARD),
    (range(1007, 1011), Fail, None),
    (range(1011, 1012), Reconnect, STANDARD),
    (range(1012, 1013), Reconnect, RESTART),
    (range(1013, 1014), HoldOff, HOLD_OFF),
    (range(1014, 1015), Reconnect, STANDARD),
    (range(1015, 3000), Fail, None),
    (range(3000, 5000), Reconnect, STANDARD),
    (range(5000, 65536), Fail, None),
]


def _expected(code: int) -> tuple[type, object]:
    for codes, kind, wait in EXPECTED_CODES:
        if code in codes:
            return kind, wait
    raise AssertionError(code)


@pytest.mark.parametrize("rule", CLOSE_CODES, ids=lambda r: f"{r.codes.start}-{r.codes.stop - 1}")
def test_every_close_code_row_matches_the_design(rule: object) -> None:
    codes = rule.codes  # type: ignore[attr-defined]
    for code in {codes.start, codes.stop - 1, (codes.start + codes.stop) // 2}:
        decision = POLICY.for_code(code)
        kind, wait = _expected(code)
        assert isinstance(decision, kind), code
        if wait is not None:
            assert decision.wait == wait  # type: ignore[union-attr]
        assert decision.reason, f"row {code} has no reason"


def test_every_row_cites_its_source() -> None:
    for rule in (*CLOSE_CODES, *HANDSHAKE_STATUSES):
        assert any(src in rule.decision.reason for src in ("RFC", "IANA")), rule


def test_the_close_code_table_covers_0_to_65535_exactly_once() -> None:
    covered = sorted(code for rule in CLOSE_CODES for code in rule.codes)
    assert covered == list(range(65536))
    statuses = sorted(code for rule in HANDSHAKE_STATUSES for code in rule.codes)
    assert statuses == list(range(65536))


@given(st.integers(min_value=0, max_value=65535))
def test_every_close_code_gets_the_designed_decision(code: int) -> None:
    decision = POLICY.decide(Disconnect(code, kind=DisconnectKind.CLOSE))
    assert isinstance(decision, _expected(code)[0])


@given(st.integers(min_value=0, max_value=65535))
def test_a_close_frame_from_the_wire_never_reconnects_on_an_invalid_code(code: int) -> None:
    disconnect = Disconnect.from_close_frame(code)
    decision = POLICY.decide(disconnect)
    if code == 0:
        assert disconnect.code == 1005
        assert isinstance(decision, Reconnect)
    elif disconnect.received_code is not None:
        assert disconnect.code == 1002
        assert disconnect.received_code == code
        assert isinstance(decision, Fail)
    else:
        assert disconnect.code == code


@given(st.sampled_from(list(DisconnectKind)), st.none() | st.integers(0, 65535))
def test_every_disconnect_gets_a_decision(kind: DisconnectKind, number: int | None) -> None:
    disconnect = Disconnect(code=number, status=number, kind=kind)
    assert isinstance(POLICY.decide(disconnect), Reconnect | HoldOff | Fail | Stop)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (101, Fail),
        (200, Fail),
        (301, Fail),
        (302, Fail),
        (400, Fail),
        (401, Fail),
        (403, Fail),
        (404, Fail),
        (410, Fail),
        (418, Fail),
        (429, HoldOff),
        (500, Reconnect),
        (502, Reconnect),
        (503, Reconnect),
        (504, Reconnect),
        (599, Reconnect),
    ],
)
def test_handshake_statuses(status: int, expected: type) -> None:
    decision = POLICY.decide(Disconnect(status=status, kind=DisconnectKind.HANDSHAKE))
    assert isinstance(decision, expected)


@pytest.mark.parametrize(
    ("kind", "expected", "wait"),
    [
        (DisconnectKind.DNS, Reconnect, STANDARD),
        (DisconnectKind.REFUSED, Reconnect, STANDARD),
        (DisconnectKind.RESET, Reconnect, STANDARD),
        (DisconnectKind.TIMEOUT, Reconnect, STANDARD),
        (DisconnectKind.TLS, Fail, None),
        (DisconnectKind.USER, Stop, None),
        (DisconnectKind.FORCED, Reconnect, IMMEDIATE),
        (DisconnectKind.ROTATE, Reconnect, IMMEDIATE),  # the next socket is ready already
        (DisconnectKind.STALE, Reconnect, STANDARD),
        (DisconnectKind.LOST, Reconnect, STANDARD),
        (DisconnectKind.HEARTBEAT, Reconnect, STANDARD),
    ],
)
def test_transport_kinds(kind: DisconnectKind, expected: type, wait: object) -> None:
    decision = POLICY.decide(Disconnect(kind=kind))
    assert isinstance(decision, expected)
    if wait is not None:
        assert decision.wait == wait  # type: ignore[union-attr]


def test_locally_detected_protocol_errors_fail_with_their_code() -> None:
    for code in (1002, 1007, 1009):
        assert isinstance(POLICY.decide(Disconnect(code, kind=DisconnectKind.PROTOCOL)), Fail)


def test_with_rule_returns_a_new_policy_and_wins_over_older_rules() -> None:
    custom = POLICY.with_rule(range(4000, 4100), Fail("app says: bad token"))
    custom = custom.with_rule(4001, Stop("done"))
    assert isinstance(custom.for_code(4000), Fail)
    assert isinstance(custom.for_code(4001), Stop)
    assert isinstance(custom.for_code(4100), Reconnect)
    assert isinstance(POLICY.for_code(4000), Reconnect)  # unchanged
    assert custom.rows().__next__().codes == range(4001, 4002)


def test_a_rule_for_1006_applies_to_a_lost_transport() -> None:
    custom = POLICY.with_rule(1006, Fail("no retries"))
    assert isinstance(custom.decide(Disconnect(1006, kind=DisconnectKind.LOST)), Fail)
    assert isinstance(custom.decide(Disconnect(kind=DisconnectKind.HEARTBEAT)), Fail)


def test_with_status_rule() -> None:
    custom = POLICY.with_status_rule(401, Reconnect(Exponential(1, 2)))
    assert isinstance(
        custom.decide(Disconnect(status=401, kind=DisconnectKind.HANDSHAKE)), Reconnect
    )
    assert isinstance(POLICY.for_status(401), Fail)


def test_a_servers_1000_reconnects_but_a_user_close_still_stops() -> None:
    assert isinstance(POLICY.for_code(1000), Reconnect)
    assert isinstance(POLICY.for_code(1001), Reconnect)
    user = Disconnect(1000, kind=DisconnectKind.USER)
    assert isinstance(POLICY.decide(user), Stop)
    assert isinstance(KINDS[DisconnectKind.USER], Stop)
    ending = POLICY.with_rule(1000, Stop("the stream is complete"))
    assert ending.decide(Disconnect(1000)) == Stop("the stream is complete")


@pytest.mark.parametrize(
    ("codes", "message"),
    [
        (-1, "within 0-65535"),
        (65536, "within 0-65535"),
        (range(10, 5), "non-empty"),
        (range(0, 10, 2), "non-empty range"),
        ("1000", "an int"),
        (True, "an int"),
    ],
)
def test_with_rule_rejects_bad_codes(codes: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        POLICY.with_rule(codes, Stop())  # type: ignore[arg-type]


def test_with_rule_rejects_a_non_decision() -> None:
    with pytest.raises(TypeError, match="decision must be"):
        POLICY.with_rule(4000, "reconnect")  # type: ignore[arg-type]


def test_repr_counts_added_rules() -> None:
    assert "0 rule" in repr(POLICY)
    assert "2 rule" in repr(POLICY.with_rule(4000, Stop()).with_status_rule(401, Stop()))


@pytest.mark.parametrize(
    ("statuses", "message"),
    [
        (1012, r"HTTP statuses within 100-599 \(close codes go to with_rule\), got 1012"),
        (1000, r"\(close codes go to with_rule\), got 1000"),
        (range(4000, 4100), r"within 100-599 \(close codes go to with_rule\), got range"),
        (99, r"HTTP statuses within 100-599, got 99"),
        (600, r"HTTP statuses within 100-599, got 600"),
        (range(500, 601), r"within 100-599, got range\(500, 601\)"),
    ],
)
def test_with_status_rule_takes_http_statuses_only(statuses: int | range, message: str) -> None:
    """A close code given as a status would never match: an error up front."""
    with pytest.raises(ValueError, match=message):
        POLICY.with_status_rule(statuses, Fail())


def test_with_status_rule_takes_the_whole_http_range() -> None:
    custom = POLICY.with_status_rule(range(100, 600), Stop("any status"))
    assert custom.for_status(100) == custom.for_status(599) == Stop("any status")


def test_max_retry_after_may_be_under_a_second() -> None:
    assert ReconnectPolicy.default(max_retry_after=0.5).max_retry_after == 0.5


@pytest.mark.parametrize("limit", [0, -1, float("inf"), float("nan")])
def test_max_retry_after_must_be_a_finite_positive_number(limit: float) -> None:
    with pytest.raises(ValueError, match=r"max_retry_after must be a finite number > 0, got"):
        ReconnectPolicy.default(max_retry_after=limit)


def test_custom_rules_keep_max_retry_after() -> None:
    custom = ReconnectPolicy.default(max_retry_after=42).with_rule(4000, Stop())
    custom = custom.with_status_rule(418, Stop())
    assert custom.max_retry_after == 42
    decision = custom.decide(Disconnect(status=503, retry_after=3600))
    assert isinstance(decision, HoldOff)
    assert decision.wait == Uniform(42, 42)


@pytest.mark.parametrize(
    ("decision", "shown"),
    [
        (Reconnect(reason="1011 internal error"), "reconnect: 1011 internal error"),
        (Refresh("token expired"), "refresh credentials: token expired"),
        (Refresh(), "refresh credentials"),
        (HoldOff(reason="1013 try again later"), "hold off: 1013 try again later"),
        (HoldOff(), "hold off"),
        (Fail("1008 policy violation"), "fail: 1008 policy violation"),
        (Stop(), "stop"),
    ],
)
def test_a_decision_reads_as_the_cli_and_the_logs_print_it(decision: object, shown: str) -> None:
    assert str(decision) == shown


@pytest.mark.parametrize("build", [Refresh, Fail, Stop])
def test_a_reason_must_be_a_str(build: type) -> None:
    with pytest.raises(
        TypeError, match=rf"{build.__name__}\(reason=\.\.\.\) must be a str, got int"
    ):
        build(1011)


@pytest.mark.parametrize("build", [Reconnect, HoldOff])
def test_a_reason_passed_as_the_wait_gets_a_hint(build: type) -> None:
    with pytest.raises(TypeError, match=r"a reason goes by name: \w+\(reason=\.\.\.\)"):
        build("busy")
    with pytest.raises(TypeError, match=r"must be a str, got int"):
        build(STANDARD, 5)


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        (DisconnectKind.CLOSE, 1005),  # a close frame without a code
        (DisconnectKind.PROTOCOL, 1002),
        (DisconnectKind.LOST, 1006),
        (DisconnectKind.HEARTBEAT, 1006),
        (DisconnectKind.STALE, 1006),
    ],
)
def test_an_end_without_a_code_is_decided_by_the_code_it_stands_for(
    kind: DisconnectKind, code: int
) -> None:
    custom = POLICY.with_rule(code, Stop(f"rule for {code}"))
    assert custom.decide(Disconnect(kind=kind)) == Stop(f"rule for {code}")


@pytest.mark.parametrize("codes", [0, 65535, range(65530, 65536), range(0, 65536)])
def test_with_rule_takes_every_close_code_from_0_to_65535(codes: int | range) -> None:
    custom = POLICY.with_rule(codes, Stop("mine"))
    assert custom.for_code(codes if isinstance(codes, int) else codes[-1]) == Stop("mine")


@pytest.mark.parametrize("decision", [Refresh(), HoldOff(), Reconnect(), Fail(), Stop()])
def test_every_kind_of_decision_can_be_a_rule(decision: Fail) -> None:
    assert POLICY.with_rule(4000, decision).for_code(4000) is decision
    assert POLICY.with_status_rule(401, decision).for_status(401) is decision


def test_with_status_rule_rejects_a_non_decision() -> None:
    with pytest.raises(TypeError, match="decision must be"):
        POLICY.with_status_rule(401, "refresh")  # type: ignore[arg-type]


def test_a_table_without_a_row_for_a_code_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no rule for 1000"):
        ReconnectPolicy(codes=()).for_code(1000)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_holds_off_a_429_or_503_at_least_as_long_as_asked(status: int) -> None:
    decision = POLICY.decide(Disconnect(status=status, retry_after=100))
    assert decision == HoldOff(
        Uniform(100, 120), f"{status} with Retry-After 100 s (RFC 9110 §10.2.3)"
    )
    assert POLICY.decide(Disconnect(status=status, retry_after=1)) == HoldOff(
        Uniform(1, 5), f"{status} with Retry-After 1 s (RFC 9110 §10.2.3)"
    )


def test_retry_after_on_another_status_or_against_a_users_fail_is_not_honoured() -> None:
    assert POLICY.decide(Disconnect(status=500, retry_after=100)) == POLICY.for_status(500)
    failing = POLICY.with_status_rule(503, Fail("maintenance"))
    assert failing.decide(Disconnect(status=503, retry_after=100)) == Fail("maintenance")
    assert POLICY.decide(Disconnect(status=503)) == POLICY.for_status(503)


def test_retry_after_is_never_waited_longer_than_ten_minutes_by_default() -> None:
    assert POLICY.max_retry_after == 600
    assert ReconnectPolicy().max_retry_after == 600
    decision = POLICY.decide(Disconnect(status=429, retry_after=86400))
    assert isinstance(decision, HoldOff)
    assert decision.wait == Uniform(600, 600)


def test_repr_counts_rules_of_both_tables() -> None:
    assert repr(POLICY.with_rule(4000, Stop())) == (
        "<ReconnectPolicy with 1 rule(s) over the defaults>"
    )
    assert repr(POLICY.with_status_rule(401, Stop())) == (
        "<ReconnectPolicy with 1 rule(s) over the defaults>"
    )
