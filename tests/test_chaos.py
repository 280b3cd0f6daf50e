"""The chaos proxy at work, and races: close() against a reconnect, a heartbeat
timeout against a close frame, a cancelled consumer, a failing on_connect.
Each leaves a defined state, no task behind, and no unhandled exception."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

import wsclient
from wsclient import DisconnectKind, InvalidState, Reconnect, State
from wsclient.testing import (
    Close,
    CloseFrame,
    FakeClock,
    FaultServer,
    Hold,
    Send,
    Step,
)
from wsclient.testing.plugin import StartServer

from .chaos import ChaosProxy, NewConnections
from .conftest import Events, drain, state_of, wsclient_tasks

LoopErrors = list[dict[str, Any]]


@pytest.fixture
async def loop_errors() -> AsyncIterator[LoopErrors]:
    """What the event loop's exception handler saw ('Task exception was never
    retrieved' and the like); checked by :func:`assert_clean`."""
    loop = asyncio.get_running_loop()
    seen: LoopErrors = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: seen.append(context))
    yield seen
    gc.collect()
    loop.set_exception_handler(previous)
    assert seen == []  # also what went wrong after the test's own checks


def assert_clean(loop_errors: LoopErrors) -> None:
    """No wsclient or chaos task left, and no exception nobody retrieved."""
    gc.collect()  # an unretrieved exception is reported when its task is collected
    assert wsclient_tasks() == []
    assert [t for t in asyncio.all_tasks() if t.get_name().startswith("chaos")] == []
    assert loop_errors == []


# -- the proxy itself ---------------------------------------------------------------------


async def test_a_slow_link_delivers_everything_at_its_byte_rate(
    fault_server: StartServer, options: dict[str, Any], clock: FakeClock, loop_errors: LoopErrors
) -> None:
    payload = "".join(chr(ord("a") + i % 26) for i in range(10_000))
    server = await fault_server([[Send(payload), Close(1000)]])
    async with ChaosProxy(server.url.port or 0, clock=clock) as proxy:
        proxy.rate = 2000.0
        async with wsclient.connect(proxy.url(), heartbeat=None, **options) as conn:
            assert [m.data async for m in conn] == [payload]
        [pipe] = [*proxy.finished, *proxy.pipes]
    assert clock.now() >= 10_000 / 2000
    assert pipe.down.forwarded > 10_000
    assert_clean(loop_errors)


async def test_a_slow_link_with_the_heartbeat_on_still_delivers_a_big_message(
    fault_server: StartServer, options: dict[str, Any], events: Events, clock: FakeClock
) -> None:
    big = "x" * 12_000  # 40 s at 300 bytes/s; the heartbeat gives up after 20 + 10 s
    server = await fault_server(then=[Send(big), Hold()])

    async def on_event(event: wsclient.Event) -> None:
        events(event)
        if isinstance(event, wsclient.Connected) and len(events.of(wsclient.Connected)) > 3:
            await conn.close()  # it will not get better: end the loop

    options.update(on_event=on_event, heartbeat=20, pong_timeout=10)
    async with ChaosProxy(server.url.port or 0, clock=clock) as proxy:
        proxy.rate, proxy.rate_step = 300.0, 1.0
        conn = wsclient.connect(proxy.url(), **options)
        async with conn:
            assert (await conn.receive()).data == big
    # Only the close at the end: the heartbeat never took the slow link for dead.
    assert [e.cause.kind for e in events.of(wsclient.Disconnected)] == [DisconnectKind.USER]


async def test_a_refused_port_is_retried_until_it_listens_again(
    fault_server: StartServer, options: dict[str, Any], events: Events, loop_errors: LoopErrors
) -> None:
    server = await fault_server(then=[Send("up"), Close(1000)])
    async with ChaosProxy(server.url.port or 0) as proxy:
        port = proxy.port
        conn = wsclient.connect(proxy.url(), **options)
        try:
            async with proxy.refusing():
                conn.open()
                await events.wait_count(wsclient.ConnectFailed, 3)
            assert proxy.port == port  # listening again, on the same port
            assert [m.data async for m in conn] == ["up"]
        finally:
            await conn.close()
    failures = events.of(wsclient.ConnectFailed)
    assert len(failures) >= 3
    assert {f.cause.kind for f in failures} == {DisconnectKind.REFUSED}
    for scheduled in events.of(wsclient.ReconnectScheduled):
        assert isinstance(scheduled.decision, Reconnect)
        assert 0 <= scheduled.delay <= min(60, 5 * 2 ** (scheduled.attempt - 1))
    assert proxy.accepted == 1
    assert_clean(loop_errors)


async def test_a_connection_reset_at_once_is_retried(
    fault_server: StartServer, options: dict[str, Any], events: Events, loop_errors: LoopErrors
) -> None:
    server = await fault_server(then=[Send("up"), Close(1000)])
    async with ChaosProxy(server.url.port or 0) as proxy:
        proxy.on_new = NewConnections.RESET

        def on_event(event: wsclient.Event) -> None:
            events(event)
            if len(events.of(wsclient.ConnectFailed)) == 2:
                proxy.on_new = NewConnections.FORWARD

        options["on_event"] = on_event
        async with wsclient.connect(proxy.url(), **options) as conn:
            assert [m.data async for m in conn] == ["up"]
    failures = events.of(wsclient.ConnectFailed)
    assert len(failures) == 2
    assert {f.cause.kind for f in failures} <= {DisconnectKind.RESET, DisconnectKind.REFUSED}
    assert all(isinstance(s.decision, Reconnect) for s in events.of(wsclient.ReconnectScheduled))
    assert server.connections == 1
    assert_clean(loop_errors)


async def test_the_proxy_is_bounded_and_leaves_nothing_behind(
    fault_server: StartServer, loop_errors: LoopErrors
) -> None:
    server = await fault_server(then=[Hold()])
    proxy = ChaosProxy(server.url.port or 0, max_connections=2)
    await proxy.listen()
    writers: list[asyncio.StreamWriter] = []
    try:
        for _ in range(3):
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writers.append(writer)
        await proxy.wait_accepted(2)
        extra = await reader.read()  # the third was reset at once (or closed)
        assert extra == b""
    except ConnectionResetError:
        pass
    finally:
        await proxy.close()
        for writer in writers:
            writer.close()
    assert proxy.accepted == 2
    assert proxy.peak == 2
    assert proxy.pipes == set()
    with pytest.raises(RuntimeError):
        await proxy.listen()
    assert_clean(loop_errors)


# -- races ----------------------------------------------------------------------------------


async def test_close_during_a_backoff_wait_ends_it(
    fault_server: StartServer, options: dict[str, Any], events: Events, loop_errors: LoopErrors
) -> None:
    server = await fault_server([[Send("first"), Close(1011)]], then=[Send("never")])
    async with wsclient.connect(server.url, **options) as conn:
        assert (await conn.receive()).data == "first"
        await events.wait_count(wsclient.ReconnectScheduled, 1)
        assert state_of(conn) is State.WAITING
        await conn.close()
        assert state_of(conn) is State.CLOSED
        assert [m async for m in conn] == []
    assert server.connections == 1
    assert_clean(loop_errors)


async def test_close_while_a_handshake_hangs(
    fault_server: StartServer, options: dict[str, Any], events: Events, loop_errors: LoopErrors
) -> None:
    server = await fault_server(then=[Send("never")])
    async with ChaosProxy(server.url.port or 0) as proxy:
        proxy.on_new = NewConnections.BLACKHOLE
        async with wsclient.connect(proxy.url(), open_timeout=None, **options) as conn:
            await proxy.wait_accepted(1)
            assert state_of(conn) is State.CONNECTING
            await conn.close()
            assert state_of(conn) is State.CLOSED
        [pipe] = [*proxy.finished, *proxy.pipes]
        async with asyncio.timeout(5):
            await pipe.closed.wait()  # the client let go of its socket
    assert events.names() == []
    assert server.connections == 0
    assert_clean(loop_errors)


@pytest.mark.parametrize(
    "order",
    [(first, yields) for first in ("reconnect", "close") for yields in (0, 1, 2, 3, 5, 8, 13, 30)],
    ids=lambda order: f"{order[0]} first, then {order[1]} turns",
)
async def test_close_racing_a_reconnect(
    order: tuple[str, int],
    fault_server: StartServer,
    options: dict[str, Any],
    events: Events,
    loop_errors: LoopErrors,
) -> None:
    """reconnect() and close() from two tasks, ``yields`` loop turns apart: it
    ends CLOSED, never reconnects after close(), and closes with 1000."""
    first, yields = order
    server = await fault_server(then=[Send("hello"), Hold()])
    async with wsclient.connect(server.url, **options) as conn:
        assert (await conn.receive()).data == "hello"

        async def later(action: str) -> None:
            for _ in range(yields):
                await asyncio.sleep(0)
            await (conn.reconnect() if action == "reconnect" else conn.close())

        second = "close" if first == "reconnect" else "reconnect"
        results = await asyncio.gather(
            conn.reconnect() if first == "reconnect" else conn.close(),
            later(second),
            return_exceptions=True,
        )
        for result in results:
            assert result is None or isinstance(result, InvalidState), result
        await conn.close()
        assert conn.state is State.CLOSED
    assert [e.decision for e in events.of(wsclient.ReconnectScheduled)] in (
        [],
        [Reconnect(wsclient.backoff.IMMEDIATE, "the application asked to reconnect")],
    )
    ends = [e.cause.kind for e in events.of(wsclient.Disconnected)]
    assert len(events.of(wsclient.Connected)) <= server.connections <= 2
    if first == "close":
        assert ends == [DisconnectKind.USER]
        assert server.connections == 1
    else:  # see test_every_connected_is_followed_by_a_disconnected
        assert ends in ([], [DisconnectKind.FORCED], [DisconnectKind.FORCED, DisconnectKind.USER])
    assert_clean(loop_errors)


async def test_every_connected_is_followed_by_a_disconnected(
    fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    server = await fault_server(then=[Send("hello"), Hold()])
    async with wsclient.connect(server.url, **options) as conn:
        assert (await conn.receive()).data == "hello"
        await conn.reconnect()
        await conn.close()
    assert conn.state is State.CLOSED
    assert len(events.of(wsclient.Disconnected)) == len(events.of(wsclient.Connected)) == 1


@pytest.mark.parametrize(
    "race",
    [(code, at) for code in (1012, 1013, 1002) for at in (4.999, 5.0, 5.001)],
    ids=lambda race: f"{race[0]} at 5, close at {race[1]}",
)
async def test_close_racing_a_close_frame_from_the_server(
    race: tuple[int, float],
    fault_server: StartServer,
    options: dict[str, Any],
    events: Events,
    loop_errors: LoopErrors,
) -> None:
    """The server closes with ``code`` at 5 s, the application at ``at``: a
    close() first wins over any decision; after the decision it cuts the wait
    short. Never a second connection; a Fail already taken stays reported."""
    code, at = race
    clock: FakeClock = options["clock"]
    server = await fault_server([[Hold(seconds=5), Close(code)]], then=[Send("never")])
    async with wsclient.connect(server.url, **options) as conn:
        await clock.sleep(at)
        await conn.close()
        assert state_of(conn) in (State.CLOSED, State.FAILED)
    assert server.connections == 1
    if at < 5:
        assert events.of(wsclient.ReconnectScheduled) == []
    if state_of(conn) is State.FAILED:  # the 1002 came first: the error, as always
        assert code == 1002
        with pytest.raises(wsclient.FatalClose):
            await conn.receive()
    assert_clean(loop_errors)


class CountingServer(FaultServer):
    """A FaultServer that counts the connections it serves at once."""

    def __init__(self, script: list[list[Step]], *, clock: FakeClock) -> None:
        super().__init__(script, then=[Send("later"), Hold()], clock=clock)
        self.live = 0
        self.peak = 0

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.live += 1
        self.peak = max(self.peak, self.live)
        try:
            return await super()._handle(request)
        finally:
            self.live -= 1


@pytest.mark.parametrize("at", [19.999, 20.0, 20.001, 29.999, 30.0, 30.001])
async def test_a_heartbeat_timeout_racing_a_close_frame(
    at: float, options: dict[str, Any], events: Events, clock: FakeClock, loop_errors: LoopErrors
) -> None:
    """The ping goes out at 20 s, the pong is given up at 30 s; the server's
    close frame (1001) comes at ``at``. Whichever wins, one disconnect, one
    reconnect, and never two connections (let alone handshakes) at once."""
    script: list[list[Step]] = [[Hold(seconds=at, pong=False), CloseFrame(1001)]]
    server = CountingServer(script, clock=clock)
    async with server:
        options.update(heartbeat=20, pong_timeout=10)
        async with wsclient.connect(server.url, **options) as conn:
            assert (await conn.receive()).data == "later"
        assert server.peak == 1
        assert server.connections == 2
    [ended, _] = events.of(wsclient.Disconnected)
    assert ended.code in (1001, 1006)
    if ended.code == 1006:
        assert ended.cause.kind is DisconnectKind.HEARTBEAT
    [scheduled] = events.of(wsclient.ReconnectScheduled)
    assert isinstance(scheduled.decision, Reconnect)
    assert 0 <= scheduled.delay <= 5
    assert events.names() == [
        "Connected",
        "Disconnected",
        "ReconnectScheduled",
        "Connected",
        "Disconnected",
    ]
    assert_clean(loop_errors)


async def test_cancelling_the_iterating_task_during_a_reconnect(
    fault_server: StartServer, options: dict[str, Any], events: Events, loop_errors: LoopErrors
) -> None:
    server = await fault_server([[Send("first"), Close(1011)], [Send("second"), Hold()]])
    got: list[str] = []
    async with wsclient.connect(server.url, **options) as conn:
        consumer = asyncio.create_task(drain(conn, got))
        await events.wait_count(wsclient.ReconnectScheduled, 1)
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer
        assert state_of(conn) in (State.WAITING, State.CONNECTING, State.CONNECTED)
        assert (await conn.receive()).data == "second"  # the connection carried on
        assert state_of(conn) is State.CONNECTED
    assert got == ["first"]
    assert state_of(conn) is State.CLOSED
    assert_clean(loop_errors)


async def test_cancelling_the_task_that_owns_the_connection_closes_it(
    fault_server: StartServer, options: dict[str, Any], events: Events, loop_errors: LoopErrors
) -> None:
    server = await fault_server([[Send("first"), Hold()]])
    got: list[str] = []
    conns: list[wsclient.Connection] = []
    received = asyncio.Event()

    async def owner() -> None:
        async with wsclient.connect(server.url, **options) as conn:
            conns.append(conn)
            async for msg in conn:
                got.append(msg.data)
                received.set()

    task = asyncio.create_task(owner())
    async with asyncio.timeout(5):
        await received.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [conn] = conns
    assert conn.state is State.CLOSED
    [ended] = events.of(wsclient.Disconnected)
    assert (ended.code, ended.cause.kind) == (1000, DisconnectKind.USER)
    assert server.connections == 1
    assert_clean(loop_errors)


async def test_on_connect_raising_fails_cleanly(
    fault_server: StartServer, options: dict[str, Any], events: Events, loop_errors: LoopErrors
) -> None:
    server = await fault_server([[Send("first"), Hold()]], then=[Send("never")])

    async def subscribe(conn: wsclient.Connection) -> None:
        await conn.send_str("subscribe")
        raise ValueError("bad subscription")

    async with wsclient.connect(server.url, on_connect=subscribe, **options) as conn:
        await conn.send_str("buffered")
        with pytest.raises(ValueError, match="bad subscription"):
            await drain(conn, [])
        assert conn.state is State.FAILED
        with pytest.raises(InvalidState):
            await conn.send_str("after")
    assert conn.unsent == ["buffered"]  # never flushed: on_connect did not succeed
    assert events.names() == ["Connected", "Disconnected", "GaveUp"]
    assert server.connections == 1
    assert server.received[0] == ["subscribe"]
    assert_clean(loop_errors)
