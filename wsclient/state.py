"""A connection's states and the transitions allowed between them, as data.

Pure: no I/O. ``Connection._set_state`` checks every change against
:data:`TRANSITIONS`; a change not listed raises ``InvalidState`` and leaves
the state as it was.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from .errors import InvalidState

__all__ = ["TERMINAL", "TRANSITIONS", "State", "check_transition"]


class State(enum.StrEnum):
    """Where a connection is in its life."""

    IDLE = "idle"
    """Created; nothing started yet."""
    CONNECTING = "connecting"
    """An opening handshake is under way."""
    CONNECTED = "connected"
    """The handshake succeeded; messages flow."""
    WAITING = "waiting"
    """Backing off or holding off before the next attempt."""
    CLOSING = "closing"
    """The application asked to close; the closing handshake is under way."""
    CLOSED = "closed"
    """Ended cleanly: a Stop decision or ``close()``."""
    FAILED = "failed"
    """Ended by a Fail decision or by exhausted retries."""


_S = State
TRANSITIONS: Mapping[State, frozenset[State]] = {
    _S.IDLE: frozenset({_S.CONNECTING, _S.CLOSED}),
    # No CONNECTING -> CLOSING: close() during a handshake has no socket to
    # close yet; the attempt sees ``closing`` and ends in CLOSED.
    _S.CONNECTING: frozenset({_S.CONNECTED, _S.WAITING, _S.CLOSED, _S.FAILED}),
    _S.CONNECTED: frozenset({_S.WAITING, _S.CLOSING, _S.CLOSED, _S.FAILED}),
    _S.WAITING: frozenset({_S.CONNECTING, _S.CLOSED, _S.FAILED}),
    _S.CLOSING: frozenset({_S.CLOSED, _S.FAILED}),
    _S.CLOSED: frozenset(),
    _S.FAILED: frozenset(),
}

TERMINAL = frozenset({_S.CLOSED, _S.FAILED})


def check_transition(old: State, new: State) -> None:
    """Raise ``InvalidState`` unless ``old -> new`` is an allowed transition."""
    if new not in TRANSITIONS[old]:
        raise InvalidState(f"cannot go from {old} to {new}")
