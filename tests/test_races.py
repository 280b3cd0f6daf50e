"""Tier 2: the real connection over scripted fake sockets (tests/fakes.py) on
the fake clock. The races and cancellation corners that loopback reaches only
by luck are set up exactly here: close() in every phase, a rotation whose
successor fails or dies before adoption, a reply that comes with a close
frame, writes that fail under on_connect or a flush."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiohttp import WSMessage, WSMsgType

import wsclient
from wsclient import Connected, Disconnected, DisconnectKind, HoldingOff, ReconnectScheduled
from wsclient.testing import FakeClock

from .conftest import Events, wsclient_tasks
from .fakes import FEED_URL, FakeSocket, FakeTransport, fake_connection, until


@pytest.fixture
def transport() -> FakeTransport:
    return FakeTransport()


def close_frame(code: int) -> WSMessage:
    return WSMessage(WSMsgType.CLOSE, code, "")


def assert_all_ended(transport: FakeTransport) -> None:
    assert [sock.closed for sock in transport.opened] == [True] * len(transport.opened)
    assert wsclient_tasks() == []


# -- close() in every phase --------------------------------------------------------


async def test_close_while_the_handshake_hangs(
    transport: FakeTransport, options: dict[str, Any]
) -> None:
    handshake: asyncio.Future[FakeSocket] = asyncio.get_running_loop().create_future()
    transport.add(handshake)
    async with fake_connection(transport, options, open_timeout=None) as conn:
        await until(options["clock"], lambda: bool(transport.dials))
        await conn.close()
        assert conn.state is wsclient.State.CLOSED
    assert transport.opened == []
    assert wsclient_tasks() == []


async def test_close_while_on_connect_runs(
    transport: FakeTransport, options: dict[str, Any], events: Events
) -> None:
    sock = FakeSocket()
    transport.add(sock)
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def hangs(conn: wsclient.Connection) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with fake_connection(transport, options, on_connect=hangs, open_timeout=None) as conn:
        await started.wait()
        sock.feed("early")  # waits for on_connect: never yielded once it is cut short
        await conn.close()
        assert [m async for m in conn] == []
    assert cancelled.is_set()
    assert sock.close_code == 1000
    assert events.names() == ["Connected", "Disconnected"]
    assert_all_ended(transport)


async def test_close_while_the_outbox_flushes_keeps_what_was_not_written(
    transport: FakeTransport, options: dict[str, Any], events: Events
) -> None:
    clock: FakeClock = options["clock"]
    slow = FakeSocket(clock=clock, write_delay=1.0)
    transport.add(ConnectionRefusedError("down"), slow)
    async with fake_connection(transport, options) as conn:
        await events.wait_count(ReconnectScheduled, 1)
        for n in range(5):
            await conn.send_str(f"m{n}")
        await events.wait_count(Connected, 1)
        await until(clock, lambda: len(slow.sent) == 2)  # the flush is under way
        await conn.close()
        unsent = conn.unsent
    assert slow.close_code == 1000
    assert [*slow.sent, *unsent] == ["m0", "m1", "m2", "m3", "m4"]  # none lost, none twice
    assert len(slow.sent) in (2, 3)
    assert_all_ended(transport)


async def test_close_while_live(transport: FakeTransport, options: dict[str, Any]) -> None:
    sock = FakeSocket()
    transport.add(sock)
    async with fake_connection(transport, options) as conn:
        sock.feed("a")
        assert (await conn.receive()).data == "a"
        await conn.close(4000, "bye")
        with pytest.raises(wsclient.InvalidState):
            await conn.send_str("late")
    assert sock.close_code == 4000
    assert_all_ended(transport)


@pytest.mark.parametrize("code", [1011, 1013])
async def test_close_while_waiting_or_holding_off_returns_at_once(
    transport: FakeTransport, options: dict[str, Any], events: Events, code: int
) -> None:
    sock = FakeSocket()
    transport.add(sock)
    async with fake_connection(transport, options) as conn:
        sock.feed_close(code)
        await events.wait_count(ReconnectScheduled, 1)
        when = options["clock"].now()
        await conn.close()
        assert options["clock"].now() == when
    assert bool(events.of(HoldingOff)) is (code == 1013)
    assert len(transport.dials) == 1
    assert_all_ended(transport)


async def test_two_closes_at_once_while_the_peer_never_answers(
    transport: FakeTransport, options: dict[str, Any]
) -> None:
    sock = FakeSocket(answer_close=None)  # close_timeout (10 s, virtual) ends it
    transport.add(sock)
    async with fake_connection(transport, options) as conn:
        await until(options["clock"], lambda: conn.state is wsclient.State.CONNECTED)
        await asyncio.gather(conn.close(), conn.close(4001))
        assert options["clock"].now() >= 10
    assert (sock.close_code, sock.aborted) == (1000, True)
    assert_all_ended(transport)


async def test_close_while_a_rotation_sets_its_successor_up(
    transport: FakeTransport, options: dict[str, Any]
) -> None:
    first, second = FakeSocket(), FakeSocket()
    transport.add(first, second)
    calls: list[int] = []
    blocked = asyncio.Event()

    async def on_connect(conn: wsclient.Connection) -> None:
        calls.append(1)
        if len(calls) == 2:  # the successor's
            blocked.set()
            await asyncio.Event().wait()

    async with fake_connection(transport, options, on_connect=on_connect, max_age=60) as conn:
        await blocked.wait()
        await conn.close()
    assert first.close_code == 1000
    assert second.closed
    assert_all_ended(transport)


# -- rotation: its failures -------------------------------------------------------------


async def test_a_rotation_that_cannot_open_its_successor_reconnects(
    transport: FakeTransport,
    options: dict[str, Any],
    events: Events,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first, third = FakeSocket(), FakeSocket()
    transport.add(first, ConnectionRefusedError("refused"), third)
    async with fake_connection(transport, options, max_age=60) as conn:
        first.feed("a")
        assert (await conn.receive()).data == "a"
        await events.wait_count(Connected, 2)
        third.feed("c")
        assert (await conn.receive()).data == "c"
    [rotated, _] = events.of(Disconnected)
    assert rotated.cause.kind is DisconnectKind.ROTATE
    assert first.close_code == 1000
    assert "rotation failed" in caplog.text
    assert transport.opened == [first, third]


async def test_a_successor_that_dies_before_adoption_is_replaced_by_a_fresh_socket(
    transport: FakeTransport, options: dict[str, Any], events: Events
) -> None:
    clock: FakeClock = options["clock"]
    first = FakeSocket(answer_close=5, clock=clock)  # the old socket's close takes 5 s
    second, third = FakeSocket(), FakeSocket()
    transport.add(first, second, third)
    async with fake_connection(transport, options, max_age=60) as conn:
        await until(clock, lambda: first.close_code is not None)  # rotating: first closes
        second.feed("repeated by the successor")
        second.drop()  # and the successor dies before it is adopted
        await events.wait_count(Connected, 2)
        third.feed("fresh")
        assert (await conn.receive()).data == "fresh"
    assert transport.opened == [first, second, third]
    assert second.aborted
    assert_all_ended(transport)


async def test_a_successor_whose_on_connect_fails_is_never_adopted(
    transport: FakeTransport, options: dict[str, Any], events: Events
) -> None:
    first, second, third = FakeSocket(), FakeSocket(), FakeSocket()
    transport.add(first, second, third)
    calls: list[int] = []

    async def on_connect(conn: wsclient.Connection) -> None:
        calls.append(1)
        if len(calls) == 2:  # the successor's: its socket drops under it
            await conn.send_str("subscribe")
            second.drop()
            await conn.receive()

    async with fake_connection(transport, options, on_connect=on_connect, max_age=60) as conn:
        await events.wait_count(Connected, 2)
        third.feed("fresh")
        assert (await conn.receive()).data == "fresh"
    assert len(calls) == 3  # first, the successor that died, third
    assert transport.opened == [first, second, third]
    assert conn.state is wsclient.State.CLOSED


# -- what on_connect reads is never the application's ----------------------------------


async def test_a_reply_and_a_close_frame_in_one_read(
    transport: FakeTransport, options: dict[str, Any]
) -> None:
    first, second = FakeSocket(), FakeSocket()
    transport.add(first, second)
    snapshots: list[str] = []

    async def subscribe(conn: wsclient.Connection) -> None:
        await conn.send_str("subscribe")
        snapshots.append((await conn.receive()).data)

    options["policy"] = options["policy"].with_rule(
        1012, wsclient.Reconnect(wsclient.Uniform(1, 1))
    )
    async with fake_connection(transport, options, on_connect=subscribe) as conn:
        await until(options["clock"], lambda: first.sent == ["subscribe"])
        first.feed("snapshot 1", close_frame(1012))  # one read: the reply, then the close
        await until(options["clock"], lambda: second.sent == ["subscribe"])
        second.feed("snapshot 2", "delta", close_frame(1000))
        got = [m.data async for m in conn]
    assert got == ["delta"]
    assert snapshots[-1] == "snapshot 2"


async def test_what_the_socket_delivered_before_on_connect_returned_is_yielded_after_it(
    transport: FakeTransport, options: dict[str, Any]
) -> None:
    sock = FakeSocket()
    transport.add(sock)
    sock.feed("d1", "d2")  # there before on_connect even starts

    async def subscribe(conn: wsclient.Connection) -> None:
        await conn.send_str("subscribe")  # and returns without reading

    async with fake_connection(transport, options, on_connect=subscribe) as conn:
        assert [(await conn.receive()).data for _ in range(2)] == ["d1", "d2"]
        sock.feed_close(1000)
        assert [m async for m in conn] == []
    assert sock.sent == ["subscribe"]


# -- writes that fail --------------------------------------------------------------------


async def test_a_send_from_on_connect_on_a_dying_socket_reconnects_not_fails(
    transport: FakeTransport, options: dict[str, Any], events: Events
) -> None:
    first, second = FakeSocket(), FakeSocket()
    first.fail_writes = True  # the transport is closing; the reader has not seen it yet
    transport.add(first, second)
    seen: list[type[BaseException] | None] = []

    async def subscribe(conn: wsclient.Connection) -> None:
        try:
            await conn.send_str("subscribe")
        except wsclient.ConnectionClosed as exc:
            seen.append(type(exc))
            raise
        seen.append(None)

    async with fake_connection(transport, options, on_connect=subscribe) as conn:
        await events.wait_count(Connected, 2)
        second.feed("ok")
        assert (await conn.receive()).data == "ok"
    assert seen == [wsclient.ConnectionClosed, None]
    first_end = events.of(Disconnected)[0]
    assert (first_end.code, first_end.cause.kind) == (1006, DisconnectKind.LOST)
    assert second.sent == ["subscribe"]


async def test_a_write_that_fails_in_the_flush_goes_back_to_the_head(
    transport: FakeTransport, options: dict[str, Any], events: Events
) -> None:
    clock: FakeClock = options["clock"]
    flaky = FakeSocket(clock=clock, write_delay=1.0)
    good = FakeSocket()
    transport.add(ConnectionRefusedError("down"), flaky, good)
    async with fake_connection(transport, options) as conn:
        await events.wait_count(ReconnectScheduled, 1)
        for n in range(4):
            await conn.send_str(f"m{n}")
        await until(clock, lambda: len(flaky.sent) == 1)
        flaky.fail_writes = True  # m1 is being written: it fails
        flaky.drop()
        await events.wait_count(Connected, 2)
        await until(clock, lambda: len(good.sent) == 3)
        assert conn.stats.buffered == 0
    assert flaky.sent == ["m0"]
    assert good.sent == ["m1", "m2", "m3"]


async def test_an_on_event_close_stops_before_the_next_attempt(
    transport: FakeTransport, options: dict[str, Any], events: Events
) -> None:
    sock = FakeSocket()
    transport.add(sock)

    async def on_event(event: wsclient.Event) -> None:
        events(event)
        if isinstance(event, Disconnected):
            await conn.close()  # from the supervisor's own task: must not wait on itself

    options["on_event"] = on_event
    async with fake_connection(transport, options) as conn:
        sock.feed_close(1011)
        assert [m async for m in conn] == []
    assert events.names() == ["Connected", "Disconnected"]
    assert len(transport.dials) == 1
    assert_all_ended(transport)


async def test_events_name_no_secret_and_logs_stay_quiet_on_a_clean_life(
    transport: FakeTransport, options: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="wsclient")
    sock = FakeSocket()
    transport.add(sock)
    async with fake_connection(transport, options) as conn:
        sock.feed("x")
        assert (await conn.receive()).data == "x"
    assert caplog.records == []


async def test_an_idle_connection_holds_no_task_but_its_supervisor(
    transport: FakeTransport, options: dict[str, Any]
) -> None:
    sock = FakeSocket()
    transport.add(sock)
    clock: FakeClock = options["clock"]
    async with fake_connection(transport, options, heartbeat=20, stale_after=600) as conn:
        await until(clock, lambda: sock.pings == 3)  # three heartbeats went by, answered
        await until(clock, lambda: len(wsclient_tasks()) == 1)  # the last ping's task is done
        assert [t.get_name() for t in wsclient_tasks()] == [f"wsclient {FEED_URL}"]
        assert conn.state is wsclient.State.CONNECTED
    assert 60 <= clock.now() < 80
    assert_all_ended(transport)


async def test_the_heartbeat_works_on_a_clock_without_timers(
    transport: FakeTransport, options: dict[str, Any], events: Events
) -> None:
    fake: FakeClock = options["clock"]

    class Minimal:  # a user's clock: now() and sleep() only
        def now(self) -> float:
            return fake.now()

        async def sleep(self, seconds: float) -> None:
            await fake.sleep(seconds)

    silent, back = FakeSocket(pong=False), FakeSocket()
    transport.add(silent, back)
    async with fake_connection(transport, options, clock=Minimal(), heartbeat=20) as conn:
        back.feed("back")
        assert (await conn.receive()).data == "back"
    first = events.of(Disconnected)[0]
    assert (first.code, first.cause.kind) == (1006, DisconnectKind.HEARTBEAT)
    assert silent.pings == 1
    assert_all_ended(transport)


# -- who may close without waiting on itself ----------------------------------------


async def test_close_from_a_task_that_on_connect_started_ends_the_connection(
    transport: FakeTransport, options: dict[str, Any]
) -> None:
    first = FakeSocket()
    handshake: asyncio.Future[FakeSocket] = asyncio.get_running_loop().create_future()
    transport.add(first, handshake)  # the reconnect's handshake hangs
    go = asyncio.Event()
    closer: list[asyncio.Task[None]] = []

    async def close_later(conn: wsclient.Connection) -> None:
        await go.wait()
        await conn.close()

    def on_connect(conn: wsclient.Connection) -> None:
        if not closer:  # outlives on_connect: it is the application's code
            closer.append(asyncio.create_task(close_later(conn)))

    options["policy"] = options["policy"].with_rule(
        4000, wsclient.Reconnect(wsclient.Uniform(0, 0))
    )
    async with fake_connection(
        transport, options, on_connect=on_connect, open_timeout=None
    ) as conn:
        first.feed_close(4000)
        await until(options["clock"], lambda: len(transport.dials) == 2)  # dialling now
        go.set()
        await closer[0]
        assert conn.state is wsclient.State.CLOSED
    assert handshake.cancelled()
    assert_all_ended(transport)


async def test_close_from_on_stale_ends_the_connection(
    transport: FakeTransport, options: dict[str, Any], events: Events
) -> None:
    sock = FakeSocket()
    transport.add(sock)

    async def on_stale(conn: wsclient.Connection) -> bool:
        await conn.close(4000, "nothing came")  # from a helper the supervisor waits on
        return True

    async with fake_connection(transport, options, stale_after=10, on_stale=on_stale) as conn:
        assert [m async for m in conn] == []
    assert sock.close_code == 4000
    assert events.names() == ["Connected", "Stale", "Disconnected"]
    assert_all_ended(transport)


async def test_a_task_that_outlives_a_failed_on_connect_reads_the_next_socket(
    transport: FakeTransport, options: dict[str, Any]
) -> None:
    first, second = FakeSocket(), FakeSocket()
    transport.add(first, second)
    got: list[str] = []
    readers: list[asyncio.Task[None]] = []

    async def read_on(conn: wsclient.Connection) -> None:
        for _ in range(2):
            try:
                got.append((await conn.receive()).data)
                return
            except wsclient.ConnectionClosed:  # on_connect's socket dropped under it
                got.append("closed")

    async def on_connect(conn: wsclient.Connection) -> None:
        if not readers:  # the first on_connect starts a reader, then hangs
            readers.append(asyncio.create_task(read_on(conn)))
            await asyncio.Event().wait()

    async with fake_connection(transport, options, on_connect=on_connect, open_timeout=5):
        await until(options["clock"], lambda: len(transport.opened) == 2)
        second.feed("data")
        await readers[0]
    assert got == ["closed", "data"]  # then it reads like the application


# -- waits are cut only when asked, and only the wait under way ------------------------


async def test_reconnect_during_a_handshake_does_not_skip_the_next_hold_off(
    transport: FakeTransport, options: dict[str, Any], events: Events
) -> None:
    clock: FakeClock = options["clock"]
    handshake: asyncio.Future[FakeSocket] = asyncio.get_running_loop().create_future()
    sock, later = FakeSocket(), FakeSocket()
    transport.add(handshake, later)
    async with fake_connection(transport, options, open_timeout=None) as conn:
        await until(clock, lambda: len(transport.dials) == 1)
        await conn.reconnect()  # no wait to end: the attempt under way goes on
        handshake.set_result(sock)
        sock.feed_close(1013)
        await events.wait_count(Connected, 2)
        [holding] = events.of(HoldingOff)
        assert events.when(Connected, 1) - events.when(HoldingOff) == pytest.approx(holding.delay)
    assert holding.delay >= 30


# -- reading does not wait for the outbox ---------------------------------------------------


async def test_messages_flow_while_a_stuck_flush_holds_back_only_the_sends(
    transport: FakeTransport, options: dict[str, Any], events: Events
) -> None:
    clock: FakeClock = options["clock"]
    stuck = FakeSocket(clock=clock, write_delay=1e9)  # the server stopped reading
    transport.add(ConnectionRefusedError("down"), stuck)
    async with fake_connection(transport, options) as conn:
        await events.wait_count(ReconnectScheduled, 1)
        await conn.send_str("buffered")
        await events.wait_count(Connected, 1)
        stuck.feed("data")
        assert (await conn.receive()).data == "data"  # not held back by the flush
        await conn.send_str("later")  # waits behind "buffered", never overtakes it
        assert conn.unsent == ["later"]  # "buffered" is being written
        assert stuck.sent == []


# -- boundaries and backpressure ------------------------------------------------------


async def test_max_queue_bounds_the_messages_of_all_sockets_waiting_together(
    transport: FakeTransport, options: dict[str, Any]
) -> None:
    # Nothing is consumed: the first socket's three messages wait, so the
    # second socket's reader may add only one before it pauses (max_queue 4
    # in all); once the consumer crosses into its segment, it reads on.
    clock: FakeClock = options["clock"]
    first, second = FakeSocket(), FakeSocket()
    first.feed("a1", "a2", "a3")
    first.feed_close(1012)
    second.feed(*(f"b{n}" for n in range(1, 7)))
    transport.add(first, second)
    async with fake_connection(transport, options, max_queue=4) as conn:
        await until(clock, lambda: conn.stats.connects == 2 and conn.stats.messages_in == 4)
        await clock.sleep(5)
        assert conn.stats.messages_in == 4
        assert len(second.incoming) == 5
        stream = conn.stream()
        items = [await anext(stream) for _ in range(4)]
        assert [getattr(i, "data", i.__class__.__name__) for i in items] == [
            "a1", "a2", "a3", "Reconnected"
        ]  # fmt: skip
        rest = [getattr(await anext(stream), "data", None) for _ in range(6)]
        assert rest == [f"b{n}" for n in range(1, 7)]
        await conn.close()


# -- rotate(): make before break on demand ----------------------------------------


def seq_key(msg: Any) -> tuple[str, int]:
    return "s", int(msg.data)


async def test_rotate_loses_and_reorders_nothing_and_subscribes_before_breaking(
    transport: FakeTransport, options: dict[str, Any], events: Events
) -> None:
    # The server announced it will go away. The old socket delivers 1-7
    # (6 and 7 while the next one is set up); the next socket starts at 4.
    clock: FakeClock = options["clock"]
    old, new = FakeSocket(), FakeSocket()
    transport.add(old, new)
    seen_old_open: list[bool] = []
    hooks = iter(range(1, 3))

    async def on_connect(conn: wsclient.Connection) -> None:
        if next(hooks) == 2:  # (a successor's on_connect runs before it counts as connected)
            seen_old_open.append(old.close_code is None)
            new.feed("4", "5")
            old.feed("6", "7")
            new.feed("6", "7", "8")

    async with fake_connection(
        transport, options, on_connect=on_connect, sequence=seq_key
    ) as conn:
        await conn.subscribe("s", "sub s")
        old.feed("1", "2", "3", "4", "5")
        stream = conn.stream()
        got = [(await anext(stream)) for _ in range(5)]
        await conn.rotate()
        assert old.close_code == 1000
        new.feed("9")
        got += [(await anext(stream)) for _ in range(5)]
        await conn.close()
    data = [getattr(item, "data", type(item).__name__) for item in got]
    assert data == ["1", "2", "3", "4", "5", "6", "7", "Reconnected", "8", "9"]
    assert seen_old_open == [True]
    assert (old.sent, new.sent) == (["sub s"], ["sub s"])
    assert conn.stats.duplicates == 4  # 4-7 again on the new socket
    assert events.names() == [
        "Connected", "Disconnected", "ReconnectScheduled", "Connected", "Disconnected"
    ]  # fmt: skip
    [rotated, _] = events.of(Disconnected)
    assert (rotated.code, rotated.reason) == (1000, "rotation requested")
    assert clock.now() < 1  # no wait anywhere


async def test_rotate_needs_an_open_socket_and_joins_one_under_way(
    transport: FakeTransport, options: dict[str, Any], events: Events
) -> None:
    old, new = FakeSocket(), FakeSocket()
    transport.add(ConnectionRefusedError("down"), old, new)
    async with fake_connection(transport, options) as conn:
        with pytest.raises(wsclient.InvalidState, match="rotate"):
            await conn.rotate()  # still connecting
        await events.wait_count(Connected, 1)
        await until(options["clock"], lambda: conn.state is wsclient.State.CONNECTED)
        await asyncio.gather(conn.rotate(), conn.rotate())
        await events.wait_count(Connected, 2)
        await conn.close()
    assert len(transport.opened) == 2  # one rotation, not two
    assert (old.close_code, new.close_code) == (1000, 1000)


async def test_a_rotation_whose_next_socket_fails_reconnects(
    transport: FakeTransport, options: dict[str, Any], events: Events
) -> None:
    old, later = FakeSocket(), FakeSocket()
    transport.add(old, ConnectionRefusedError("refused"), later)
    async with fake_connection(transport, options) as conn:
        await events.wait_count(Connected, 1)
        await until(options["clock"], lambda: conn.state is wsclient.State.CONNECTED)
        await conn.rotate()
        await events.wait_count(Connected, 2)
        await conn.close()
    assert old.close_code == 1000
    assert transport.opened == [old, later]


async def test_a_drop_after_the_reader_paused_for_a_slow_consumer_says_so(
    transport: FakeTransport,
    options: dict[str, Any],
    events: Events,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The consumer stops for 30 s with max_queue waiting; the server's
    # keepalive drops the client that stopped reading. The log must not
    # blame the server alone.
    clock: FakeClock = options["clock"]
    sock = FakeSocket()
    sock.feed(*(f"m{n}" for n in range(5)))
    transport.add(sock)
    async with fake_connection(transport, options, max_queue=2) as conn:
        await until(clock, lambda: conn.stats.messages_in == 2)
        await clock.sleep(30)
        sock.drop()
        got = [(await conn.receive()).data for _ in range(5)]
        await events.wait_count(Disconnected, 1)
        await conn.close()
    assert got == [f"m{n}" for n in range(5)]
    [dropped] = events.of(Disconnected)
    assert dropped.code == 1006
    assert 30 <= dropped.paused < 31
    assert "the reader was paused 30" in caplog.text
    assert "servers drop clients that stop reading" in caplog.text


async def test_a_reader_that_never_paused_reports_no_pause(
    transport: FakeTransport, options: dict[str, Any], events: Events
) -> None:
    first, second = FakeSocket(), FakeSocket()
    first.feed("a", "b")
    first.feed_close(1001)
    transport.add(first, second)
    async with fake_connection(transport, options, max_queue=3) as conn:
        assert [(await conn.receive()).data for _ in range(2)] == ["a", "b"]
        await events.wait_count(Connected, 2)
        await conn.close()
    assert [d.paused for d in events.of(Disconnected)] == [0.0, 0.0]


# -- a server's own ping ----------------------------------------------------------


async def test_a_ping_message_is_sent_when_quiet_and_any_data_answers_it(
    transport: FakeTransport, options: dict[str, Any], events: Events
) -> None:
    # OKX closes unless the client sends "ping"; it answers "pong".
    clock: FakeClock = options["clock"]
    sock = FakeSocket(clock=clock)
    transport.add(sock)
    async with fake_connection(
        transport, options, heartbeat=20, pong_timeout=10, ping_message="ping"
    ) as conn:
        await until(clock, lambda: len(sock.sent) == 1)
        assert sock.sent_at == [20]
        sock.feed("pong")
        assert (await conn.receive()).data == "pong"  # the reply is data like any other
        await until(clock, lambda: len(sock.sent) == 2)
        assert sock.sent_at[1] == pytest.approx(40, abs=0.25)
        await events.wait_count(Disconnected, 1)  # no answer this time
        await conn.close()
    assert sock.sent == ["ping", "ping"]
    assert sock.pings == 0  # no WebSocket ping instead
    [lost] = events.of(Disconnected)
    assert lost.code == 1006
    assert lost.cause.kind is DisconnectKind.HEARTBEAT
    assert "no answer to the ping message within 10" in lost.cause.detail
    assert events.when(Disconnected) == pytest.approx(50, abs=0.25)


async def test_a_short_pause_is_reported_on_the_event_without_a_warning(
    transport: FakeTransport,
    options: dict[str, Any],
    events: Events,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A burst pauses the reader for moments: worth a number, not a warning.
    clock: FakeClock = options["clock"]
    sock = FakeSocket()
    sock.feed("a", "b", "c")
    transport.add(sock)
    async with fake_connection(transport, options, max_queue=2) as conn:
        await until(clock, lambda: conn.stats.messages_in == 2)
        await clock.sleep(2)
        sock.drop()
        assert [(await conn.receive()).data for _ in range(3)] == ["a", "b", "c"]
        await events.wait_count(Disconnected, 1)
        await conn.close()
    [dropped] = events.of(Disconnected)
    assert 2 <= dropped.paused < 3
    assert "the reader was paused" not in caplog.text


# -- ping() and protocol --------------------------------------------------------------


async def test_ping_measures_the_round_trip_on_the_clock(
    transport: FakeTransport, options: dict[str, Any]
) -> None:
    clock: FakeClock = options["clock"]
    sock = FakeSocket(pong=False)
    sock.protocol = "v2.feed"
    transport.add(sock)
    async with fake_connection(transport, options) as conn:
        await until(clock, lambda: conn.state is wsclient.State.CONNECTED)
        assert conn.protocol == "v2.feed"
        ping = asyncio.create_task(conn.ping())
        await clock.sleep(0.25)
        sock.feed(WSMessage(WSMsgType.PONG, b"", None))
        assert await ping == pytest.approx(0.25)
        with pytest.raises(TimeoutError, match="no pong within 10"):
            await conn.ping()
        await conn.close()
    assert [conn.protocol] == [None]  # no socket: none chosen
    with pytest.raises(wsclient.InvalidState, match="no open socket"):
        await conn.ping()


async def test_a_ping_whose_socket_ends_says_so(
    transport: FakeTransport, options: dict[str, Any]
) -> None:
    clock: FakeClock = options["clock"]
    sock = FakeSocket(pong=False)
    transport.add(sock)
    async with fake_connection(transport, options) as conn:
        await until(clock, lambda: conn.state is wsclient.State.CONNECTED)
        ping = asyncio.create_task(conn.ping())
        await clock.sleep(1)
        sock.drop()
        with pytest.raises(wsclient.ConnectionClosed, match="before its pong"):
            await ping
        await conn.close()


async def test_a_ping_message_finds_a_peer_that_stopped_reading(
    transport: FakeTransport, options: dict[str, Any], events: Events
) -> None:
    # Once its send buffer is full, a write to a peer that stopped reading
    # blocks: the ping message's write is bounded like a ping.
    class Stuck(FakeSocket):
        stuck = False

        async def send_str(self, data: str) -> None:
            if self.stuck:
                await asyncio.Event().wait()
            await super().send_str(data)

    sock = Stuck()
    transport.add(sock)
    extra = {"heartbeat": 5.0, "pong_timeout": 5.0, "ping_message": "ping"}
    async with fake_connection(transport, options, **extra) as conn:
        await events.wait_count(Connected, 1)
        sock.stuck = True
        await events.wait_count(Disconnected, 1)
        await conn.close()
    [lost] = events.of(Disconnected)
    assert lost.cause.kind is DisconnectKind.HEARTBEAT
    assert "could not be written within 5" in lost.cause.detail
    assert events.when(Disconnected) == pytest.approx(10, abs=0.3)


# -- the stream with a sequence key -----------------------------------------------


async def test_the_message_that_revealed_a_gap_survives_a_loop_left_on_the_gap(
    transport: FakeTransport, options: dict[str, Any], events: Events
) -> None:
    # The application breaks out on the Gap to resync, then reads on with a
    # new iterator: the message after the marker is still there.
    sock = FakeSocket()
    sock.feed("1", "2", "5", "6")
    transport.add(sock)
    async with fake_connection(transport, options, sequence=seq_key) as conn:
        got: list[Any] = []
        async for item in conn.stream():
            got.append(item)
            if isinstance(item, wsclient.Gap):
                break
        stream = conn.stream()
        got += [await anext(stream) for _ in range(2)]
        await conn.close()
    assert [getattr(i, "data", "gap") for i in got] == ["1", "2", "gap", "5", "6"]
