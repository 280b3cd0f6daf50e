"""Tier 1: the merge of redundant legs (``wsclient.merge``), without a loop:
first copy wins, a hole waits for another leg, and is declared once every
running leg has passed it or its window ran out."""

from __future__ import annotations

from typing import Any

import pytest

from wsclient import Gap, Resync
from wsclient.merge import Merge

BOTH = (0, 1)


def offer(merge: Merge, leg: int, seq: int, now: float = 0.0, running: Any = BOTH) -> list[Any]:
    """Offer message ``seq`` of stream "s" from ``leg``; what became ready."""
    merge.offer(leg, ("s", seq), f"{leg}:{seq}", now, running)
    return take(merge)


def take(merge: Merge) -> list[Any]:
    ready = list(merge.ready)
    merge.ready.clear()
    return ready


def test_the_first_copy_of_each_message_wins_and_later_copies_are_counted() -> None:
    merge = Merge(2, window=1.0, limit=1000)
    assert offer(merge, 0, 1) == []  # a stream starts once every running leg delivered on it
    assert offer(merge, 1, 1) == ["0:1"]
    assert offer(merge, 1, 2) == ["1:2"]
    assert offer(merge, 0, 2) == []
    assert (merge.duplicates, merge.gaps, merge.positions) == (2, 0, {"s": 2})


def test_a_stream_starts_at_the_earliest_copy_not_at_the_first_polled() -> None:
    # Leg 0 lost 1-5 (or joined late) and its backlog is offered first.
    merge = Merge(2, window=1.0, limit=1000)
    for seq in range(6, 9):
        assert offer(merge, 0, seq) == []
    assert offer(merge, 1, 1) == ["1:1"]
    assert [*offer(merge, 1, 2), *offer(merge, 1, 3), *offer(merge, 1, 4)] == ["1:2", "1:3", "1:4"]
    assert offer(merge, 1, 5) == ["1:5", "0:6", "0:7", "0:8"]
    assert (merge.duplicates, merge.gaps) == (0, 0)


def test_a_stream_only_one_leg_delivers_on_starts_after_the_window() -> None:
    merge = Merge(2, window=1.0, limit=1000)
    assert offer(merge, 0, 4, now=10.0) == []
    assert merge.deadline() == pytest.approx(11.0)
    merge.expire(11.0, BOTH)
    assert take(merge) == ["0:4"]  # no Gap: nothing was yielded before it


def test_a_hole_on_one_leg_is_filled_by_the_other_without_a_gap() -> None:
    merge = Merge(2, window=1.0, limit=1000)
    offer(merge, 0, 1)
    offer(merge, 1, 1)
    assert offer(merge, 0, 3, now=0.1) == []  # leg 0 lost 2: 3 waits
    assert merge.deadline() == pytest.approx(1.1)
    assert offer(merge, 1, 2, now=0.2) == ["1:2", "0:3"]
    assert offer(merge, 1, 3, now=0.2) == []  # (a copy of the held one)
    assert (merge.gaps, merge.duplicates, merge.deadline()) == (0, 2, None)


def test_a_hole_every_running_leg_passed_is_a_gap_at_once() -> None:
    merge = Merge(2, window=1.0, limit=1000)
    offer(merge, 0, 1)
    offer(merge, 1, 1)
    assert offer(merge, 0, 4) == []
    assert offer(merge, 1, 4) == [Gap("s", 2, 4), "0:4"]  # neither had 2-3: no wait
    assert merge.gaps == 1


def test_a_leg_that_has_ended_is_not_waited_for() -> None:
    merge = Merge(2, window=1.0, limit=1000)
    assert offer(merge, 0, 1, running=(0,)) == ["0:1"]
    assert offer(merge, 0, 3, running=(0,)) == [Gap("s", 2, 3), "0:3"]


def test_a_hole_is_declared_once_limit_messages_wait_behind_it() -> None:
    merge = Merge(2, window=60.0, limit=3)  # (leg 1, which may have 2, is far behind)
    offer(merge, 0, 1)
    offer(merge, 1, 1)
    assert [*offer(merge, 0, 3), *offer(merge, 0, 4)] == []
    assert offer(merge, 0, 5) == [Gap("s", 2, 3), "0:3", "0:4", "0:5"]


def test_holding_many_costs_log_time_per_message() -> None:
    # One lost message while the other leg reconnects: everything after it
    # waits. 200,000 offers must not rescan what is held (quadratic: minutes).
    merge = Merge(2, window=1e9, limit=10**6)
    offer(merge, 0, 1)
    offer(merge, 1, 1)
    for seq in range(3, 200_003):
        merge.offer(0, ("s", seq), seq, seq * 1e-6, BOTH)
    assert not merge.ready
    merge.offer(1, ("s", 2), 2, 1.0, BOTH)
    assert len(merge.ready) == 200_001


def test_a_hole_waits_at_most_the_window_for_a_leg_that_is_behind() -> None:
    merge = Merge(2, window=1.0, limit=1000)
    offer(merge, 0, 1)
    offer(merge, 1, 1)
    offer(merge, 0, 3, now=5.0)
    offer(merge, 0, 4, now=5.5)
    merge.expire(5.9, BOTH)
    assert take(merge) == []  # leg 1 (at 1) may still deliver 2
    merge.expire(6.0, BOTH)
    assert take(merge) == [Gap("s", 2, 3), "0:3", "0:4"]
    assert offer(merge, 1, 2, now=6.1) == []  # too late: the stream has moved on
    assert merge.duplicates == 2  # (leg 1's copy of 1, and 2)


def test_the_next_hole_waits_from_when_it_was_found() -> None:
    merge = Merge(2, window=1.0, limit=1000)
    offer(merge, 0, 1)
    offer(merge, 0, 3, now=1.0)
    offer(merge, 0, 5, now=1.5)  # holes 2 and 4
    merge.expire(2.0, BOTH)
    assert take(merge) == [Gap("s", 2, 3), "0:3"]
    assert merge.deadline() == pytest.approx(2.5)
    merge.expire(2.5, BOTH)
    assert take(merge) == [Gap("s", 4, 5), "0:5"]


def test_a_new_socket_forgets_what_its_leg_delivered() -> None:
    # Leg 1 had passed seq 3 before it reconnected; after restart() it has
    # delivered nothing yet, so a hole at 2 waits for it (it may resume).
    merge = Merge(2, window=1.0, limit=1000)
    offer(merge, 0, 1)
    offer(merge, 1, 1)
    offer(merge, 1, 2)
    offer(merge, 1, 5)
    merge.restart(1)
    assert offer(merge, 0, 5) == []
    merge.expire(0.5, BOTH)
    assert take(merge) == []
    assert offer(merge, 1, 3) == ["1:3"]  # the resumed leg fills the hole


def test_a_resync_behind_the_position_is_a_copy_and_one_ahead_jumps_without_a_gap() -> None:
    merge = Merge(2, window=1.0, limit=1000)
    merge.offer(0, Resync("s", 100), "0:snap100", 0.0, BOTH)
    merge.offer(0, ("s", 101), "0:101", 0.0, BOTH)
    merge.offer(0, ("s", 102), "0:102", 0.0, BOTH)
    merge.offer(1, Resync("s", 101), "1:snap101", 0.0, BOTH)  # a late leg's snapshot
    assert take(merge) == ["0:snap100", "0:101", "0:102"]
    assert offer(merge, 0, 105) == []  # held: a hole at 103-104
    merge.offer(1, Resync("s", 104), "1:snap104", 0.0, BOTH)
    assert take(merge) == ["1:snap104", "0:105"]
    assert (merge.gaps, merge.duplicates, merge.positions["s"]) == (0, 1, 105)


def test_streams_are_merged_apart_and_unsequenced_messages_pass() -> None:
    merge = Merge(2, window=1.0, limit=1000)
    one = (0,)  # (one running leg: streams start at once)
    merge.offer(0, ("a", 1), "a1", 0.0, one)
    merge.offer(0, ("a", 3), "a3", 0.0, BOTH)  # a waits for a2
    merge.offer(0, ("b", 7), "b7", 0.0, one)
    merge.offer(1, None, "ack", 0.0, BOTH)
    merge.offer(0, None, "ack", 0.0, BOTH)  # every leg's copy: nothing to tell them apart by
    assert take(merge) == ["a1", "b7", "ack", "ack"]


def test_a_malformed_key_is_a_type_error_that_says_so() -> None:
    merge = Merge(2, window=1.0, limit=1000)
    with pytest.raises(TypeError, match="seq of type str"):
        merge.offer(0, ("s", "1"), "x", 0.0, BOTH)  # type: ignore[arg-type]


def test_a_resync_at_the_position_is_a_copy() -> None:
    merge = Merge(1, window=1.0, limit=1000)
    merge.offer(0, Resync("s", 100), "snap", 0.0, (0,))
    merge.offer(0, Resync("s", 100), "snap again", 0.0, (0,))
    assert (take(merge), merge.duplicates) == (["snap"], 1)


def test_a_resync_past_held_messages_drops_them_and_releases_the_rest() -> None:
    merge = Merge(2, window=1.0, limit=1000)
    offer(merge, 0, 100)
    offer(merge, 1, 100)
    held = [*offer(merge, 0, 103), *offer(merge, 0, 105), *offer(merge, 0, 106)]
    assert held == []  # holes at 101-102 and 104
    merge.offer(1, Resync("s", 105), "1:snap105", 0.0, BOTH)
    assert take(merge) == ["1:snap105", "0:106"]
    assert (merge.duplicates, merge.gaps, merge.deadline()) == (3, 0, None)  # (100, 103, 105)


def test_the_deadline_is_the_oldest_holes() -> None:
    merge = Merge(2, window=1.0, limit=1000)
    for stream, at in (("a", 5.0), ("b", 2.0)):
        merge.offer(0, (stream, 1), "x", 0.0, BOTH)
        merge.offer(1, (stream, 1), "x", 0.0, BOTH)
        merge.offer(0, (stream, 3), "y", at, BOTH)
    assert merge.deadline() == pytest.approx(3.0)
