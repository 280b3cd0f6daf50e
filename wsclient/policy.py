"""The reconnect policy: one :class:`Disconnect` in, one decision out.

Pure: no I/O, no clock. The defaults are tables, one row per code range,
each with a one-line reason that cites RFC 6455 or the IANA registry; every
close code 0-65535 and every HTTP status lands on exactly one row. A policy
is immutable: :meth:`ReconnectPolicy.with_rule` returns a new one whose rule
is looked up before everything older.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import ClassVar

from tenacity.wait import wait_base

from .backoff import HOLD_OFF, IMMEDIATE, STANDARD, Uniform, WaitStrategy
from .disconnect import SERVICE_RESTART, Disconnect, DisconnectKind

__all__ = [
    "Decision",
    "Fail",
    "HoldOff",
    "Reconnect",
    "ReconnectPolicy",
    "Refresh",
    "Rule",
    "Stop",
]

MAX_CLOSE_CODE = 65535
# What a server can answer an upgrade request with (RFC 9110 §15).
_LOWEST_STATUS = 100
_HIGHEST_STATUS = 599


def _told(decision: str, reason: str) -> str:
    """How a decision reads in logs and events: ``"reconnect: 1011 ..."``."""
    return f"{decision}: {reason}" if reason else decision


def _check(decision: str, wait: object, reason: object) -> None:
    """A decision is checked when it is built, not at the first close it meets."""
    if not isinstance(reason, str):
        raise TypeError(f"{decision}(reason=...) must be a str, got {type(reason).__name__}")
    if isinstance(wait, wait_base) or callable(getattr(wait, "delay", None)):
        return
    hint = f" (a reason goes by name: {decision}(reason=...))" if isinstance(wait, str) else ""
    raise TypeError(
        f"{decision}(wait=...) must be a wait strategy (Exponential, Uniform, Doubling) "
        f"or a tenacity wait, got {type(wait).__name__}{hint}"
    )


@dataclass(frozen=True, slots=True)
class Reconnect:
    """Open a new connection after the delay ``wait`` gives (a wsclient
    strategy, or any tenacity wait such as ``wait_fixed(2)``).

    Raises:
        TypeError: ``wait`` is neither (``Reconnect("busy")`` is a mistake
            for ``Reconnect(reason="busy")``), or ``reason`` is not a str.
    """

    wait: WaitStrategy | wait_base = STANDARD
    reason: str = ""

    def __post_init__(self) -> None:
        _check("Reconnect", self.wait, self.reason)

    def __str__(self) -> str:
        return _told("reconnect", self.reason)


@dataclass(frozen=True, slots=True)
class Refresh:
    """Reconnect at once with fresh credentials (``url``/``headers`` callables
    are called again), once: the same end again in a row fails. For a 401 or
    403 handshake, or a close code like 4401 that says a token expired."""

    reason: str = ""
    wait: ClassVar[WaitStrategy] = IMMEDIATE

    def __post_init__(self) -> None:
        _check("Refresh", self.wait, self.reason)

    def __str__(self) -> str:
        return _told("refresh credentials", self.reason)


@dataclass(frozen=True, slots=True)
class HoldOff:
    """Stay away for a long while (``resume()`` ends it early), then reconnect.

    Raises:
        TypeError: as :class:`Reconnect` does.
    """

    wait: WaitStrategy | wait_base = HOLD_OFF
    reason: str = ""

    def __post_init__(self) -> None:
        _check("HoldOff", self.wait, self.reason)

    def __str__(self) -> str:
        return _told("hold off", self.reason)


@dataclass(frozen=True, slots=True)
class Fail:
    """Never reconnect: iteration raises the error that describes the end."""

    reason: str = ""

    def __post_init__(self) -> None:
        _check("Fail", IMMEDIATE, self.reason)

    def __str__(self) -> str:
        return _told("fail", self.reason)


@dataclass(frozen=True, slots=True)
class Stop:
    """Never reconnect: iteration ends cleanly."""

    reason: str = ""

    def __post_init__(self) -> None:
        _check("Stop", IMMEDIATE, self.reason)

    def __str__(self) -> str:
        return _told("stop", self.reason)


Decision = Reconnect | Refresh | HoldOff | Fail | Stop
_DECISION_TYPES = (Reconnect, Refresh, HoldOff, Fail, Stop)


@dataclass(frozen=True, slots=True)
class Rule:
    """``decision`` for every code (or HTTP status) in ``codes``."""

    codes: range
    decision: Decision


def _rule(low: int, high: int, decision: Decision) -> Rule:
    return Rule(range(low, high + 1), decision)


_RFC = "(RFC 6455 §7.4.1)"
_NEVER_SENT = "must never be on the wire (RFC 6455 §7.4.2): a protocol error"

CLOSE_CODES: tuple[Rule, ...] = (
    _rule(0, 999, Fail(f"codes below 1000 {_NEVER_SENT}")),
    _rule(
        1000,
        1000,
        Reconnect(
            STANDARD,
            "1000 normal closure: what servers send on restarts and keepalive timeouts "
            f"too; a stream that ends on purpose maps it to Stop() {_RFC}",
        ),
    ),
    _rule(1001, 1001, Reconnect(STANDARD, f"1001 going away: server shutdown {_RFC}")),
    _rule(1002, 1002, Fail(f"1002 protocol error: a retry would fail again {_RFC}")),
    _rule(1003, 1003, Fail(f"1003 unsupported data: it would be refused again {_RFC}")),
    _rule(1004, 1004, Fail(f"1004 is reserved and {_NEVER_SENT}")),
    _rule(1005, 1005, Reconnect(STANDARD, f"1005 no status code in the frame {_RFC}")),
    _rule(1006, 1006, Reconnect(STANDARD, f"1006 transport lost, no close frame {_RFC}")),
    _rule(1007, 1007, Fail(f"1007 invalid payload data, e.g. bad UTF-8 {_RFC}")),
    _rule(1008, 1008, Fail(f"1008 policy violation: it would be refused again {_RFC}")),
    _rule(1009, 1009, Fail(f"1009 message too big: it would be too big again {_RFC}")),
    _rule(1010, 1010, Fail(f"1010 a required extension was not negotiated {_RFC}")),
    _rule(1011, 1011, Reconnect(STANDARD, f"1011 internal server error {_RFC}")),
    _rule(
        SERVICE_RESTART,
        SERVICE_RESTART,
        Reconnect(
            Uniform(5.0, 30.0),
            "1012 service restart: another endpoint at once, this one in 5-30 s (IANA)",
        ),
    ),
    _rule(1013, 1013, HoldOff(HOLD_OFF, "1013 try again later: overloaded (IANA)")),
    _rule(1014, 1014, Reconnect(STANDARD, "1014 bad gateway upstream (IANA)")),
    _rule(1015, 1015, Fail(f"1015 reports a TLS failure and {_NEVER_SENT}")),
    _rule(1016, 2999, Fail(f"unassigned protocol codes {_NEVER_SENT}")),
    _rule(3000, 3999, Reconnect(STANDARD, "3000-3999 library/framework codes (IANA)")),
    _rule(
        4000, 4999, Reconnect(STANDARD, "4000-4999 private application codes (RFC 6455 §7.4.2)")
    ),
    _rule(5000, MAX_CLOSE_CODE, Fail(f"codes from 5000 on {_NEVER_SENT}")),
)

HANDSHAKE_STATUSES: tuple[Rule, ...] = (
    _rule(0, 99, Fail("not an HTTP status (RFC 9110 §15)")),
    _rule(100, 100, Fail("1xx other than 101 is not an upgrade (RFC 6455 §4.1)")),
    _rule(101, 101, Fail("101 with a broken upgrade: a protocol error (RFC 6455 §4.1)")),
    _rule(102, 299, Fail("not a WebSocket endpoint: no 101 upgrade (RFC 6455 §4.1)")),
    _rule(300, 399, Fail("redirects are not followed (RFC 6455 §4.1)")),
    _rule(400, 428, Fail("4xx client error: the same request fails again (RFC 9110)")),
    _rule(429, 429, HoldOff(STANDARD, "429 too many requests: hold off (RFC 6585 §4)")),
    _rule(430, 499, Fail("4xx client error: the same request fails again (RFC 9110)")),
    _rule(500, 599, Reconnect(STANDARD, "5xx server error: may pass (RFC 9110 §15.6)")),
    _rule(600, MAX_CLOSE_CODE, Fail("not an HTTP status (RFC 9110 §15)")),
)

# The kinds that carry a close code are decided by the close-code table; the
# code they stand for when a Disconnect was built without one.
_BY_CODE = {
    DisconnectKind.CLOSE: 1005,
    DisconnectKind.PROTOCOL: 1002,
    DisconnectKind.LOST: 1006,
    DisconnectKind.HEARTBEAT: 1006,
    DisconnectKind.STALE: 1006,
}

_TRANSIENT = "a network failure that may pass"
_RETRY_AFTER_SPREAD = 5.0  # a short Retry-After spreads a fleet over this many seconds
KINDS: dict[DisconnectKind, Decision] = {
    DisconnectKind.USER: Stop("the application closed the connection"),
    DisconnectKind.FORCED: Reconnect(IMMEDIATE, "the application asked to reconnect"),
    DisconnectKind.ROTATE: Reconnect(IMMEDIATE, "rotation: the next socket is ready"),
    DisconnectKind.DNS: Reconnect(STANDARD, f"name resolution failed: {_TRANSIENT}"),
    DisconnectKind.REFUSED: Reconnect(STANDARD, f"connection refused: {_TRANSIENT}"),
    DisconnectKind.RESET: Reconnect(STANDARD, f"connection reset: {_TRANSIENT}"),
    DisconnectKind.TIMEOUT: Reconnect(STANDARD, f"timed out: {_TRANSIENT}"),
    DisconnectKind.TLS: Fail("TLS certificate or handshake failure: retries cannot fix it"),
}


def _lookup(rules: Iterable[Rule], number: int) -> Decision:
    for rule in rules:
        if number in rule.codes:
            return rule.decision
    raise ValueError(f"no rule for {number}")  # the tables cover 0-65535


def _as_range(codes: int | range, what: str) -> range:
    if isinstance(codes, int) and not isinstance(codes, bool):
        codes = range(codes, codes + 1)
    if not isinstance(codes, range) or codes.step != 1 or not codes:
        raise ValueError(f"{what} must be an int or a non-empty range, got {codes!r}")
    if codes.start < 0 or codes.stop - 1 > MAX_CLOSE_CODE:
        raise ValueError(f"{what} must lie within 0-{MAX_CLOSE_CODE}, got {codes!r}")
    return codes


def _check_decision(decision: object) -> None:
    if not isinstance(decision, _DECISION_TYPES):
        raise TypeError(
            "decision must be Reconnect, Refresh, HoldOff, Fail or Stop, "
            f"got {type(decision).__name__}"
        )


class ReconnectPolicy:
    """Turns every way a connection ends into a decision.

    Build one with :meth:`default`, then adjust with
    :meth:`with_rule` (close codes) and :meth:`with_status_rule` (HTTP statuses
    of a rejected handshake). A close the application asked for always stops.

    A 429 or 503 handshake with a ``Retry-After`` header holds off that long:
    never earlier than asked, at most 20 % later (so a fleet does not return in
    the same second), and never longer than ``max_retry_after`` seconds. A
    short answer spreads over the first 5 s instead, so a repeated
    ``Retry-After: 0`` cannot make a tight loop.
    """

    __slots__ = ("_codes", "_statuses", "max_retry_after")

    def __init__(
        self,
        codes: tuple[Rule, ...] = CLOSE_CODES,
        statuses: tuple[Rule, ...] = HANDSHAKE_STATUSES,
        *,
        max_retry_after: float = 600.0,
    ) -> None:
        if not 0 < max_retry_after < float("inf"):
            raise ValueError(
                f"max_retry_after must be a finite number > 0, got {max_retry_after!r}"
            )
        self._codes = codes
        self._statuses = statuses
        self.max_retry_after = max_retry_after

    @classmethod
    def default(cls, *, max_retry_after: float = 600.0) -> ReconnectPolicy:
        """The decision table in the documentation (README, "The default
        decisions"): 1000 and 1001 reconnect, 1002 fails, 1012 restarts,
        1013 holds off, ..."""
        return cls(max_retry_after=max_retry_after)

    def with_rule(self, codes: int | range, decision: Decision) -> ReconnectPolicy:
        """A new policy deciding ``decision`` for the close code(s) ``codes``."""
        _check_decision(decision)
        rule = Rule(_as_range(codes, "codes"), decision)
        return ReconnectPolicy(
            (rule, *self._codes), self._statuses, max_retry_after=self.max_retry_after
        )

    def with_status_rule(self, statuses: int | range, decision: Decision) -> ReconnectPolicy:
        """A new policy deciding ``decision`` for a handshake rejected with ``statuses``.

        Raises:
            ValueError: ``statuses`` is not an HTTP status (100-599) or a
                range of them; ``with_status_rule(1012, ...)`` is a close
                code, meant for :meth:`with_rule`.
        """
        _check_decision(decision)
        codes = _as_range(statuses, "statuses")
        if codes.start < _LOWEST_STATUS or codes.stop - 1 > _HIGHEST_STATUS:
            hint = " (close codes go to with_rule)" if codes.start >= 1000 else ""
            raise ValueError(
                f"statuses must be HTTP statuses within {_LOWEST_STATUS}-{_HIGHEST_STATUS}"
                f"{hint}, got {statuses!r}"
            )
        rule = Rule(codes, decision)
        return ReconnectPolicy(
            self._codes, (rule, *self._statuses), max_retry_after=self.max_retry_after
        )

    def for_code(self, code: int) -> Decision:
        """The decision for a connection the server closed with ``code``."""
        return _lookup(self._codes, code)

    def for_status(self, status: int) -> Decision:
        """The decision for a handshake rejected with HTTP ``status``."""
        return _lookup(self._statuses, status)

    def decide(self, disconnect: Disconnect) -> Decision:
        """The decision for ``disconnect``."""
        kind = disconnect.kind
        if kind is DisconnectKind.HANDSHAKE:
            status = disconnect.status or 0
            decision = self.for_status(status)
            asked = disconnect.retry_after
            if (
                asked is not None
                and status in (429, 503)
                and isinstance(decision, Reconnect | HoldOff)
            ):
                return self._retry_after(status, asked)
            return decision
        if kind in _BY_CODE:
            code = disconnect.code
            return self.for_code(_BY_CODE[kind] if code is None else code)
        return KINDS[kind]

    def _retry_after(self, status: int, asked: float) -> HoldOff:
        low = min(asked, self.max_retry_after)
        high = min(max(asked * 1.2, _RETRY_AFTER_SPREAD), self.max_retry_after)
        reason = f"{status} with Retry-After {asked:g} s (RFC 9110 §10.2.3)"
        return HoldOff(Uniform(low, high), reason)

    def rows(self) -> Iterator[Rule]:
        """Every close-code rule, newest first (the ones :meth:`for_code` reads)."""
        return iter(self._codes)

    def __repr__(self) -> str:
        added = len(self._codes) - len(CLOSE_CODES) + len(self._statuses) - len(HANDSHAKE_STATUSES)
        return f"<ReconnectPolicy with {added} rule(s) over the defaults>"
