"""The state machine: the table as data, and the connection living by it."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

import wsclient
from wsclient import InvalidState, State
from wsclient.state import TERMINAL, TRANSITIONS, check_transition
from wsclient.testing import Close, Send
from wsclient.testing.plugin import StartServer

_S = State
# The life cycle written out independently of state.py, each way with what takes it.
EXPECTED = {
    (_S.IDLE, _S.CONNECTING),  # `async with` opens
    (_S.IDLE, _S.CLOSED),  # closed before it ever started
    (_S.CONNECTING, _S.CONNECTED),  # the handshake succeeded
    (_S.CONNECTING, _S.WAITING),  # the attempt failed; a wait before the next
    (_S.CONNECTING, _S.CLOSED),  # close() during the handshake, or a Stop
    (_S.CONNECTING, _S.FAILED),  # a Fail decision (401, TLS), or retries exhausted
    (_S.CONNECTED, _S.WAITING),  # the socket ended; reconnecting
    (_S.CONNECTED, _S.CLOSING),  # close(): the closing handshake
    (_S.CONNECTED, _S.CLOSED),  # the server ended it with a Stop decision
    (_S.CONNECTED, _S.FAILED),  # a Fail decision (1008, a protocol error)
    (_S.WAITING, _S.CONNECTING),  # the wait is over
    (_S.WAITING, _S.CLOSED),  # close() during the wait
    (_S.WAITING, _S.FAILED),  # the user's stop gave up
    (_S.CLOSING, _S.CLOSED),  # the closing handshake ended
    (_S.CLOSING, _S.FAILED),  # the socket failed on the way out
}


@pytest.mark.parametrize(("old", "new"), list(itertools.product(State, State)))
def test_exactly_the_documented_transitions_are_allowed(old: State, new: State) -> None:
    if (old, new) in EXPECTED:
        check_transition(old, new)
    else:
        with pytest.raises(InvalidState, match=f"cannot go from {old} to {new}"):
            check_transition(old, new)


def test_the_table_has_a_row_for_every_state_and_closed_and_failed_are_terminal() -> None:
    assert set(TRANSITIONS) == set(State)
    assert {State.CLOSED, State.FAILED} == TERMINAL


async def test_a_connection_the_server_ended_refuses_sends(
    fault_server: StartServer, options: dict[str, Any]
) -> None:
    """A Stop decision ends it (CLOSED, terminal): a send is an error, not a
    message queued for a socket that never comes."""
    server = await fault_server([[Send("a"), Close(1000)]])
    async with wsclient.connect(server.url, **options) as conn:
        assert [m.data async for m in conn] == ["a"]
        assert conn.state is State.CLOSED
        with pytest.raises(InvalidState):
            await conn.send_str("late")
        assert conn.unsent == []


async def test_a_connection_that_failed_refuses_sends(
    fault_server: StartServer, options: dict[str, Any]
) -> None:
    server = await fault_server([[Close(1008, "policy")]])
    async with wsclient.connect(server.url, **options) as conn:
        with pytest.raises(wsclient.FatalClose):
            await conn.receive()
        assert conn.state is State.FAILED
        with pytest.raises(InvalidState):
            await conn.send_str("late")


async def test_a_transition_the_table_refuses_is_an_error_not_a_hang(
    fault_server: StartServer, options: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should the table ever lack a way the connection takes, the consumer gets
    the InvalidState (and the connection ends), instead of waiting for ever."""
    broken = dict(TRANSITIONS)
    broken[State.CONNECTED] = TRANSITIONS[State.CONNECTED] - {State.FAILED}
    monkeypatch.setattr("wsclient.state.TRANSITIONS", broken)
    server = await fault_server([[Close(1008, "policy")]])
    async with wsclient.connect(server.url, **options) as conn:
        with pytest.raises(InvalidState, match="cannot go from connected to failed"):
            await conn.receive()
    assert conn.state in TERMINAL
