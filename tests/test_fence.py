"""Tier 1: the fence's rules, without an event loop: a pong confirms what was
written before its ping, and nothing else does."""

from __future__ import annotations

from wsclient.fence import Fence


def test_a_pong_confirms_what_was_written_before_its_ping() -> None:
    fence = Fence(limit=10)
    fence.wrote(("a", 1))
    fence.wrote(("b", 1))
    marker = fence.marker()
    fence.wrote(("c", 1), strikes=1)
    fence.ponged(marker)
    assert fence.unconfirmed() == [(("c", 1), 1)]


def test_a_pong_nobody_asked_for_confirms_nothing() -> None:
    fence = Fence(limit=10)
    fence.wrote(("a", 1))
    for payload in (b"", b"5", b"hello", b"wsclient:x", b"wsclient:"):
        fence.ponged(payload)
    assert len(fence) == 1


def test_an_older_pong_after_a_newer_one_changes_nothing() -> None:
    fence = Fence(limit=10)
    fence.wrote(("a", 1))
    first = fence.marker()
    fence.wrote(("b", 1))
    fence.ponged(fence.marker())
    fence.ponged(first)
    assert fence.unconfirmed() == []


def test_beyond_its_limit_the_oldest_are_dropped_and_counted() -> None:
    fence = Fence(limit=2)
    for data in "abcd":
        fence.wrote((data, 1))
    assert [m for (m, _), _ in fence.unconfirmed()] == ["c", "d"]
    assert fence.dropped == 2


def test_a_pong_to_someone_elses_ping_confirms_nothing_even_if_it_ends_in_digits() -> None:
    fence = Fence(limit=10)
    fence.wrote(("a", 1))
    fence.ponged(b"liveness:7")  # as long as our prefix, and a number after it
    assert fence.unconfirmed() == [(("a", 1), 0)]  # a first send: no strikes


def test_a_fresh_fence_has_not_pinged() -> None:
    """The link pings to confirm when the last such ping is old enough: a
    fresh socket's first one is due at once, none is scheduled yet."""
    fence = Fence(limit=10)
    assert (fence.pinged_at, fence.timer, len(fence), fence.dropped) == (float("-inf"), None, 0, 0)
