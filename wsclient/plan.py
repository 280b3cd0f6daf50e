"""The connection's own rules, apart from I/O: facts in, one value out.

Pure: no I/O, no clock, no event loop. The supervisor gathers the facts
(what ended the socket, what the application asked for, where the failover
round stands, when data last flowed) and acts on what these functions say:

- :func:`decide`: the policy's decision, overridden by what only the
  connection knows (a user close stops, an on_connect error fails, fresh
  credentials are tried once per streak);
- :func:`fail_over`: which endpoint comes next, and which wait of a
  failover round is waited;
- :func:`stable`: whether a connection stayed up long enough for the
  backoff curves to start over;
- :func:`state_after`: the state a decision leads to.
"""

from __future__ import annotations

from dataclasses import dataclass

from tenacity.wait import wait_base

from .backoff import Doubling, Uniform, WaitStrategy
from .disconnect import SERVICE_RESTART, Disconnect, DisconnectKind
from .policy import Decision, Fail, HoldOff, Reconnect, ReconnectPolicy, Refresh, Stop
from .state import State

__all__ = ["Round", "Waiting", "decide", "fail_over", "least_wait", "stable", "state_after"]

Waiting = Reconnect | Refresh | HoldOff
"""A decision that waits, then tries again."""


def decide(
    policy: ReconnectPolicy,
    disconnect: Disconnect,
    *,
    closing: bool,
    hook_failed: bool,
    refreshed: bool,
) -> Decision:
    """What to do about ``disconnect``.

    Args:
        closing: The application asked to close: nothing else matters.
        hook_failed: ``on_connect`` raised on this socket: the same code would
            raise again on the next one.
        refreshed: A Refresh was already used in this streak: fresh
            credentials were refused too, so a second Refresh fails.
    """
    if closing:
        return Stop("the application closed the connection")
    if hook_failed:
        return Fail("on_connect raised")
    decision = policy.decide(disconnect)
    if isinstance(decision, Refresh) and refreshed:
        return Fail(f"refused again after fresh credentials: {decision.reason}")
    return decision


def state_after(decision: Decision) -> State:
    """The state a decision leads to."""
    if isinstance(decision, Stop):
        return State.CLOSED
    if isinstance(decision, Fail):
        return State.FAILED
    return State.WAITING


def least_wait(wait: WaitStrategy | wait_base) -> float:
    """The shortest delay ``wait`` can give: its lower bound where it has one
    (a Retry-After's hold-off is ``Uniform(asked, ...)``), else 0."""
    if isinstance(wait, Uniform | Doubling):
        return wait.low
    return 0.0


@dataclass(frozen=True, slots=True)
class Round:
    """Where a connection stands in its failover round over its endpoints.

    Attributes:
        current: The endpoint of the next attempt (an index).
        tried: Endpoints tried since the last successful handshake.
        held: The decision with the longest wait met in this round.
    """

    current: int = 0
    tried: int = 1
    held: Waiting | None = None

    def connected(self) -> Round:
        """The round after a successful handshake: it starts over here."""
        return Round(self.current)


def _moves_on(decision: Waiting, disconnect: Disconnect, *, connected: bool) -> bool:
    """Whether another endpoint should be tried at once."""
    if isinstance(decision, HoldOff):  # 1013, 429: another endpoint may have room
        return True
    if not isinstance(decision, Reconnect):  # Refresh: fresh credentials, same place
        return False
    # Could not connect at all, or the endpoint is restarting (uvicorn sends
    # 1012 on every graceful shutdown): a replica may be up meanwhile.
    return not connected or disconnect.code == SERVICE_RESTART


def _longer(held: Waiting | None, decision: Waiting) -> Waiting:
    """The decision with the longer least wait; a hold-off wins a tie (it is
    what ``resume()`` can cut short), the earlier one any other tie."""
    if held is None:
        return decision
    mine = (least_wait(decision.wait), isinstance(decision, HoldOff))
    theirs = (least_wait(held.wait), isinstance(held, HoldOff))
    return decision if mine > theirs else held


def fail_over(
    round_: Round,
    endpoints: int,
    decision: Waiting,
    disconnect: Disconnect,
    *,
    connected: bool,
) -> tuple[Round, Waiting, bool]:
    """The next endpoint after a failure, and how to get there.

    A failure that says "try elsewhere" (no connection, a hold-off, a 1012
    restart) moves to the next endpoint at once, until every endpoint was
    tried in this round; then the round ends with the longest wait any of
    its failures asked for, so a ``Retry-After`` is never honoured early and
    a restarting endpoint is not tried again before its 5-30 s.

    Args:
        round_: The round so far.
        endpoints: How many endpoints there are.
        decision: What the policy decided about this failure.
        disconnect: The failure.
        connected: The failure ended an open connection (not an attempt).

    Returns:
        The round from now on, the decision to wait on, and whether to try
        the next endpoint at once (without waiting).
    """
    if endpoints == 1 or not _moves_on(decision, disconnect, connected=connected):
        return round_, decision, False
    held = _longer(round_.held, decision)
    following = (round_.current + 1) % endpoints
    if round_.tried < endpoints:
        return Round(following, round_.tried + 1, held), decision, True
    return Round(following), held, False


def stable(
    disconnect: Disconnect,
    *,
    opened_at: float,
    read_at: float,
    data_at: float | None,
    now: float,
    stable_after: float,
) -> bool:
    """Whether a connection stayed up ``stable_after`` seconds, so that the
    attempt count and every backoff curve start over.

    One the heartbeat ended was up only while it read anything (``read_at``);
    one the stale watchdog ended, only while data flowed (``data_at``: pongs
    do not count there), so a server that accepts and then goes silent
    cannot reset the backoff.
    """
    if disconnect.kind is DisconnectKind.HEARTBEAT:
        until = read_at
    elif disconnect.kind is DisconnectKind.STALE and data_at is not None:
        until = data_at
    else:
        until = now
    return until - opened_at >= stable_after
