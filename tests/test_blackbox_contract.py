"""Black-box tests of wsclient's promises (the decision table in the documentation, README,
public docstrings).

Every test talks to a real ``FaultServer`` on 127.0.0.1 and runs its waits in
virtual time (``FakeClock``); nothing here knows how the client is built.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
import tenacity
from yarl import URL

import wsclient
from wsclient import (
    BufferFull,
    Connected,
    ConnectionClosed,
    Disconnect,
    Disconnected,
    DisconnectKind,
    Fail,
    FatalClose,
    GaveUp,
    HandshakeRejected,
    HoldingOff,
    HoldOff,
    Initiator,
    InvalidState,
    Reconnect,
    ReconnectPolicy,
    ReconnectScheduled,
    RetriesExhausted,
    State,
    Stop,
    Uniform,
    WSClientError,
)
from wsclient.testing import (
    Close,
    CloseFrame,
    Drop,
    FakeClock,
    FaultServer,
    Hold,
    Raw,
    Receive,
    Reject,
    Reset,
    Send,
    Step,
)

from .conftest import ENDS, Events, state_of

GUARD = 5.0  # real seconds any single scenario may take


class MaxRandom(random.Random):
    """Every draw at the top of its range: jittered delays hit their bounds."""

    def random(self) -> float:
        return 1.0 - 2.0**-53


class MinRandom(random.Random):
    """Every draw at the bottom of its range."""

    def random(self) -> float:
        return 0.0


async def advance_until(clock: FakeClock, predicate: Callable[[], bool]) -> None:
    """Drive a manual clock: jump to the next deadline until ``predicate()``."""
    async with asyncio.timeout(GUARD):
        while not predicate():
            pending = clock.pending
            if pending:
                clock.advance(max(0.0, pending[0] - clock.now()))
            await asyncio.sleep(0.005)


async def collect(conn: wsclient.Connection, into: list[Any]) -> None:
    async with asyncio.timeout(GUARD):
        async for msg in conn:
            into.append(msg.data)


async def open_and_close(url: URL, **options: Any) -> None:
    async with wsclient.connect(url, **options):
        pass


def opts(clock: FakeClock, rec: Events | None = None, **extra: Any) -> dict[str, Any]:
    options: dict[str, Any] = {"clock": clock, "rng": random.Random(7), "policy": ENDS}
    if rec is not None:
        options["on_event"] = rec
    options.update(extra)
    return options


# --------------------------------------------------------------------------
# Policy: a pure table


def _expected_kind(code: int) -> type[Any]:
    if code == 1013:
        return HoldOff
    if code in (1000, 1001, 1005, 1006, 1011, 1012, 1014) or 3000 <= code <= 4999:
        return Reconnect
    return Fail


def test_default_policy_decides_every_close_code() -> None:
    policy = ReconnectPolicy.default()
    wrong = []
    for code in range(65536):
        decision = policy.decide(Disconnect(code))
        if type(decision) is not _expected_kind(code):
            wrong.append((code, decision))
    assert wrong == []
    restart = policy.decide(Disconnect(1012, "restart"))
    assert isinstance(restart, Reconnect)
    assert restart.wait == Uniform(5, 30)
    later = policy.decide(Disconnect(1013))
    assert isinstance(later, HoldOff)
    assert later.wait == wsclient.Doubling(30, 120, 600)


def test_with_rule_returns_a_new_policy_and_the_newest_rule_wins() -> None:
    base = ReconnectPolicy.default()
    custom = base.with_rule(4004, Fail("unknown session")).with_rule(
        range(4100, 4200), Reconnect(Uniform(1, 3))
    )
    layered = custom.with_rule(range(4000, 4010), Stop("newest"))
    assert custom is not base
    assert isinstance(base.decide(Disconnect(4004)), Reconnect)
    assert custom.decide(Disconnect(4004)) == Fail("unknown session")
    assert custom.decide(Disconnect(4150)) == Reconnect(Uniform(1, 3))
    assert isinstance(custom.decide(Disconnect(4200)), Reconnect)
    assert custom.decide(Disconnect(4200)) != Reconnect(Uniform(1, 3))
    assert layered.decide(Disconnect(4004)) == Stop("newest")
    assert custom.decide(Disconnect(4004)) == Fail("unknown session")
    # A server's 1000 reconnects; a stream that ends on purpose says so.
    assert isinstance(base.decide(Disconnect(1000)), Reconnect)
    assert isinstance(base.decide(Disconnect(1001)), Reconnect)
    assert isinstance(base.decide(Disconnect(1002)), Fail)
    assert base.with_rule(1000, Stop()).decide(Disconnect(1000)) == Stop()
    assert not hasattr(ReconnectPolicy, "persistent")


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, Fail),
        (401, Fail),
        (403, Fail),
        (404, Fail),
        (410, Fail),
        (302, Fail),
        (429, HoldOff),
        (500, Reconnect),
        (502, Reconnect),
        (503, Reconnect),
    ],
)
def test_handshake_status_decisions(status: int, kind: type[Any]) -> None:
    decision = ReconnectPolicy.default().decide(
        Disconnect(kind=DisconnectKind.HANDSHAKE, status=status)
    )
    assert type(decision) is kind


def test_transport_errors_reconnect_but_tls_fails_and_user_close_stops() -> None:
    policy = ReconnectPolicy.default()
    for kind in (
        DisconnectKind.DNS,
        DisconnectKind.REFUSED,
        DisconnectKind.RESET,
        DisconnectKind.TIMEOUT,
    ):
        assert isinstance(policy.decide(Disconnect(kind=kind)), Reconnect), kind
    for kind in (DisconnectKind.LOST, DisconnectKind.HEARTBEAT):
        assert isinstance(policy.decide(Disconnect(1006, kind=kind)), Reconnect), kind
    assert isinstance(policy.decide(Disconnect(kind=DisconnectKind.TLS)), Fail)
    # A close the application asked for always stops, whatever the table says.
    assert isinstance(policy.decide(Disconnect(1000, kind=DisconnectKind.USER)), Stop)
    reconnecting = policy.with_rule(range(1000, 5000), Reconnect())
    assert isinstance(reconnecting.decide(Disconnect(4000, kind=DisconnectKind.USER)), Stop)


# --------------------------------------------------------------------------
# Backoff, seen through the events of a live connection


async def test_standard_backoff_is_exponential_and_capped_at_60() -> None:
    clock = FakeClock()
    rec = Events(clock)
    async with FaultServer(then=[Drop()], clock=clock) as server:
        conn = wsclient.connect(
            server.url, **opts(clock, rec, rng=MaxRandom(), stop=tenacity.stop_after_attempt(8))
        )
        with pytest.raises(RetriesExhausted):
            async with conn:
                await collect(conn, [])
    delays = [e.delay for e in rec.of(ReconnectScheduled)]
    assert delays[:6] == pytest.approx([5, 10, 20, 40, 60, 60])


async def test_standard_backoff_uses_full_jitter() -> None:
    samples: list[tuple[int, float]] = []
    for seed in range(4):
        clock = FakeClock()
        rec = Events(clock)
        async with FaultServer(then=[Reject(500)], clock=clock) as server:
            conn = wsclient.connect(
                server.url,
                **opts(clock, rec, rng=random.Random(seed), stop=tenacity.stop_after_attempt(8)),
            )
            with pytest.raises(RetriesExhausted):
                async with conn:
                    await collect(conn, [])
        samples += list(enumerate(e.delay for e in rec.of(ReconnectScheduled)))
    bounds = [5, 10, 20, 40, 60, 60, 60, 60]
    assert len(samples) >= 20
    assert all(0 <= delay <= bounds[i] + 1e-9 for i, delay in samples)
    # full jitter: the whole range is used, not just its upper half
    assert any(delay < bounds[i] / 2 for i, delay in samples if i >= 2)
    assert max(delay for i, delay in samples if i >= 3) > 10


@pytest.mark.parametrize(("rng", "expected"), [(MinRandom(), 5.0), (MaxRandom(), 30.0)])
async def test_1012_waits_5_to_30_seconds(rng: random.Random, expected: float) -> None:
    clock = FakeClock()
    rec = Events(clock)
    script: list[list[Step]] = [[Send("a"), Close(1012, "restart")], [Send("b"), Close(1000)]]
    async with FaultServer(script, clock=clock) as server:
        got: list[Any] = []
        async with wsclient.connect(server.url, **opts(clock, rec, rng=rng)) as conn:
            await collect(conn, got)
    assert got == ["a", "b"]
    [scheduled] = rec.of(ReconnectScheduled)
    assert scheduled.delay == pytest.approx(expected)
    assert isinstance(scheduled.decision, Reconnect)
    assert clock.now() == pytest.approx(expected, abs=1e-3)


async def test_1012_does_not_feed_the_exponential_curve() -> None:
    clock = FakeClock()
    rec = Events(clock)
    script: list[list[Step]] = [
        [Close(1012)],
        [Close(1012)],
        [Close(1012)],
        [Drop()],
        [Drop()],
        [Close(1000)],
    ]
    async with (
        FaultServer(script, clock=clock) as server,
        wsclient.connect(server.url, **opts(clock, rec, rng=MaxRandom())) as conn,
    ):
        await collect(conn, [])
    delays = [e.delay for e in rec.of(ReconnectScheduled)]
    assert delays == pytest.approx([30, 30, 30, 5, 10])


@pytest.mark.parametrize(
    ("rng", "expected"),
    [(MinRandom(), [30, 60, 120, 240, 480, 600]), (MaxRandom(), [120, 240, 480, 600, 600, 600])],
)
async def test_1013_holds_off_doubling_up_to_ten_minutes(
    rng: random.Random, expected: list[float]
) -> None:
    clock = FakeClock()
    rec = Events(clock)
    async with (
        FaultServer(then=[Close(1013, "busy")], clock=clock) as server,
        wsclient.connect(server.url, **opts(clock, rec, rng=rng)) as conn,
    ):
        await rec.wait_count(HoldingOff, len(expected))
        await conn.close()
        assert server.connections == len(expected)
    assert [e.delay for e in rec.of(HoldingOff)][: len(expected)] == pytest.approx(expected)
    assert not rec.of(GaveUp)


async def test_resume_ends_a_hold_off_at_once() -> None:
    clock = FakeClock(autojump=False)
    rec = Events(clock)
    script: list[list[Step]] = [[Close(1013)], [Send("back"), Hold()]]
    async with (
        FaultServer(script, clock=clock) as server,
        wsclient.connect(server.url, **opts(clock, rec)) as conn,
    ):
        await rec.wait_count(HoldingOff, 1)
        assert rec.of(HoldingOff)[0].delay >= 30
        before = clock.now()
        conn.resume()
        async with asyncio.timeout(GUARD):
            msg = await conn.receive()
        assert msg.data == "back"
        assert clock.now() == before
        assert server.connections == 2


@pytest.mark.parametrize("stable_after", [None, 5.0], ids=["default-30s", "5s"])
async def test_attempt_count_resets_only_after_stable_after(stable_after: float | None) -> None:
    clock = FakeClock()
    rec = Events(clock)
    short, long = (10, 31) if stable_after is None else (4, 6)
    # Hold answers the heartbeat's pings: the connection is up, not just open
    # (a peer silent past heartbeat + pong_timeout is dead, and never stable).
    script: list[list[Step]] = [
        [Drop()],
        [Drop()],
        [Hold(seconds=short), Drop()],  # up, but not long enough: the curve goes on
        [Hold(seconds=long), Drop()],  # stable: the curve starts over
        [Drop()],
        [Close(1000)],
    ]
    extra: dict[str, Any] = {} if stable_after is None else {"stable_after": stable_after}
    async with (
        FaultServer(script, clock=clock) as server,
        wsclient.connect(server.url, **opts(clock, rec, rng=MaxRandom(), **extra)) as conn,
    ):
        await collect(conn, [])
    delays = [e.delay for e in rec.of(ReconnectScheduled)]
    assert delays == pytest.approx([5, 10, 20, 5, 10])


async def test_rules_apply_to_a_live_connection() -> None:
    clock = FakeClock()
    rec = Events(clock)
    policy = (
        ReconnectPolicy.default()
        .with_rule(4000, Reconnect(tenacity.wait_fixed(2)))
        .with_rule(4004, Fail("unknown session"))
    )
    script: list[list[Step]] = [[Send("a"), Close(4000)], [Send("b"), Close(4004, "who?")]]
    async with FaultServer(script, clock=clock) as server:
        got: list[Any] = []
        conn = wsclient.connect(server.url, **opts(clock, rec, policy=policy))
        with pytest.raises(FatalClose) as info:
            async with conn:
                await collect(conn, got)
        assert server.connections == 2
    assert got == ["a", "b"]
    assert [e.delay for e in rec.of(ReconnectScheduled)] == pytest.approx([2])
    assert (info.value.code, info.value.reason) == (4004, "who?")


async def test_stop_ends_with_retries_exhausted() -> None:
    clock = FakeClock()
    rec = Events(clock)
    async with FaultServer(then=[Reject(500)], clock=clock) as server:
        conn = wsclient.connect(
            server.url, **opts(clock, rec, stop=tenacity.stop_after_attempt(3))
        )
        with pytest.raises(RetriesExhausted) as info:
            async with conn:
                await collect(conn, [])
        assert server.connections == 3
    assert info.value.attempts == 3
    assert info.value.cause.status == 500
    [gave_up] = rec.of(GaveUp)
    assert gave_up.attempts == 3
    assert conn.state is State.FAILED


async def test_refused_connection_retries_then_exhausts_without_leaking() -> None:
    clock = FakeClock()
    rec = Events(clock)
    async with FaultServer(clock=clock) as server:
        url = server.url.with_query(token="tok-31337")
    conn = wsclient.connect(url, **opts(clock, rec, stop=tenacity.stop_after_attempt(4)))
    with pytest.raises(RetriesExhausted) as info:
        async with conn:
            await collect(conn, [])
    assert info.value.attempts == 4
    assert info.value.cause.kind is DisconnectKind.REFUSED
    assert len(rec.of(ReconnectScheduled)) == 3
    assert all(0 <= e.delay <= 20 for e in rec.of(ReconnectScheduled))
    texts = [
        str(info.value),
        repr(info.value),
        info.value.cause.describe(),
        *map(repr, rec),
    ]
    assert [t for t in texts if "tok-31337" in t] == []


async def test_send_after_failure_raises_invalid_state() -> None:
    clock = FakeClock()
    async with FaultServer([[Close(1008)]], clock=clock) as server:
        conn = wsclient.connect(server.url, **opts(clock))
        with pytest.raises(FatalClose):
            async with conn:
                await collect(conn, [])
    assert conn.state is State.FAILED
    with pytest.raises(InvalidState):
        await conn.send_str("late")


async def test_never_gives_up_by_default() -> None:
    clock = FakeClock()
    rec = Events(clock)
    async with (
        FaultServer(then=[Reject(503)], clock=clock) as server,
        wsclient.connect(server.url, **opts(clock, rec)) as conn,
    ):
        await rec.wait_count(ReconnectScheduled, 40)
        assert conn.state is not State.FAILED
        await conn.close()
        assert server.connections >= 40
    assert not rec.of(GaveUp)
    assert all(e.delay <= 60 for e in rec.of(ReconnectScheduled))


async def test_429_holds_off_then_reconnects() -> None:
    clock = FakeClock()
    rec = Events(clock)
    script: list[list[Step]] = [[Reject(429, {"Retry-After": "7"})], [Send("x"), Close(1000)]]
    async with FaultServer(script, clock=clock) as server:
        got: list[Any] = []
        async with wsclient.connect(server.url, **opts(clock, rec)) as conn:
            await collect(conn, got)
    assert got == ["x"]
    assert len(rec.of(HoldingOff)) == 1


# --------------------------------------------------------------------------
# Transport normalization


async def test_close_frame_without_a_code_counts_as_1005_and_reconnects() -> None:
    clock = FakeClock()
    rec = Events(clock)
    script: list[list[Step]] = [[Send("a"), CloseFrame(None)], [Send("b"), Close(1000)]]
    async with FaultServer(script, clock=clock) as server:
        got: list[Any] = []
        async with wsclient.connect(server.url, **opts(clock, rec)) as conn:
            await collect(conn, got)
    assert got == ["a", "b"]
    assert [e.code for e in rec.of(Disconnected)] == [1005, 1000]
    assert rec.of(Disconnected)[0].initiated_by is Initiator.SERVER
    assert Disconnect.from_close_frame(0).code == 1005
    for wire in (1006, 5000):
        frame = Disconnect.from_close_frame(wire)
        assert (frame.code, frame.received_code) == (1002, wire)


@pytest.mark.parametrize("code", [999, 1004, 1005, 1006, 1015, 2999, 5000, 65535])
async def test_codes_never_allowed_on_the_wire_fail_as_protocol_error(code: int) -> None:
    clock = FakeClock()
    async with FaultServer([[Send("a"), CloseFrame(code)]], clock=clock) as server:
        got: list[Any] = []
        conn = wsclient.connect(server.url, **opts(clock))
        with pytest.raises(FatalClose) as info:
            async with conn:
                await collect(conn, got)
        assert server.connections == 1
    assert got == ["a"]
    assert info.value.code == 1002
    if code in (1006, 5000, 65535):
        assert info.value.received_code == code


@pytest.mark.parametrize(
    ("frame", "code", "extra"),
    [
        (b"\x81\x02\xff\xfe", 1007, {}),  # TEXT that is not UTF-8
        (b"\x83\x00", 1002, {}),  # reserved opcode
        (b"\xc1\x01a", 1002, {}),  # RSV1 without an extension
        (b"\x09\x00", 1002, {}),  # fragmented control frame
        (b"\x81\x7e\x01\x00" + b"x" * 256, 1009, {"max_msg_size": 64}),  # too big
        (b"\xc1\x04\xff\xff\xff\xff", 1002, {"compress": 15}),  # corrupt deflate
    ],
    ids=["bad-utf8", "opcode", "rsv1", "fragmented-ping", "too-big", "bad-deflate"],
)
async def test_locally_detected_bad_frames_fail(
    frame: bytes, code: int, extra: dict[str, Any]
) -> None:
    clock = FakeClock()
    rec = Events(clock)
    async with FaultServer([[Send("a"), Raw(frame)]], clock=clock) as server:
        got: list[Any] = []
        conn = wsclient.connect(server.url, **opts(clock, rec, **extra))
        with pytest.raises(FatalClose) as info:
            async with conn:
                await collect(conn, got)
        assert server.connections == 1
    assert got == ["a"]
    assert info.value.code == code
    assert rec.of(GaveUp)


@pytest.mark.parametrize("step", [Drop(), Reset()], ids=["drop", "reset"])
async def test_lost_transport_counts_as_1006_and_reconnects(step: Drop | Reset) -> None:
    clock = FakeClock()
    rec = Events(clock)
    script: list[list[Step]] = [[Send("a"), step], [Send("b"), Close(1000)]]
    async with FaultServer(script, clock=clock) as server:
        got: list[Any] = []
        async with wsclient.connect(server.url, **opts(clock, rec)) as conn:
            await collect(conn, got)
            assert conn.stats.last_close_code == 1000
    assert got == ["a", "b"]
    first = rec.of(Disconnected)[0]
    assert first.code == 1006
    assert first.initiated_by is Initiator.TRANSPORT


async def test_missed_pong_counts_as_1006_with_default_heartbeat() -> None:
    clock = FakeClock()
    rec = Events(clock)
    script: list[list[Step]] = [[Send("a"), Hold(pong=False)], [Send("b"), Close(1000)]]
    async with FaultServer(script, clock=clock) as server:
        got: list[Any] = []
        async with wsclient.connect(server.url, **opts(clock, rec)) as conn:
            await collect(conn, got)
    assert got == ["a", "b"]
    first = rec.of(Disconnected)[0]
    assert first.code == 1006
    # a ping after 20 s of silence, given up 10 s later
    assert rec.when(Disconnected) == pytest.approx(30, abs=0.5)


async def test_heartbeat_keeps_a_quiet_healthy_connection_and_can_be_off() -> None:
    clock = FakeClock()
    rec = Events(clock)
    script: list[list[Step]] = [
        [Send("a"), Hold(seconds=95), Send("b"), Close(1000)],
        [Send("c"), Hold(seconds=95, pong=False), Send("d"), Close(1000)],
    ]
    async with FaultServer(script, clock=clock) as server:
        got: list[Any] = []
        async with wsclient.connect(server.url, **opts(clock, rec)) as conn:
            await collect(conn, got)
            assert conn.stats.pongs >= 3
        async with wsclient.connect(server.url, **opts(clock, rec, heartbeat=None)) as conn:
            await collect(conn, got)
            assert conn.stats.pongs == 0
        assert server.connections == 2
    assert got == ["a", "b", "c", "d"]
    assert [e.code for e in rec.of(Disconnected)] == [1000, 1000]


# --------------------------------------------------------------------------
# Connection


async def test_iterates_across_reconnects_and_counts() -> None:
    clock = FakeClock()
    rec = Events(clock)
    script: list[list[Step]] = [
        [Send("a"), Send(b"bb"), Close(1001)],
        [Send("ccc"), Close(1000, "done")],
    ]
    async with FaultServer(script, clock=clock) as server:
        types: list[aiohttp.WSMsgType] = []
        data: list[Any] = []
        async with wsclient.connect(server.url, **opts(clock, rec)) as conn:
            async with asyncio.timeout(GUARD):
                async for msg in conn:
                    types.append(msg.type)
                    data.append(msg.data)
            stats = conn.stats
            assert conn.state is State.CLOSED
    assert data == ["a", b"bb", "ccc"]
    assert types == [aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT]
    assert (stats.connects, stats.reconnects) == (2, 1)
    assert (stats.messages_in, stats.bytes_in) == (3, 6)
    assert stats.last_close_code == 1000
    assert [e.attempt for e in rec.of(Connected)] == [1, 2]
    assert [e.code for e in rec.of(Disconnected)] == [1001, 1000]


async def test_fail_decision_raises_fatal_close_and_never_reconnects() -> None:
    clock = FakeClock()
    rec = Events(clock)
    async with FaultServer([[Send("a"), Close(1008, "go away")]], clock=clock) as server:
        got: list[Any] = []
        conn = wsclient.connect(server.url, **opts(clock, rec))
        with pytest.raises(FatalClose) as info:
            async with conn:
                await collect(conn, got)
        await asyncio.sleep(0.05)
        assert server.connections == 1
    assert got == ["a"]
    assert (info.value.code, info.value.reason) == (1008, "go away")
    assert conn.state is State.FAILED
    for error in (
        BufferFull,
        ConnectionClosed,
        wsclient.ConnectionFailed,
        FatalClose,
        HandshakeRejected,
        InvalidState,
        RetriesExhausted,
    ):
        assert issubclass(error, WSClientError), error
    assert len(rec.of(GaveUp)) == 1


@pytest.mark.parametrize(
    "reject",
    [
        pytest.param(Reject(403), id="403"),
        pytest.param(Reject(404), id="404"),
        pytest.param(Reject(400), id="400"),
        pytest.param(Reject(302, {"Location": "/elsewhere"}), id="302"),
    ],
)
async def test_rejected_handshake_raises_handshake_rejected(reject: Reject) -> None:
    clock = FakeClock()
    rec = Events(clock)
    script: list[list[Step]] = [[Send("a"), Close(1011)], [reject]]
    async with FaultServer(script, then=[Send("redirected"), Close(1000)], clock=clock) as server:
        got: list[Any] = []
        conn = wsclient.connect(server.url, **opts(clock, rec))
        with pytest.raises(HandshakeRejected) as info:
            async with conn:
                await collect(conn, got)
        assert server.connections == 2
    assert got == ["a"]
    assert info.value.status == reject.status
    assert rec.of(GaveUp)
    with pytest.raises(HandshakeRejected):
        await conn.receive()  # it stays ended for good


async def test_receive_returns_one_message_then_connection_closed() -> None:
    clock = FakeClock()
    async with (
        FaultServer([[Send("one"), Send(b"two"), Close(1000)]], clock=clock) as server,
        wsclient.connect(str(server.url.with_scheme("http")), **opts(clock)) as conn,
    ):
        async with asyncio.timeout(GUARD):
            first = await conn.receive()
            second = await conn.receive()
            with pytest.raises(ConnectionClosed):
                await conn.receive()
    assert (first.type, first.data) == (aiohttp.WSMsgType.TEXT, "one")
    assert (second.type, second.data) == (aiohttp.WSMsgType.BINARY, b"two")


async def test_sends_go_out_at_once_when_connected() -> None:
    clock = FakeClock()
    script: list[list[Step]] = [[Receive(3), Send("done"), Hold()]]
    async with (
        FaultServer(script, clock=clock) as server,
        wsclient.connect(server.url, **opts(clock)) as conn,
    ):
        async with asyncio.timeout(GUARD):
            await conn.send_str("hello")
            await conn.send_bytes(b"\x00\x01")
            await conn.send_json({"op": "sub", "n": 1})
            assert (await conn.receive()).data == "done"
        stats = conn.stats
    text, raw, js = server.received[0]
    assert (text, raw) == ("hello", b"\x00\x01")
    assert isinstance(js, str)
    assert json.loads(js) == {"op": "sub", "n": 1}
    assert stats.messages_out == 3
    assert stats.bytes_out == 5 + 2 + len(js.encode())


async def test_outbox_flushes_in_order_after_on_connect() -> None:
    clock = FakeClock(autojump=False)
    rec = Events(clock)
    log: list[str] = []

    async def on_connect(conn: wsclient.Connection) -> None:
        log.append("on_connect")
        for _ in range(3):
            await asyncio.sleep(0)
        await conn.send_str(f"hello {len(log)}")

    script: list[list[Step]] = [
        [Receive(1), Send("first"), Drop()],
        [Send("second"), Receive(4), Send("ok"), Hold()],
    ]
    # Time is moved by hand, to the next deadline every few real milliseconds:
    # no timeout may be pending while a real handshake is in flight (under
    # load it would fire and cost the server's scripted connection).
    options = opts(clock, rec, on_connect=on_connect, open_timeout=None, heartbeat=None)
    async with (
        FaultServer(script, clock=clock) as server,
        wsclient.connect(server.url, **options) as conn,
    ):
        async with asyncio.timeout(GUARD):
            msg = await conn.receive()
            log.append(msg.data)
        await rec.wait_count(ReconnectScheduled, 1)
        assert conn.state is State.WAITING
        await conn.send_str("m1")
        await conn.send_json(["m2"])
        await conn.send_bytes(b"m3")
        assert conn.stats.buffered == 3
        await advance_until(clock, lambda: len(rec.of(Connected)) >= 2)
        async with asyncio.timeout(GUARD):
            while True:
                msg = await conn.receive()
                log.append(msg.data)
                if msg.data == "ok":
                    break
    assert server.received[0] == ["hello 1"]
    assert server.received[1][0] == "hello 3"
    assert server.received[1][1] == "m1"
    assert json.loads(server.received[1][2]) == ["m2"]
    assert server.received[1][3] == b"m3"
    assert log == ["on_connect", "first", "on_connect", "second", "ok"]


async def test_full_outbox_raises_buffer_full_and_keeps_what_it_took() -> None:
    clock = FakeClock(autojump=False)
    rec = Events(clock)
    async with (
        FaultServer([[Drop()]], clock=clock) as server,
        wsclient.connect(server.url, **opts(clock, rec, buffer_size=2)) as conn,
    ):
        await rec.wait_count(ReconnectScheduled, 1)
        await conn.send_str("m1")
        await conn.send_str("m2")
        with pytest.raises(BufferFull):
            await conn.send_str("m3")
        await conn.close()
        with pytest.raises(InvalidState):
            await conn.send_str("m4")
    assert list(conn.unsent) == ["m1", "m2"]
    assert issubclass(BufferFull, WSClientError)


async def test_close_during_backoff_returns_at_once_and_never_reconnects() -> None:
    clock = FakeClock(autojump=False)
    rec = Events(clock)
    async with FaultServer([[Send("a"), Close(1011)]], clock=clock) as server:
        got: list[Any] = []
        async with wsclient.connect(server.url, **opts(clock, rec)) as conn:
            task = asyncio.create_task(collect(conn, got))
            await rec.wait_count(ReconnectScheduled, 1)
            async with asyncio.timeout(1):
                await conn.close()
            async with asyncio.timeout(GUARD):
                await task  # iteration ends cleanly
            assert conn.state is State.CLOSED
            for _ in range(5):
                clock.advance(120)
                await asyncio.sleep(0.01)
        assert server.connections == 1
    assert got == ["a"]
    assert len(rec.of(Connected)) == 1


async def test_user_close_ends_iteration_cleanly() -> None:
    clock = FakeClock()
    rec = Events(clock)
    async with FaultServer([[Send("a"), Hold()]], clock=clock) as server:
        got: list[Any] = []
        async with wsclient.connect(server.url, **opts(clock, rec)) as conn:
            async with asyncio.timeout(GUARD):
                got.append((await conn.receive()).data)
            task = asyncio.create_task(collect(conn, got))
            await asyncio.sleep(0.01)
            async with asyncio.timeout(GUARD):
                await conn.close()
                await task
            assert state_of(conn) is State.CLOSED
            await asyncio.sleep(0.05)
        assert server.connections == 1
    disconnected = rec.of(Disconnected)
    assert [d.initiated_by for d in disconnected] == [Initiator.CLIENT]
    assert not rec.of(ReconnectScheduled)


async def test_reconnect_forces_a_fresh_connection() -> None:
    clock = FakeClock()
    rec = Events(clock)
    script: list[list[Step]] = [[Send("a"), Hold()], [Send("b"), Hold()]]
    async with (
        FaultServer(script, clock=clock) as server,
        wsclient.connect(server.url, **opts(clock, rec)) as conn,
    ):
        async with asyncio.timeout(GUARD):
            assert (await conn.receive()).data == "a"
            await conn.reconnect()
            assert (await conn.receive()).data == "b"
        assert server.connections == 2
        assert conn.stats.reconnects == 1
    assert rec.of(Disconnected)[0].initiated_by is Initiator.CLIENT


async def test_state_and_uptime() -> None:
    clock = FakeClock(autojump=False)
    rec = Events(clock)
    async with FaultServer([[Hold()]], clock=clock) as server:
        conn = wsclient.connect(server.url, **opts(clock, rec, heartbeat=None))
        assert state_of(conn) is State.IDLE
        async with conn:
            await rec.wait_count(Connected, 1)
            assert state_of(conn) is State.CONNECTED
            clock.advance(12.5)
            assert conn.stats.uptime == pytest.approx(12.5)
            assert conn.stats.state is State.CONNECTED
        assert conn.state is State.CLOSED
        assert conn.stats.uptime == 0


class Boom(Exception):
    pass


async def test_on_connect_error_is_raised_by_iteration() -> None:
    clock = FakeClock()
    calls: list[str] = []

    async def on_connect(conn: wsclient.Connection) -> None:
        calls.append("on_connect")
        raise Boom("no")

    async with FaultServer([[Send("a"), Hold()]], clock=clock) as server:
        got: list[Any] = []
        conn = wsclient.connect(server.url, **opts(clock, on_connect=on_connect))
        with pytest.raises(Boom):
            async with conn:
                await collect(conn, got)
        assert server.connections == 1
    assert calls == ["on_connect"]
    assert got == []


async def test_on_connect_timeout_drops_that_connection_and_its_messages() -> None:
    clock = FakeClock()
    rec = Events(clock)
    calls: list[int] = []

    async def on_connect(conn: wsclient.Connection) -> None:
        calls.append(1)
        if len(calls) == 1:
            await clock.sleep(20)  # longer than open_timeout=5

    script: list[list[Step]] = [[Send("a"), Hold()], [Send("b"), Close(1000)]]
    async with FaultServer(script, clock=clock) as server:
        got: list[Any] = []
        async with wsclient.connect(
            server.url, **opts(clock, rec, on_connect=on_connect, open_timeout=5)
        ) as conn:
            await collect(conn, got)
        assert server.connections == 2
    assert len(rec.of(ReconnectScheduled)) == 1
    assert got == ["b"]


# --------------------------------------------------------------------------
# Session, connect(), validation, errors, secrets


async def test_session_shares_one_unlimited_client_across_many_connections() -> None:
    clock = FakeClock()
    rec = Events(clock)
    async with FaultServer(then=[Send("hi"), Hold()], clock=clock) as server:
        async with wsclient.Session(clock=clock, on_event=rec, heartbeat=None) as session:
            client = session.client()
            assert session.client() is client
            assert client.connector is not None
            assert client.connector.limit == 0
            conns = [session.connect(server.url) for _ in range(110)]
            for conn in conns:
                conn.open()
            async with asyncio.timeout(GUARD):
                msgs = await asyncio.gather(*(c.receive() for c in conns))
            assert [m.data for m in msgs] == ["hi"] * 110
            assert server.connections == 110
            assert len(rec.of(Connected)) == 110
        assert all(c.state is State.CLOSED for c in conns)
        assert client.closed


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/", "file:///tmp/x", "127.0.0.1:80", ""])
async def test_bad_url_raises_value_error_before_io(url: str) -> None:
    with pytest.raises(ValueError, match=r"(?i)url|scheme"):
        wsclient.connect(url)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("buffer_size", -1),
        ("heartbeat", 0),
        ("heartbeat", -5.0),
        ("pong_timeout", 0),
        ("stable_after", -1.0),
        ("max_queue", 0),
        ("open_timeout", -1.0),
        ("close_timeout", -1.0),
        ("max_msg_size", -1),
        ("compress", 3),
    ],
)
async def test_option_out_of_range_raises_value_error_naming_it(name: str, value: Any) -> None:
    clock = FakeClock()
    async with FaultServer(clock=clock) as server:
        with pytest.raises(ValueError, match=name):
            await open_and_close(server.url, clock=clock, **{name: value})
        with pytest.raises(ValueError, match=name):
            wsclient.Session(**{name: value})
        assert server.connections == 0


@pytest.mark.parametrize("auth", ["userinfo", "header"])
async def test_secrets_never_leak(caplog: pytest.LogCaptureFixture, auth: str) -> None:
    caplog.set_level(logging.DEBUG)
    token, password, bearer = "tok-9f8e7d", "pw-1a2b3c", "bearer-5x6y7z"
    clock = FakeClock()
    rec = Events(clock)
    script: list[list[Step]] = [[Send("a"), Close(1011, "oops")], [Reject(401)]]
    async with FaultServer(script, clock=clock) as server:
        url: URL = server.url.with_path("/feed").with_query(token=token)
        headers: dict[str, str] = {}
        if auth == "userinfo":
            url = url.with_user("alice").with_password(password)
        else:
            headers["Authorization"] = f"Bearer {bearer}"
        conn = wsclient.connect(url, **opts(clock, rec, headers=headers))
        with pytest.raises(HandshakeRejected) as info:
            async with conn:
                await collect(conn, [])
        # the secrets did reach the server
        assert token in server.requests[0].path_qs
        assert "Authorization" in server.requests[0].headers
        if auth == "header":
            assert bearer in server.requests[0].headers["Authorization"]
    server_side = ("aiohttp.access", "aiohttp.server", "aiohttp.web")
    client_logs = [r for r in caplog.records if not r.name.startswith(server_side)]
    seen = [
        str(info.value),
        repr(info.value),
        repr(conn),
        str(conn.url),
        repr(conn.stats),
        *map(repr, rec),
        *(e.cause.describe() for e in rec.of(GaveUp)),
        *(r.getMessage() for r in client_logs),
        *(repr(r.args) for r in client_logs),
    ]
    leaks = [text for text in seen for s in (token, password, bearer) if s in text]
    assert leaks == []
    assert len(rec.of(Connected)) == 1
    assert "127.0.0.1" in rec.of(Connected)[0].url
