"""Tier 3: what the application sees -- on_connect, buffered sends, close(),
heartbeat, stats -- against real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import wsclient
from wsclient import BufferFull, InvalidState, State
from wsclient.testing import Close, Drop, FakeClock, Hold, Receive, Send, Stall
from wsclient.testing.plugin import StartServer

from .conftest import Events, open_fds, unused_port, wsclient_tasks


async def test_buffered_sends_arrive_after_reconnect_in_order_after_the_subscription(
    fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    server = await fault_server(
        [
            [Receive(1), Send("ready"), Receive(1), Drop()],
            [Receive(6), Close(1000)],
        ]
    )

    async def subscribe(conn: wsclient.Connection) -> None:
        await conn.send_str("subscribe")

    async def on_event(event: wsclient.Event) -> None:
        events(event)
        if isinstance(event, wsclient.Disconnected) and event.code == 1006:  # restarting
            for n in range(1, 6):
                await conn.send_str(f"m{n}")
            assert conn.stats.buffered == 5

    options["on_event"] = on_event
    async with wsclient.connect(server.url, on_connect=subscribe, **options) as conn:
        async for msg in conn:
            assert msg.data == "ready"
            await conn.send_str("live")  # connected: goes straight out
    assert server.received == [["subscribe", "live"], ["subscribe", "m1", "m2", "m3", "m4", "m5"]]
    assert conn.stats.buffered == 0
    assert conn.stats.messages_out == 8


async def test_on_connect_runs_before_messages_are_yielded_and_may_receive(
    fault_server: StartServer, options: dict[str, Any]
) -> None:
    server = await fault_server(
        [
            [Receive(1), Send("welcome 1"), Send("data 1"), Drop()],
            [Receive(1), Send("welcome 2"), Send("data 2"), Hold(seconds=1), Close(1000)],
        ]
    )
    welcomes: list[str] = []

    async def identify(conn: wsclient.Connection) -> None:
        await conn.send_json({"op": "identify"})
        reply = await asyncio.wait_for(conn.receive(), 5)  # a task of its own on 3.11
        welcomes.append(reply.data)

    async with wsclient.connect(server.url, on_connect=identify, **options) as conn:
        got = [m.data async for m in conn]
    assert welcomes == ["welcome 1", "welcome 2"]
    assert got == ["data 1", "data 2"]
    assert server.received[0] == ['{"op": "identify"}']


async def test_a_plain_function_may_be_on_connect(
    fault_server: StartServer, options: dict[str, Any]
) -> None:
    server = await fault_server([[Send("a"), Hold(seconds=1), Close(1000)]])
    seen: list[wsclient.Connection] = []
    async with wsclient.connect(server.url, on_connect=seen.append, **options) as conn:
        assert [m.data async for m in conn] == ["a"]
    assert seen == [conn]


async def test_on_connect_raising_fails_the_connection_with_its_error(
    fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    server = await fault_server([[Hold()]])

    async def broken(conn: wsclient.Connection) -> None:
        raise LookupError("no such channel")

    async with wsclient.connect(server.url, on_connect=broken, **options) as conn:
        with pytest.raises(LookupError, match="no such channel"):
            await conn.receive()
        assert conn.state is State.FAILED
    assert server.connections == 1
    assert events.names()[-1] == "GaveUp"
    assert wsclient_tasks() == []


async def test_on_connect_that_hangs_times_out_and_reconnects(
    fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    server = await fault_server([[Hold()], [Send("ok"), Close(1000)]])
    calls = 0

    async def hangs_once(conn: wsclient.Connection) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.Event().wait()

    async with wsclient.connect(server.url, on_connect=hangs_once, **options) as conn:
        assert [m.data async for m in conn] == ["ok"]
    assert events.of(wsclient.Disconnected)[0].cause.kind is wsclient.DisconnectKind.TIMEOUT


async def test_close_during_a_30_second_wait_returns_at_once(
    fault_server: StartServer, events: Events
) -> None:
    clock = FakeClock(autojump=False)  # the wait can only end if close() ends it
    policy = wsclient.ReconnectPolicy.default().with_rule(
        4000, wsclient.Reconnect(wsclient.Uniform(30, 30))
    )
    server = await fault_server([[Close(4000)]])
    fds = open_fds()
    conn = wsclient.connect(
        server.url, clock=clock, policy=policy, on_event=events, heartbeat=None, open_timeout=None
    )
    async with conn:
        await events.wait_count(wsclient.ReconnectScheduled, 1)
        assert events.of(wsclient.ReconnectScheduled)[0].delay == 30
        await conn.close()
        assert conn.state is State.CLOSED
    assert clock.now() == 0
    assert wsclient_tasks() == []
    assert open_fds() == fds
    assert server.connections == 1
    with pytest.raises(InvalidState):
        await conn.send_str("late")
    with pytest.raises(wsclient.ConnectionClosed):
        await conn.receive()


async def test_close_while_connected_sends_the_code_and_iteration_ends(
    fault_server: StartServer, options: dict[str, Any]
) -> None:
    server = await fault_server([[Send("a"), Hold()]])
    fds = open_fds()
    async with wsclient.connect(server.url, **options) as conn:
        async for msg in conn:
            assert msg.data == "a"
            await conn.close(4321, "bye")
    assert conn.state is State.CLOSED
    assert wsclient_tasks() == []
    assert open_fds() == fds


async def test_close_from_another_task_ends_iteration(
    fault_server: StartServer, options: dict[str, Any]
) -> None:
    server = await fault_server([[Hold()]])
    async with wsclient.connect(server.url, **options) as conn:

        async def consume() -> list[Any]:
            return [m async for m in conn]

        consumer = asyncio.create_task(consume())
        await asyncio.sleep(0.01)
        await conn.close()
        assert await consumer == []


async def test_close_arguments_are_checked(options: dict[str, Any]) -> None:
    conn = wsclient.connect("ws://127.0.0.1:1/", **options)
    with pytest.raises(ValueError, match="code 1006 may not be sent"):
        await conn.close(1006)
    with pytest.raises(ValueError, match="reason is longer than 123 bytes"):
        await conn.close(1000, "é" * 62)
    await conn.close()  # never opened: closes at once
    assert conn.state is State.CLOSED


async def test_sends_while_down_fill_the_outbox_then_buffer_full(options: dict[str, Any]) -> None:
    url = f"ws://127.0.0.1:{unused_port()}/"
    async with wsclient.connect(url, buffer_size=2, **options) as conn:
        await conn.send_str("one")
        await conn.send_bytes(b"two")
        with pytest.raises(BufferFull, match="buffer_size"):
            await conn.send_json({"three": 3})
        assert conn.unsent == ["one", b"two"]
    assert conn.unsent == ["one", b"two"]  # never sent, still there to see


async def test_send_type_errors(options: dict[str, Any]) -> None:
    conn = wsclient.connect("ws://127.0.0.1:1/", **options)
    with pytest.raises(TypeError, match="send_str takes a str"):
        await conn.send_str(b"x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="send_bytes takes bytes"):
        await conn.send_bytes("x")  # type: ignore[arg-type]
    await conn.close()


async def test_a_stalled_server_is_detected_by_the_heartbeat(
    fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    server = await fault_server([[Stall()], [Close(1000)]])
    async with wsclient.connect(server.url, heartbeat=5, pong_timeout=2, **options) as conn:
        assert [m async for m in conn] == []
    assert events.of(wsclient.Disconnected)[0].code == 1006


async def test_answered_pings_keep_an_idle_connection(
    fault_server: StartServer, options: dict[str, Any], clock: FakeClock
) -> None:
    server = await fault_server([[Hold(seconds=100), Close(1000)]])
    async with wsclient.connect(server.url, heartbeat=20, pong_timeout=10, **options) as conn:
        assert [m async for m in conn] == []
    assert server.connections == 1
    assert conn.stats.pongs >= 4
    assert clock.now() >= 100


async def test_stats(fault_server: StartServer, options: dict[str, Any]) -> None:
    server = await fault_server(
        [
            [Receive(1), Send("héllo"), Send(b"\x00\x01"), Receive(1), Drop()],
            [Hold(seconds=50), Close(4001)],
        ]
    )
    policy = wsclient.ReconnectPolicy.default().with_rule(4001, wsclient.Stop())
    conn = wsclient.connect(server.url, heartbeat=None, **(options | {"policy": policy}))
    async with conn:
        assert conn.stats.state in (State.IDLE, State.CONNECTING)
        await conn.send_str("hi")
        await conn.receive()
        await conn.receive()
        await conn.send_str("ñ")
        async for _ in conn:
            pass
        stats = conn.stats
    assert (stats.connects, stats.reconnects) == (2, 1)
    assert (stats.messages_in, stats.bytes_in) == (2, 6 + 2)  # UTF-8 bytes of "héllo"
    assert (stats.messages_out, stats.bytes_out) == (2, 2 + 2)
    assert stats.last_close_code == 4001
    assert stats.uptime == 0
    assert stats.url == str(server.url)


async def test_uptime_counts_on_the_clock(
    fault_server: StartServer, options: dict[str, Any]
) -> None:
    clock: FakeClock = options["clock"]
    server = await fault_server([[Send("a"), Hold()]])
    async with wsclient.connect(server.url, heartbeat=None, **options) as conn:
        await conn.receive()
        clock.advance(12.5)
        assert conn.stats.uptime == pytest.approx(12.5)
        assert conn.state is State.CONNECTED


async def test_states_seen_through_a_reconnect(
    fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    seen: list[State] = []

    def on_event(event: wsclient.Event) -> None:
        events(event)
        seen.append(conn.state)

    options["on_event"] = on_event
    server = await fault_server([[Close(1011)], [Close(1000)]])
    async with wsclient.connect(server.url, **options) as conn:
        assert [m async for m in conn] == []
    assert list(zip(events.names(), seen, strict=True)) == [
        ("Connected", State.CONNECTED),
        ("Disconnected", State.WAITING),
        ("ReconnectScheduled", State.WAITING),
        ("Connected", State.CONNECTED),
        ("Disconnected", State.CLOSED),
    ]


async def test_iteration_before_open_is_refused(options: dict[str, Any]) -> None:
    conn = wsclient.connect("ws://127.0.0.1:1/", **options)
    with pytest.raises(InvalidState, match="never opened"):
        await conn.receive()
    conn.open()
    with pytest.raises(InvalidState, match="opened already"):
        conn.open()
    await conn.close()


async def test_two_consumers_at_once_are_refused(
    fault_server: StartServer, options: dict[str, Any]
) -> None:
    server = await fault_server([[Hold()]])
    async with wsclient.connect(server.url, **options) as conn:
        first = asyncio.create_task(conn.receive())
        await asyncio.sleep(0.01)
        with pytest.raises(InvalidState, match="already receiving"):
            await conn.receive()
        first.cancel()


async def test_an_on_event_error_is_logged_and_the_connection_carries_on(
    fault_server: StartServer, options: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: wsclient.Event) -> None:
        raise RuntimeError("observer bug")

    options["on_event"] = broken
    server = await fault_server([[Send("a"), Close(1011)], [Send("b"), Close(1000)]])
    async with wsclient.connect(server.url, **options) as conn:
        assert [m.data async for m in conn] == ["a", "b"]
    assert "on_event raised" in caplog.text


async def test_a_slow_consumer_pauses_reading_and_loses_nothing(
    fault_server: StartServer, options: dict[str, Any]
) -> None:
    server = await fault_server([[*(Send(str(n)) for n in range(500)), Close(1000)]])
    async with wsclient.connect(server.url, max_queue=16, **options) as conn:
        got = []
        async for msg in conn:
            got.append(int(msg.data))
            if len(got) % 50 == 0:
                await asyncio.sleep(0.001)
    assert got == list(range(500))


async def test_batches_yield_everything_in_order_across_reconnects(
    fault_server: StartServer, options: dict[str, Any]
) -> None:
    first = [Send(str(n)) for n in range(300)]
    second = [Send(str(n)) for n in range(300, 600)]
    server = await fault_server([[*first, Close(1011)], [*second, Close(1000)]])
    async with wsclient.connect(server.url, max_queue=64, **options) as conn:
        batches = [batch async for batch in conn.batches()]
    assert [int(m.data) for batch in batches for m in batch] == list(range(600))
    assert all(batches)
    assert len(batches) < 600  # they came in batches, not one by one


async def test_batches_raise_how_the_connection_ended(
    fault_server: StartServer, options: dict[str, Any]
) -> None:
    server = await fault_server([[Send("a"), Close(1008, "no")]])
    async with wsclient.connect(server.url, **options) as conn:
        seen: list[str] = []

        async def consume() -> None:
            async for batch in conn.batches():
                seen.extend(m.data for m in batch)

        with pytest.raises(wsclient.FatalClose):
            await consume()
    assert seen == ["a"]


async def test_json_helpers_take_a_pluggable_loads(
    fault_server: StartServer, options: dict[str, Any]
) -> None:
    server = await fault_server(
        [[Send('{"n": 1}'), Send('{"n": 2}'), Send('{"n": 3}'), Close(1000)]]
    )
    decoded: list[Any] = []

    def loads(text: str | bytes) -> Any:
        decoded.append(text)
        return json.loads(text)

    async with wsclient.connect(server.url, **options) as conn:
        assert await conn.receive_json() == {"n": 1}
        assert [m async for m in conn.iter_json(loads=loads)] == [{"n": 2}, {"n": 3}]
    assert decoded == ['{"n": 2}', '{"n": 3}']
