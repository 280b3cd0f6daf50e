"""Tier 3: redundant legs (``redundancy=N``) against a feed served by real
replica servers on 127.0.0.1, on virtual time: a leg's 1012 restart costs the
merged stream nothing, a tick one leg lost is taken from the other, what
neither leg saw is one Gap, and on_connect, subscriptions and sends go where
the docs say."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import WSMessage

import wsclient
from wsclient import Connected, Disconnected, Gap, State
from wsclient.redundant import Redundant
from wsclient.testing import FakeClock
from wsclient.testing.feed import TickFeed

from .conftest import Events
from .test_metrics import Metrics


def key(msg: WSMessage) -> tuple[str, int]:
    return "ticks", json.loads(msg.data)["seq"]


async def merged(conn: wsclient.Connection, until: int) -> list[int | Gap]:
    """The merged stream's seqs (and Gap markers) up to tick ``until``."""
    seen: list[int | Gap] = []
    async for item in conn.stream():
        if isinstance(item, Gap):
            seen.append(item)
            continue
        assert not isinstance(item, wsclient.Reconnected)
        seen.append(key(item)[1])
        if seen[-1] == until:
            break
    return seen


def contiguous(seqs: list[int | Gap]) -> bool:
    ints = [s for s in seqs if isinstance(s, int)]
    return ints == list(range(ints[0], ints[-1] + 1))


async def test_a_1012_restart_of_one_leg_costs_the_merged_stream_nothing(
    options: dict[str, Any], events: Events, clock: FakeClock
) -> None:
    async with TickFeed(2, interval=0.1, count=100, clock=clock) as feed:
        conn = wsclient.connect(feed.urls, **options, redundancy=2, sequence=key)
        async with conn:
            seen: list[int | Gap] = []
            times: list[float] = []
            async for item in conn.stream():
                assert isinstance(item, WSMessage)
                seen.append(key(item)[1])
                times.append(clock.now())
                if seen[-1] == 30:
                    await feed.replicas[0].restart(1012, down=5.0)
                if seen[-1] == 100:
                    break
            legs = [(leg.state, leg.stats.connects) for leg in conn.legs]
            stats = conn.stats
    assert contiguous(seen)
    assert seen[0] == 1
    # No added wait: every tick is yielded within its interval of the one before.
    assert max(b - a for a, b in itertools.pairwise(times)) == pytest.approx(0.1)
    assert legs == [(State.CONNECTED, 2), (State.CONNECTED, 1)]
    assert stats.gaps == 0
    assert stats.duplicates == stats.messages_in - len(seen)
    [drop] = [e for e in events if isinstance(e, Disconnected) and e.code == 1012]
    assert drop.leg == 1  # events name the leg
    assert sorted(e.leg or 0 for e in events if isinstance(e, Connected)) == [1, 1, 2]


async def test_a_single_connection_loses_the_restart_window_for_comparison(
    options: dict[str, Any], clock: FakeClock
) -> None:
    # The same restart against one connection: the 5-30 s wait is a hole.
    seen: list[int] = []
    async with (
        TickFeed(1, interval=0.1, count=400, clock=clock) as feed,
        wsclient.connect(feed.urls, **options, sequence=key) as conn,
    ):
        async for msg in conn:
            seen.append(key(msg)[1])
            if seen[-1] == 30:
                await feed.replicas[0].restart(1012, down=2.0)
            if seen[-1] >= 60:
                break
    assert seen[seen.index(30) + 1] - 30 >= 50  # 5 s and more of ticks missing


async def test_what_neither_leg_saw_is_one_gap_and_the_stream_runs_on(
    options: dict[str, Any], events: Events, clock: FakeClock
) -> None:
    async with TickFeed(2, interval=0.1, count=600, clock=clock) as feed:
        conn = wsclient.connect(feed.urls, **options, redundancy=2, sequence=key)
        async with conn:
            seen: list[int | Gap] = []
            async for item in conn.stream():
                assert not isinstance(item, wsclient.Reconnected)
                seen.append(item if isinstance(item, Gap) else key(item)[1])
                if seen[-1] == 20:
                    for replica in feed.replicas:
                        replica.drop()
                if len(seen) > 2 and isinstance(seen[-2], Gap):
                    break
    [gap] = [s for s in seen if isinstance(s, Gap)]
    assert seen[seen.index(gap) - 1] == 20
    assert (gap.stream, gap.expected, gap.received) == ("ticks", 21, seen[-1])
    assert conn.stats.gaps == 1
    assert [e for e in events if isinstance(e, Gap)] == [gap]  # its event names no leg


@pytest.mark.parametrize("lag", [0.0, 0.005])
async def test_a_tick_one_leg_lost_is_taken_from_the_other(
    options: dict[str, Any], clock: FakeClock, lag: float
) -> None:
    async with TickFeed(2, interval=0.1, count=40, clock=clock) as feed:
        feed.replicas[0].lose = {10, 11, 25}
        feed.replicas[1].lose = {30}
        feed.replicas[1].lag = lag  # the leg that has them is 5 ms behind
        async with wsclient.connect(feed.urls, **options, redundancy=2, sequence=key) as conn:
            seen = await merged(conn, 40)
            assert not [s for s in seen if isinstance(s, Gap)]
            assert contiguous(seen)
            assert conn.stats.gaps == 0


async def test_a_hole_both_legs_passed_is_announced_without_waiting(
    options: dict[str, Any], clock: FakeClock
) -> None:
    async with TickFeed(2, interval=0.1, count=40, clock=clock) as feed:
        for replica in feed.replicas:
            replica.lose = {20}
        conn = wsclient.connect(feed.urls, **options, redundancy=2, sequence=key, gap_timeout=30)
        async with conn:
            seen: list[int | Gap] = []
            async for item in conn.stream():
                assert not isinstance(item, wsclient.Reconnected)
                seen.append(item if isinstance(item, Gap) else key(item)[1])
                if seen[-1] == 21:
                    break
            assert seen[-3:] == [19, Gap("ticks", 20, 21), 21]
            assert clock.now() < 2.3  # tick 21 came at 2.1 s, not after gap_timeout


async def test_on_connect_runs_on_every_leg_with_its_own_socket(
    options: dict[str, Any], clock: FakeClock
) -> None:
    ran: list[tuple[str, dict[Any, int]]] = []

    async def on_connect(conn: wsclient.Connection) -> None:
        msg = await conn.receive()  # the leg's own socket's first tick
        ran.append((conn.url, dict(conn.position)))
        await conn.send_str(json.dumps({"resume_after": key(msg)[1]}))

    async with TickFeed(2, interval=0.1, count=80, clock=clock) as feed:
        conn = wsclient.connect(
            feed.urls, **options, redundancy=2, sequence=key, on_connect=on_connect
        )
        async with conn:
            assert isinstance(conn, Redundant)
            seen = await merged(conn, 20)
            await feed.replicas[1].restart(1012)
            seen += await merged(conn, 60)
    # Each leg's on_connect got the merged connection; the second run of leg
    # 2's resumed from the merged position.
    assert len(ran) == 3
    assert ran[2][1]["ticks"] >= 20
    assert contiguous(seen)


async def test_subscriptions_go_to_every_leg_and_other_sends_to_one(
    options: dict[str, Any], clock: FakeClock
) -> None:
    async with TickFeed(2, interval=0.1, count=30, clock=clock) as feed:
        conn = wsclient.connect(feed.urls, **options, redundancy=2, sequence=key)
        async with conn:
            await merged(conn, 3)
            await conn.subscribe("btc", "sub btc", unsubscribe="unsub btc")
            await conn.send_str("order 1")
            assert conn.subscriptions == ["btc"]
            await conn.unsubscribe("btc")
            await merged(conn, 6)
    assert [replica.received for replica in feed.replicas] == [
        ["sub btc", "order 1", "unsub btc"],
        ["sub btc", "unsub btc"],
    ]


async def test_the_merged_stream_ends_when_every_leg_has_ended(
    options: dict[str, Any], clock: FakeClock
) -> None:
    policy = wsclient.ReconnectPolicy.default().with_rule(4004, wsclient.Fail())
    async with TickFeed(2, interval=0.1, count=50, clock=clock) as feed:
        conn = wsclient.connect(
            [feed.urls[0]], **{**options, "policy": policy}, redundancy=2, sequence=key
        )
        async with conn:
            seen = await merged(conn, 10)
            await feed.replicas[0].restart(4004)  # both legs are on replica 0
            with pytest.raises(wsclient.FatalClose) as caught:
                async for _ in conn:
                    pass
    assert caught.value.code == 4004
    assert conn.state is State.FAILED
    assert [leg.state for leg in conn.legs] == [State.FAILED, State.FAILED]
    assert contiguous(seen)


def test_redundancy_needs_a_sequence_key_and_a_count_of_at_least_one() -> None:
    with pytest.raises(ValueError, match="redundancy needs a sequence key"):
        wsclient.connect("ws://127.0.0.1:9/", redundancy=2)
    with pytest.raises(ValueError, match="redundancy must be >= 1"):
        wsclient.connect("ws://127.0.0.1:9/", redundancy=0, sequence=key)
    with pytest.raises(ValueError, match="gap_timeout"):
        wsclient.connect("ws://127.0.0.1:9/", redundancy=2, sequence=key, gap_timeout=-1)


def test_every_public_member_of_a_connection_is_redundant_aware() -> None:
    # Redundant skips Connection.__init__: an inherited member that used the
    # parts would fail. Only those that call overridden members may be inherited.
    calls_overridden = {
        "__aenter__",
        "__aexit__",
        "__anext__",
        "iter_json",
        "receive_json",
        "send_bytes",
        "send_json",
        "send_str",
    }
    public = {
        name
        for name in vars(wsclient.Connection)
        if not name.startswith("_")
        or name in {"__aiter__", "__aenter__", "__aexit__", "__anext__", "__repr__"}
    }
    inherited = {name for name in public if name not in vars(Redundant)}
    assert inherited == calls_overridden


async def test_metrics_and_logs_name_each_leg_and_the_merge_counts_its_copies(
    options: dict[str, Any], clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = Metrics()
    caplog.set_level(logging.INFO, logger="wsclient")
    async with TickFeed(2, interval=0.1, count=60, clock=clock) as feed:
        conn = wsclient.connect(
            feed.urls, **options, redundancy=2, sequence=key, name="feed", metrics=metrics.provider
        )
        async with conn:
            await merged(conn, 20)
            await feed.replicas[0].restart(1012)
            await merged(conn, 40)
            stats = conn.stats
            points = metrics.collect()
    metrics.provider.shutdown()
    assert [leg.name for leg in conn.legs] == ["feed/leg1", "feed/leg2"]
    close = {"wsclient.close_code": 1012, "wsclient.initiator": "server"}
    assert points[named("wsclient.disconnects", "feed/leg1", **close)] == 1
    assert points[named("wsclient.duplicates", "feed")] == stats.duplicates > 0
    received = {"wsclient.direction": "received"}
    legs = [points[named("wsclient.messages", f"feed/leg{i}", **received)] for i in (1, 2)]
    assert sum(legs) == stats.messages_in
    assert points[named("wsclient.messages", "feed", **received)] == 0  # (no double count)
    assert {r.wsclient_name for r in caplog.records} == {"feed/leg1", "feed/leg2"}  # type: ignore[attr-defined]


def named(metric: str, name: str, **attributes: Any) -> tuple[str, frozenset[tuple[str, Any]]]:
    return metric, frozenset({"wsclient.name": name, **attributes}.items())


async def test_the_rest_of_the_connection_answers_for_its_legs(
    options: dict[str, Any], clock: FakeClock
) -> None:
    seen_in_hook: list[int] = []

    async def on_connect(conn: wsclient.Connection) -> None:
        async for msg in conn:  # on_connect iterates over its own leg's socket
            seen_in_hook.append(key(msg)[1])
            break
        assert conn.response_headers is not None
        assert conn.protocol is None

    async with TickFeed(2, interval=0.1, count=200, clock=clock) as feed:
        conn = wsclient.connect(
            feed.urls, **options, redundancy=2, sequence=key, on_connect=on_connect
        )
        assert (conn.closed, conn.close_code, conn.protocol, conn.response_headers) == (
            False,
            None,
            None,
            None,
        )
        async with conn:
            assert "2 legs" in repr(conn)
            seen = await merged(conn, 10)
            assert await conn.ping() >= 0
            [batch] = [b async for b in _first(conn.batches())]
            assert batch
            await conn.send_bytes(b"\x00order")  # to one leg; never to both
            await conn.rotate()  # leg by leg, make before break
            seen += await merged(conn, 40)  # (the last leg's successor is adopted meanwhile)
            await conn.reconnect()  # every leg at once
            await conn.resume()
            seen += await merged(conn, 120)
            assert [leg.stats.connects for leg in conn.legs] == [3, 3]
            with pytest.raises(wsclient.InvalidState, match="already receiving"):
                async with asyncio.timeout(5):
                    await asyncio.gather(conn.receive(), conn.receive())
            assert (conn.unsent, conn.unconfirmed) == ([], [])
        assert conn.closed
        assert conn.close_code == 1000
    assert len(seen_in_hook) == 6  # on_connect ran on every socket of both legs
    ints = [s for s in seen if isinstance(s, int)]
    assert ints == sorted(set(ints))  # once each, in order (the reconnect may leave a gap)


async def _first(batches: AsyncIterator[list[WSMessage]]) -> AsyncIterator[list[WSMessage]]:
    async for batch in batches:
        yield batch
        return


@pytest.mark.parametrize("every_leg", [True, False])
async def test_close_from_on_connect_ends_every_leg_without_waiting_on_itself(
    options: dict[str, Any], clock: FakeClock, every_leg: bool
) -> None:
    # A refused login is refused on every leg (or seen on one): on_connect
    # closes, and the close must not wait for the hook that calls it.
    async def on_connect(conn: wsclient.Connection) -> None:
        msg = await conn.receive()  # the server's answer
        if every_leg or conn.url.endswith(f":{feed.urls[0].port}/feed"):
            await conn.close(4000, f"refused at {key(msg)[1]}")

    async with TickFeed(2, interval=0.1, count=100, clock=clock) as feed:
        conn = wsclient.connect(
            feed.urls, **options, redundancy=2, sequence=key, on_connect=on_connect
        )
        async with asyncio.timeout(10), conn:
            async for _ in conn.stream():
                pass
    assert [leg.state for leg in conn.legs] == [State.CLOSED, State.CLOSED]


async def test_close_from_one_legs_on_event_closes_every_leg(
    options: dict[str, Any], clock: FakeClock
) -> None:
    conn: wsclient.Connection | None = None

    async def on_event(event: wsclient.Event) -> None:
        if isinstance(event, Disconnected) and event.code == 4001:  # "banned": stop
            assert conn is not None
            await conn.close()

    async with TickFeed(2, interval=0.1, count=100, clock=clock) as feed:
        conn = wsclient.connect(
            feed.urls, **{**options, "on_event": on_event}, redundancy=2, sequence=key
        )
        async with asyncio.timeout(10), conn:
            seen = await merged(conn, 5)
            await feed.replicas[0].restart(4001)  # leg 1 only
            async for _ in conn.stream():
                pass
    assert [leg.state for leg in conn.legs] == [State.CLOSED, State.CLOSED]
    assert contiguous(seen)


async def test_a_stream_starts_at_the_earliest_copy_of_any_leg(
    options: dict[str, Any], clock: FakeClock
) -> None:
    async with TickFeed(2, interval=0.1, count=30, clock=clock) as feed:
        feed.replicas[0].lose = {1, 2, 3, 4, 5}  # leg 1 missed the first ticks
        async with wsclient.connect(feed.urls, **options, redundancy=2, sequence=key) as conn:
            await clock.sleep(1.05)  # both legs' backlogs wait; leg 1's is read first
            seen = await merged(conn, 12)
    assert seen == list(range(1, 13))
    assert conn.stats.duplicates == 7  # leg 2's copies of 6-12, and none of 1-5


@pytest.mark.parametrize("seed", [4, 10])
async def test_a_send_made_while_every_leg_was_down_goes_out_before_later_ones(
    options: dict[str, Any], clock: FakeClock, seed: int
) -> None:
    def up(conn: wsclient.Connection) -> bool:
        return conn.state is State.CONNECTED

    async with TickFeed(1, interval=0.1, count=None, clock=clock) as feed:
        replica = feed.replicas[0]
        conn = wsclient.connect(
            feed.urls, **{**options, "rng": random.Random(seed)}, redundancy=2, sequence=key
        )
        async with conn:
            await merged(conn, 3)
            await replica.restart(1012)  # both legs are on it: both down for 5-30 s
            while up(conn):
                await clock.sleep(0.01)
            await conn.send_str("A")  # buffered on one leg
            [holder] = [leg for leg in conn.legs if leg.unsent]
            while not up(conn):
                await clock.sleep(0.01)
            assert not up(holder)  # (the case: the other leg came back first)
            await conn.send_str("B")
            while len(replica.received) < 2:
                await clock.sleep(0.01)
            assert conn.unsent == []
    assert replica.received == ["A", "B"]
