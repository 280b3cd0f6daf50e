"""Tier 1: the state machine as data."""

from __future__ import annotations

import itertools

import pytest

from wsclient import InvalidState, State
from wsclient.state import TERMINAL, TRANSITIONS, check_transition


def test_every_state_has_a_row() -> None:
    assert set(TRANSITIONS) == set(State)


def test_terminal_states_have_no_way_out() -> None:
    for state in TERMINAL:
        assert TRANSITIONS[state] == frozenset()


@pytest.mark.parametrize(("old", "new"), list(itertools.product(State, State)))
def test_only_listed_transitions_are_allowed(old: State, new: State) -> None:
    if new in TRANSITIONS[old]:
        check_transition(old, new)
    else:
        with pytest.raises(InvalidState, match=f"from {old} to {new}"):
            check_transition(old, new)


def test_every_non_terminal_state_can_reach_closed() -> None:
    for state in set(State) - TERMINAL:
        seen, todo = {state}, [state]
        while todo:
            for nxt in TRANSITIONS[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        assert State.CLOSED in seen, state
