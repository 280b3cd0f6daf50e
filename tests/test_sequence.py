"""Tier 1: the sequence rules, without an event loop: duplicates, gaps,
several streams interleaved, a stream that starts afresh, malformed keys."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import pytest

from wsclient import Gap, Resync
from wsclient.sequence import Sequencer


def judge_all(keys: list[Any]) -> tuple[list[Any], Sequencer]:
    sequencer = Sequencer()
    return [sequencer.judge(key) for key in keys], sequencer


def test_in_order_messages_are_yielded_and_the_position_follows() -> None:
    verdicts, seq = judge_all([("a", 1), ("a", 2), ("a", 3)])
    assert verdicts == [True, True, True]
    assert seq.positions == {"a": 3}
    assert (seq.duplicates, seq.gaps) == (0, 0)


def test_the_first_message_of_a_stream_sets_its_position_whatever_its_seq() -> None:
    verdicts, seq = judge_all([("a", 41), ("a", 42)])
    assert verdicts == [True, True]
    assert seq.positions == {"a": 42}


@pytest.mark.parametrize("repeat", [1, 2, 3])
def test_a_seq_not_above_the_last_yielded_is_a_duplicate(repeat: int) -> None:
    verdicts, seq = judge_all([("a", 1), ("a", 2), ("a", 3), ("a", repeat), ("a", 4)])
    assert verdicts == [True, True, True, False, True]
    assert seq.duplicates == 1
    assert seq.positions == {"a": 4}


def test_a_jump_is_a_gap_from_the_next_expected_and_the_position_moves_on() -> None:
    verdicts, seq = judge_all([("a", 1), ("a", 2), ("a", 7), ("a", 8)])
    assert verdicts == [True, True, Gap("a", 3, 7), True]
    assert seq.gaps == 1
    assert seq.positions == {"a": 8}


def test_after_a_gap_a_late_message_from_inside_it_is_a_duplicate() -> None:
    # What was skipped is not waited for: once announced, the gap is the
    # application's to repair (a snapshot), and the late copy is dropped.
    verdicts, _seq = judge_all([("a", 1), ("a", 5), ("a", 3)])
    assert verdicts == [True, Gap("a", 2, 5), False]


def test_streams_interleaved_are_judged_each_on_its_own() -> None:
    keys = [("a", 1), ("b", 10), ("a", 2), ("b", 10), ("b", 11), ("a", 4), ("b", 12), ("a", 2)]
    verdicts, seq = judge_all(keys)
    assert verdicts == [True, True, True, False, True, Gap("a", 3, 4), True, False]
    assert seq.positions == {"a": 4, "b": 12}
    assert (seq.duplicates, seq.gaps) == (2, 1)


@pytest.mark.parametrize("stream", ["BTC-USD", ("book", "ETH"), 7, None])
def test_any_hashable_names_a_stream(stream: Hashable) -> None:
    verdicts, _seq = judge_all([(stream, 1), (stream, 1), (stream, 3)])
    assert verdicts == [True, False, Gap(stream, 2, 3)]


def test_unsequenced_messages_are_yielded_and_touch_no_position() -> None:
    verdicts, seq = judge_all([("a", 1), None, None, ("a", 2)])
    assert verdicts == [True, True, True, True]
    assert seq.positions == {"a": 2}


@pytest.mark.parametrize("seq_after", [1, 5, 100])
def test_a_resync_starts_the_stream_afresh_neither_duplicate_nor_gap(seq_after: int) -> None:
    # A server that restarted numbers from 1 again; a snapshot jumps ahead.
    keys = [("a", 50), ("a", 51), Resync("a", seq_after), ("a", seq_after + 1), ("a", seq_after)]
    verdicts, seq = judge_all(keys)
    assert verdicts == [True, True, True, True, False]
    assert seq.positions == {"a": seq_after + 1}
    assert (seq.duplicates, seq.gaps) == (1, 0)


def test_a_resync_of_one_stream_leaves_the_others_alone() -> None:
    verdicts, seq = judge_all([("a", 5), ("b", 5), Resync("a", 1), ("b", 5), ("a", 2)])
    assert verdicts == [True, True, True, False, True]
    assert seq.positions == {"a": 2, "b": 5}


def test_a_resync_unpacks_like_a_key() -> None:
    stream, seq = Resync("a", 3)
    assert (stream, seq) == ("a", 3)


@pytest.mark.parametrize(
    ("key", "named"),
    [
        ("abc", "str"),
        (("a",), "tuple"),
        (("a", 1, 2), "tuple"),
        (("a", "1"), "seq of type str"),
        (("a", 1.0), "seq of type float"),
        (("a", True), "seq of type bool"),
        (7, "int"),
    ],
)
def test_a_malformed_key_is_a_type_error_naming_what_came(key: Any, named: str) -> None:
    with pytest.raises(TypeError, match=rf"returned a {named}: expected \(stream, seq\)"):
        Sequencer().judge(key)
