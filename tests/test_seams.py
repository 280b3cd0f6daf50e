"""Tier 3: the seams between one socket and the next, against real servers on
127.0.0.1: failover rounds, what on_connect reads, sends around a rotation or
a flush, decisions and text refused up front, close frames answered as RFC
6455 asks. Each test here failed before the fix it stands for."""

from __future__ import annotations

import asyncio
import json
import logging
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

import wsclient
from wsclient import (
    Connected,
    Disconnected,
    FatalClose,
    HoldingOff,
    HoldOff,
    Reconnect,
    ReconnectScheduled,
    Uniform,
)
from wsclient.testing import Close, CloseFrame, FakeClock, Hold, Raw, Receive, Reject, Send
from wsclient.testing.plugin import StartServer

from .conftest import ENDS, Events, unused_port


def text_frame(text: str) -> bytes:
    """A server-to-client TEXT frame (unmasked)."""
    payload = text.encode()
    assert len(payload) < 126
    return bytes([0x81, len(payload)]) + payload


def close_frame(code: int) -> bytes:
    return bytes([0x88, 2]) + struct.pack("!H", code)


# -- failover: the longest wait of a round ----------------------------------------


async def test_failover_never_honours_a_retry_after_early(
    fault_server: StartServer, options: dict[str, Any], events: Events, clock: FakeClock
) -> None:
    # A says come back in 300 s, B in 10 s: the client is back at A after 300 s.
    a = await fault_server([[Reject(429, {"Retry-After": "300"})]], then=[Send("a"), Hold()])
    b = await fault_server([[Reject(429, {"Retry-After": "10"})]], then=[Send("b"), Hold()])
    async with wsclient.connect([a.url, b.url], **options) as conn:
        assert (await conn.receive()).data == "a"
    [holding] = events.of(HoldingOff)
    assert 300 <= holding.delay <= 360
    assert events.when(Connected) >= 300
    assert (a.connections, b.connections) == (2, 1)


async def test_a_1012_fails_over_to_a_replica_at_once(
    fault_server: StartServer, options: dict[str, Any], events: Events, clock: FakeClock
) -> None:
    # uvicorn sends 1012 on every graceful shutdown: replica B is up meanwhile.
    a = await fault_server([[Send("a"), Close(1012)]], then=[Send("a again"), Hold()])
    b = await fault_server(then=[Send("b"), Hold()])
    async with wsclient.connect([a.url, b.url], **options) as conn:
        assert [(await conn.receive()).data for _ in range(2)] == ["a", "b"]
    [scheduled] = events.of(ReconnectScheduled)
    assert (scheduled.delay, scheduled.cause.code) == (0, 1012)
    assert clock.now() < 1


async def test_after_a_1012_the_restarting_endpoint_gets_its_5_to_30_seconds(
    fault_server: StartServer, options: dict[str, Any], events: Events, clock: FakeClock
) -> None:
    a = await fault_server([[Send("a"), Close(1012)]], then=[Send("a again"), Hold()])
    down = f"ws://127.0.0.1:{unused_port()}/"
    async with wsclient.connect([a.url, down], **options) as conn:
        assert [(await conn.receive()).data for _ in range(2)] == ["a", "a again"]
    delays = [e.delay for e in events.of(ReconnectScheduled)]
    assert delays[0] == 0  # to the replica at once; it is down
    assert 5 <= delays[1] <= 30  # back to A only after its restart window
    assert events.when(Connected, 1) >= 5


# -- what on_connect reads is its own ------------------------------------------------


async def _first_by_async_for(conn: wsclient.Connection) -> Any:
    async for msg in conn:
        return json.loads(msg.data)
    return None


async def _first_by_receive(conn: wsclient.Connection) -> Any:
    return json.loads((await conn.receive()).data)


async def _first_by_batches(conn: wsclient.Connection) -> Any:
    async for batch in conn.batches():
        return json.loads(batch[0].data)
    return None


async def _first_by_iter_json(conn: wsclient.Connection) -> Any:
    values: AsyncIterator[Any] = conn.iter_json()
    async for value in values:
        return value
    return None


@pytest.mark.parametrize(
    "first",
    [_first_by_async_for, _first_by_receive, _first_by_batches, _first_by_iter_json],
    ids=["async-for", "receive", "batches", "iter_json"],
)
async def test_every_way_of_reading_inside_on_connect_reads_its_own_socket(
    fault_server: StartServer,
    options: dict[str, Any],
    events: Events,
    first: Callable[[wsclient.Connection], Awaitable[Any]],
) -> None:
    server = await fault_server(
        [
            [Send('"old 1"'), Send('"old 2"'), Close(1012)],
            [Send('"welcome"'), Send('"data"'), Hold(seconds=1), Close(1000)],
        ]
    )
    replies: list[Any] = []
    replied = asyncio.Event()

    async def on_connect(conn: wsclient.Connection) -> None:
        if conn.stats.connects == 2:  # the old socket's messages are still unread
            replies.append(await first(conn))
            replied.set()

    async with wsclient.connect(server.url, on_connect=on_connect, **options) as conn:
        async with asyncio.timeout(5):
            await replied.wait()  # nobody reads the old messages meanwhile
        got = [json.loads(m.data) async for m in conn]
    assert replies == ["welcome"]
    assert got == ["old 1", "old 2", "data"]


async def test_a_reply_that_comes_with_a_close_frame_is_never_yielded(
    fault_server: StartServer, options: dict[str, Any]
) -> None:
    # The server answers the subscription and restarts in the same breath:
    # reply and close frame in one write, one read.
    server = await fault_server(
        [
            [Receive(1), Raw(text_frame("snapshot 1") + close_frame(1012)), Hold()],
            [Receive(1), Send("snapshot 2"), Send("delta"), Hold(seconds=1), Close(1000)],
        ]
    )
    snapshots: list[str] = []

    async def subscribe(conn: wsclient.Connection) -> None:
        await conn.send_str("subscribe")
        snapshots.append((await conn.receive()).data)

    async with wsclient.connect(server.url, on_connect=subscribe, **options) as conn:
        got = [m.data async for m in conn]
    assert got == ["delta"]  # never a snapshot, where the application expects deltas
    assert snapshots[-1] == "snapshot 2"  # (the first one, if on_connect got to it)
    assert server.received == [["subscribe"], ["subscribe"]]


# -- no send is stranded in the outbox ------------------------------------------------


async def _send_each_turn(
    conn: wsclient.Connection, sent: list[str], until: asyncio.Event
) -> None:
    """One message per turn of the event loop, until told to stop."""
    while not until.is_set():
        message = str(len(sent))
        await conn.send_str(message)
        sent.append(message)
        await asyncio.sleep(0)


async def _until(done: Callable[[], bool]) -> None:
    """Poll each turn of the loop (what is awaited happens in another process
    or on a clock the test moves), for at most 5 s."""
    async with asyncio.timeout(5):
        while not done():  # noqa: ASYNC110 - nothing to wait on but the loop
            await asyncio.sleep(0.001)


async def _until_received(server: Any, count: int) -> list[str | bytes]:
    def received() -> list[str | bytes]:
        return [m for messages in server.received for m in messages]

    await _until(lambda: len(received()) >= count)
    return received()


async def test_sends_around_a_rotation_are_never_stranded_nor_overtaken(
    fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    clock = FakeClock(autojump=False)  # rotations happen when the test says
    server = await fault_server(then=[Hold()])
    options.update(clock=clock, max_age=1.0, heartbeat=None, open_timeout=None)
    sent: list[str] = []
    stop = asyncio.Event()
    async with wsclient.connect(server.url, **options) as conn:
        await events.wait_count(Connected, 1)
        sender = asyncio.create_task(_send_each_turn(conn, sent, stop))
        for rotation in range(1, 4):
            # The rotation's timer, max_age ahead (confirming pings have
            # timers too, a moment after each burst of sends).
            await _until(lambda: any(due > clock.now() + 0.5 for due in clock.pending))
            clock.advance(max(clock.pending) - clock.now())
            await events.wait_count(Connected, rotation + 1)
        stop.set()
        await sender
        got = await _until_received(server, len(sent))
        assert conn.stats.buffered == 0
    assert got == sent
    assert server.connections == 4


async def test_sends_made_while_the_outbox_flushes_are_not_stranded(
    fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    server = await fault_server([[Receive(1), CloseFrame(4000)]], then=[Hold()])
    options["policy"] = ENDS.with_rule(4000, Reconnect(Uniform(0, 0)))
    sent: list[str] = []
    stop = asyncio.Event()
    sender: list[asyncio.Task[None]] = []

    def on_event(event: wsclient.Event) -> None:
        events(event)
        if isinstance(event, Disconnected):  # keep sending across the reconnect
            sender.append(asyncio.create_task(_send_each_turn(conn, sent, stop)))

    options["on_event"] = on_event
    async with wsclient.connect(server.url, **options) as conn:
        await conn.send_str("first")
        await events.wait_count(Connected, 2)
        for _ in range(100):  # the flush, and sends after it
            await asyncio.sleep(0)
        stop.set()
        await sender[0]
        got = await _until_received(server, len(sent) + 1)
        assert conn.stats.buffered == 0
    assert got == ["first", *sent]


# -- refused up front, not at the first close ----------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        lambda: Reconnect("reason"),  # type: ignore[arg-type]
        lambda: HoldOff("busy"),  # type: ignore[arg-type]
        lambda: Reconnect(5),  # type: ignore[arg-type]
        lambda: HoldOff(wait=[1, 2]),  # type: ignore[arg-type]
    ],
)
def test_a_wrong_wait_is_a_type_error_naming_it_when_the_decision_is_built(
    build: Callable[[], object],
) -> None:
    with pytest.raises(TypeError, match=r"\(wait=\.\.\.\) must be a wait strategy"):
        build()


def test_a_reason_given_as_wait_gets_a_hint() -> None:
    with pytest.raises(TypeError, match=r"a reason goes by name: Reconnect\(reason=\.\.\.\)"):
        Reconnect("server restarting")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="reason"):
        wsclient.Stop(1000)  # type: ignore[arg-type]


async def test_text_that_cannot_be_encoded_is_refused_at_send_str(
    fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    server = await fault_server([[Receive(1), Close(4000)]], then=[Receive(1), Hold()])
    async with wsclient.connect(server.url, **options) as conn:
        await events.wait_count(Connected, 1)
        with pytest.raises(ValueError, match=r"surrogates not allowed at position 4"):
            await conn.send_str("bad \udcff")  # connected
        await conn.send_str("good")
        await events.wait_count(ReconnectScheduled, 1)
        with pytest.raises(ValueError, match="must be valid UTF-8"):
            await conn.send_str("bad \udcff")  # reconnecting: not buffered either
        assert conn.stats.buffered == 0
        await conn.send_str("still good")
        await events.wait_count(Connected, 2)
        await _until_received(server, 2)
    assert server.received == [["good"], ["still good"]]
    assert conn.state is wsclient.State.CLOSED


# -- close frames answered as RFC 6455 asks -----------------------------------------------


@pytest.mark.parametrize("code", [1006, 1005, 1015, 999, 5000])
async def test_a_close_code_illegal_on_the_wire_is_answered_with_1002(
    fault_server: StartServer, options: dict[str, Any], code: int
) -> None:
    # Autobahn case 7.9.5 and its siblings: aiohttp's autoclose would say 1000.
    server = await fault_server([[CloseFrame(code)]])
    async with wsclient.connect(server.url, **options) as conn:
        with pytest.raises(FatalClose) as info:
            await conn.receive()
    assert (info.value.code, info.value.received_code) == (1002, code)
    assert server.closes == [1002]


@pytest.mark.parametrize("code", [1000, 1001, 1011, 4000])
async def test_a_valid_close_code_is_answered_with_1000(
    fault_server: StartServer, options: dict[str, Any], code: int
) -> None:
    server = await fault_server([[CloseFrame(code)]])
    options["policy"] = ENDS.with_rule(code, wsclient.Stop())
    async with wsclient.connect(server.url, **options) as conn:
        assert [m async for m in conn] == []
    assert server.closes == [1000]


# -- said once ------------------------------------------------------------------------------


async def test_tls_verification_off_is_logged_once_per_session(
    options: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="wsclient")
    async with wsclient.Session(ssl=False, **options) as session:
        for _ in range(100):
            session.connect("wss://127.0.0.1:1/")
    warnings = [r for r in caplog.records if "verification is off" in r.getMessage()]
    assert len(warnings) == 1
    wsclient.connect("wss://127.0.0.1:1/", ssl=False, **options)
    wsclient.connect("wss://127.0.0.1:1/", ssl=False, **options)
    warnings = [r for r in caplog.records if "verification is off" in r.getMessage()]
    assert len(warnings) == 3  # wsclient.connect(): a session of its own each
