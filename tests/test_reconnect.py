"""Tier 3: the reconnect loop over real sockets, on virtual time."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from tenacity import stop_after_attempt, wait_fixed

import wsclient
from wsclient import HoldOff, Reconnect, ReconnectPolicy, RetriesExhausted, Uniform
from wsclient.testing import Close, FakeClock, Hold, Send
from wsclient.testing.plugin import StartServer

from .conftest import ENDS, Events, Midpoint, drain, unused_port, wsclient_tasks


async def test_1012_delays_spread_over_5_to_30_seconds(
    fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    server = await fault_server([[Close(1012, "restart")]] * 200 + [[Close(1000)]])
    async with wsclient.connect(server.url, heartbeat=None, **options) as conn:
        assert [m async for m in conn] == []
    delays = [e.delay for e in events.of(wsclient.ReconnectScheduled)]
    assert len(delays) == 200
    assert all(5 <= d <= 30 for d in delays)
    buckets = Counter(int((d - 5) // 5) for d in delays)  # five 5 s buckets
    assert sorted(buckets) == [0, 1, 2, 3, 4]
    assert all(count >= 20 for count in buckets.values()), buckets  # 40 expected each
    # Not the exponential curve: late delays are no longer than early ones.
    assert abs(sum(delays[:100]) - sum(delays[100:])) < 0.2 * sum(delays)


async def test_a_flapping_server_sees_growing_delays(
    fault_server: StartServer, clock: FakeClock, events: Events
) -> None:
    """Accept, then close with 1011 at once, 8 times: no tight loop."""
    server = await fault_server([[Close(1011)]] * 8 + [[Send("finally"), Close(1000)]])
    async with wsclient.connect(
        server.url, clock=clock, rng=Midpoint(), on_event=events, heartbeat=None, policy=ENDS
    ) as conn:
        assert [m.data async for m in conn] == ["finally"]
    scheduled = events.of(wsclient.ReconnectScheduled)
    assert [e.attempt for e in scheduled] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [e.delay for e in scheduled] == [2.5, 5, 10, 20, 30, 30, 30, 30]
    assert clock.now() >= 157.5


async def test_flapping_with_real_jitter_stays_under_the_growing_bound(
    fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    server = await fault_server([[Close(1011)]] * 8 + [[Close(1000)]])
    async with wsclient.connect(server.url, heartbeat=None, **options) as conn:
        assert [m async for m in conn] == []
    delays = [e.delay for e in events.of(wsclient.ReconnectScheduled)]
    bounds = [min(60, 5 * 2**n) for n in range(8)]
    assert all(d <= b for d, b in zip(delays, bounds, strict=True))
    assert sum(delays[4:]) > sum(delays[:4])


async def test_the_attempt_count_resets_only_after_stable_after(
    fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    server = await fault_server(
        [[Close(1011)]] * 3 + [[Hold(seconds=31), Close(1011)], [Hold(seconds=29), Close(1011)]]
    )
    async with wsclient.connect(server.url, stable_after=30, **options):
        await events.wait_count(wsclient.ReconnectScheduled, 5)
    attempts = [e.attempt for e in events.of(wsclient.ReconnectScheduled)]
    # 3 quick failures, then one that held 31 s: a new streak starts with it;
    # the next held only 29 s, so it counts on.
    assert attempts == [1, 2, 3, 1, 2]
    assert [e.attempt for e in events.of(wsclient.Connected)][:5] == [1, 2, 3, 4, 2]


async def test_a_stop_gives_up_with_retries_exhausted(
    options: dict[str, Any], events: Events
) -> None:
    url = f"ws://127.0.0.1:{unused_port()}/"
    async with wsclient.connect(url, stop=stop_after_attempt(3), **options) as conn:
        with pytest.raises(RetriesExhausted) as info:
            await conn.receive()
    assert info.value.attempts == 3
    assert info.value.cause.kind is wsclient.DisconnectKind.REFUSED
    assert events.names().count("ConnectFailed") == 3
    assert events.names().count("ReconnectScheduled") == 2
    [gave_up] = events.of(wsclient.GaveUp)
    assert gave_up.attempts == 3
    assert conn.state is wsclient.State.FAILED


async def test_by_default_it_never_gives_up_on_a_retryable_failure(
    options: dict[str, Any], events: Events, clock: FakeClock
) -> None:
    url = f"ws://127.0.0.1:{unused_port()}/"
    async with wsclient.connect(url, **options) as conn:
        await events.wait_count(wsclient.ReconnectScheduled, 30)
        assert conn.state in (wsclient.State.WAITING, wsclient.State.CONNECTING)
    delays = [e.delay for e in events.of(wsclient.ReconnectScheduled)]
    assert max(delays) <= 60
    assert clock.now() > 300  # minutes of virtual retrying
    assert wsclient_tasks() == []


async def test_a_hold_off_ends_at_resume(
    fault_server: StartServer, events: Events, clock: FakeClock
) -> None:
    server = await fault_server([[Close(1013, "busy")], [Send("back"), Close(1000)]])

    def on_event(event: wsclient.Event) -> None:
        events(event)
        if isinstance(event, wsclient.HoldingOff):
            conn.resume()

    conn = wsclient.connect(
        server.url, clock=clock, on_event=on_event, heartbeat=None, policy=ENDS
    )
    async with conn:
        assert [m.data async for m in conn] == ["back"]
    [holding] = events.of(wsclient.HoldingOff)
    assert 30 <= holding.delay <= 120
    assert clock.now() < 1  # the hold-off never ran its course


async def test_resume_from_another_task_cuts_a_running_hold_off(
    fault_server: StartServer, events: Events
) -> None:
    clock_by_hand = FakeClock(autojump=False)
    server = await fault_server([[Close(1013)], [Send("back"), Close(1000)]])
    async with wsclient.connect(
        server.url,
        clock=clock_by_hand,
        heartbeat=None,
        open_timeout=None,
        on_event=events,
        policy=ENDS,
    ) as conn:
        await events.wait_count(wsclient.HoldingOff, 1)
        for _ in range(100):  # until the wait has begun
            if clock_by_hand.pending:
                break
            await asyncio.sleep(0)
        await conn.resume()
        assert [m.data async for m in conn] == ["back"]
    assert clock_by_hand.now() == 0


async def test_reconnect_forces_a_fresh_connection(
    fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    server = await fault_server([[Send("a"), Hold()], [Send("b"), Close(1000)]])
    async with wsclient.connect(server.url, **options) as conn:
        assert (await conn.receive()).data == "a"
        await conn.reconnect()
        assert [m.data async for m in conn] == ["b"]
    first = events.of(wsclient.Disconnected)[0]
    assert (first.code, first.initiated_by) == (1000, wsclient.Initiator.CLIENT)
    assert first.cause.kind is wsclient.DisconnectKind.FORCED
    [scheduled] = events.of(wsclient.ReconnectScheduled)
    assert scheduled.delay == 0


async def test_a_user_rule_changes_the_decision(
    fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    policy = (
        ReconnectPolicy.default()
        .with_rule(4001, wsclient.Fail("bad token"))
        .with_rule(1000, Reconnect(Uniform(1, 1)))
    )
    server = await fault_server([[Close(1000)], [Close(4001)]])
    async with wsclient.connect(server.url, **(options | {"policy": policy})) as conn:
        with pytest.raises(wsclient.FatalClose) as info:
            await conn.receive()
    assert info.value.code == 4001
    assert [e.delay for e in events.of(wsclient.ReconnectScheduled)] == [1]


async def test_a_decision_may_carry_a_tenacity_wait(
    fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    policy = ENDS.with_rule(4000, Reconnect(wait_fixed(7)))
    server = await fault_server([[Close(4000)], [Close(1000)]])
    async with wsclient.connect(server.url, **(options | {"policy": policy})) as conn:
        assert [m async for m in conn] == []
    assert [e.delay for e in events.of(wsclient.ReconnectScheduled)] == [7]


async def test_a_servers_1000_reconnects_by_default(
    fault_server: StartServer, options: dict[str, Any]
) -> None:
    server = await fault_server(
        [[Send("1"), Close(1000)], [Send("2"), Close(1000)]], then=[Close(1002)]
    )
    policy = ReconnectPolicy.default()
    async with wsclient.connect(server.url, **(options | {"policy": policy})) as conn:
        got: list[str] = []
        with pytest.raises(wsclient.FatalClose):
            await drain(conn, got)
    assert got == ["1", "2"]


async def test_hold_off_repeats_double(
    fault_server: StartServer, clock: FakeClock, events: Events
) -> None:
    server = await fault_server([[Close(1013)]] * 4 + [[Close(1000)]])
    async with wsclient.connect(
        server.url, clock=clock, rng=Midpoint(), on_event=events, heartbeat=None, policy=ENDS
    ) as conn:
        assert [m async for m in conn] == []
    holds = events.of(wsclient.HoldingOff)
    assert [h.delay for h in holds] == [75, 150, 300, 600]
    assert all(isinstance(e.decision, HoldOff) for e in events.of(wsclient.ReconnectScheduled))
