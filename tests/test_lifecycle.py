"""Races and cancellation: every path leaves a defined state, no task behind,
no socket open, and the closing handshake the application asked for."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
from tenacity import stop_after_delay

import wsclient
from wsclient import State
from wsclient.testing import Close, Drop, FakeClock, Hold, Receive, Send, Stall
from wsclient.testing.plugin import StartServer

from .conftest import Events, unused_port, wsclient_tasks


async def test_close_right_after_open(fault_server: StartServer, options: dict[str, Any]) -> None:
    server = await fault_server([[Send("a"), Hold()]])
    async with wsclient.connect(server.url, **options) as conn:
        pass  # leaves before the supervisor ever ran
    assert conn.state is State.CLOSED
    with pytest.raises(wsclient.ConnectionClosed):
        await conn.receive()
    assert [m async for m in conn] == []
    assert wsclient_tasks() == []


async def test_close_from_on_connect_sends_its_code(
    fault_server: StartServer, options: dict[str, Any]
) -> None:
    server = await fault_server([[Hold()]])

    async def give_up_at_once(conn: wsclient.Connection) -> None:
        await conn.close(4000, "not today")

    async with wsclient.connect(server.url, on_connect=give_up_at_once, **options) as conn:
        assert [m async for m in conn] == []
    assert conn.state is State.CLOSED
    await asyncio.sleep(0.01)  # let the server's handler see the end
    assert server.closes == [4000]
    assert wsclient_tasks() == []


async def test_reconnect_from_on_connect_closes_with_1000_and_comes_back(
    fault_server: StartServer, options: dict[str, Any]
) -> None:
    server = await fault_server([[Hold()], [Send("b"), Close(1000)]])
    calls = 0

    async def once_more(conn: wsclient.Connection) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            await conn.reconnect()

    async with wsclient.connect(server.url, on_connect=once_more, **options) as conn:
        assert [m.data async for m in conn] == ["b"]
    assert server.closes[0] == 1000


async def test_a_drop_while_the_outbox_flushes_reconnects_and_keeps_the_messages(
    fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    server = await fault_server(
        [[Drop()], [Receive(1), Send("welcome"), Drop()]],
        then=[Receive(1), Send("welcome"), Receive(2), Close(1000)],
    )

    async def queue_two(event: wsclient.Event) -> None:
        events(event)
        if isinstance(event, wsclient.Disconnected) and len(events.of(wsclient.Disconnected)) == 1:
            await conn.send_str("m1")
            await conn.send_str("m2")

    async def hello(conn: wsclient.Connection) -> None:
        await conn.send_str("hello")
        await conn.receive()

    options.update(on_event=queue_two, open_timeout=None)
    conn = wsclient.connect(server.url, on_connect=hello, **options)
    async with conn:
        assert [m async for m in conn] == []
    assert conn.state is State.CLOSED
    assert server.received[-1] == ["hello", "m1", "m2"]
    assert all(e.code == 1006 for e in events.of(wsclient.Disconnected)[:-1])


async def test_a_cancelled_close_still_leaves_nothing_behind(fault_server: StartServer) -> None:
    clock = FakeClock(autojump=False)  # close_timeout never runs out by itself
    server = await fault_server([[Stall()]])
    events = Events()
    conn = wsclient.connect(
        server.url, clock=clock, heartbeat=None, open_timeout=None, on_event=events
    )
    conn.open()
    await events.wait_count(wsclient.Connected, 1)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await conn.close()  # the stalled server never answers the close frame
    assert wsclient_tasks() == []
    del conn
    gc.collect()  # the session of wsclient.connect() is closed: no unclosed-session warning


async def test_close_waits_for_the_close_frame_only_close_timeout_on_the_clock(
    fault_server: StartServer, options: dict[str, Any], clock: FakeClock
) -> None:
    server = await fault_server([[Send("a"), Stall()]])
    async with wsclient.connect(server.url, close_timeout=7, heartbeat=None, **options) as conn:
        await conn.receive()
        before = clock.now()
        await conn.close()
    assert clock.now() - before == pytest.approx(7)
    assert conn.state is State.CLOSED


async def test_on_connect_raising_its_own_timeout_error_fails(
    fault_server: StartServer, options: dict[str, Any]
) -> None:
    server = await fault_server([[Hold()]])

    async def slow_auth(conn: wsclient.Connection) -> None:
        raise TimeoutError("auth service did not answer")

    async with wsclient.connect(server.url, on_connect=slow_auth, **options) as conn:
        with pytest.raises(TimeoutError, match="auth service"):
            await conn.receive()
    assert conn.state is State.FAILED
    assert server.connections == 1


async def test_resume_while_connected_does_not_skip_a_later_backoff(
    fault_server: StartServer, events: Events
) -> None:
    clock = FakeClock(autojump=False)
    server = await fault_server([[Close(1013)], [Send("a"), Hold()], [Hold()]])

    def on_event(event: wsclient.Event) -> None:
        events(event)
        if isinstance(event, wsclient.HoldingOff):
            conn.resume()

    conn = wsclient.connect(
        server.url, clock=clock, on_event=on_event, heartbeat=None, open_timeout=None
    )
    async with conn:
        assert (await conn.receive()).data == "a"
        await conn.resume()  # not holding off: nothing to end
        await conn.reconnect()
        await events.wait_count(wsclient.Connected, 3)
    assert [e.delay for e in events.of(wsclient.ReconnectScheduled)][1] == 0  # reconnect()
    assert clock.now() == 0


async def test_a_time_based_stop_counts_on_the_injected_clock(
    options: dict[str, Any], clock: FakeClock
) -> None:
    url = f"ws://127.0.0.1:{unused_port()}/"
    async with wsclient.connect(url, stop=stop_after_delay(60), **options) as conn:
        with pytest.raises(wsclient.RetriesExhausted):
            await conn.receive()
    assert 60 <= clock.now() <= 60 + 60


async def test_cancelling_the_consumer_leaves_the_connection_working(
    fault_server: StartServer, options: dict[str, Any]
) -> None:
    server = await fault_server([[Send("a"), Receive(1), Send("b"), Hold()]])
    async with wsclient.connect(server.url, **options) as conn:
        assert (await conn.receive()).data == "a"
        waiting = asyncio.create_task(conn.receive())
        await asyncio.sleep(0.01)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await conn.send_str("go")
        assert (await conn.receive()).data == "b"
    assert wsclient_tasks() == []
