"""The fault matrix: one test per way a connection can end, against real
sockets on 127.0.0.1 and virtual time. Each asserts the decision (events),
the delay scheduled (bounds), and that the client then recovers (a second
scripted connection delivers a message) or fails cleanly (the right error,
state FAILED, no task left behind)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import ssl
import struct
import sys
import traceback
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import pytest
import trustme
from aiohttp.test_utils import TestServer
from tenacity import stop_after_attempt
from yarl import URL

import wsclient
from wsclient import (
    ConnectionFailed,
    DisconnectKind,
    Fail,
    FatalClose,
    HandshakeRejected,
    HoldOff,
    Reconnect,
    RetriesExhausted,
    State,
    Stop,
)
from wsclient.testing import (
    Close,
    CloseFrame,
    Drop,
    FakeClock,
    FaultServer,
    Hold,
    Pause,
    Raw,
    Receive,
    Reject,
    Reset,
    Send,
    Step,
)
from wsclient.testing.plugin import StartServer

from .chaos import ChaosProxy, NewConnections
from .conftest import Events, drain, unused_port, wsclient_tasks

# -- close codes ------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    name: str
    ending: Step
    code: int  # Disconnected.code, and FatalClose.code on a Fail
    decision: type[Reconnect | HoldOff | Fail | Stop]
    delay: tuple[float, float] = (0.0, 0.0)  # bounds of the scheduled delay
    received: int | None = None  # FatalClose.received_code


def _close(code: int, decision: type[Reconnect | HoldOff | Fail | Stop], **kw: Any) -> Row:
    return Row(str(code), Close(code, "why"), code, decision, **kw)


STANDARD = (0.0, 5.0)
CLOSE_ROWS = [
    _close(1000, Stop),
    _close(1001, Reconnect, delay=STANDARD),
    *(_close(code, Fail) for code in (1002, 1003, 1007, 1008, 1009, 1010)),
    _close(1011, Reconnect, delay=STANDARD),
    _close(1012, Reconnect, delay=(5.0, 30.0)),
    _close(1013, HoldOff, delay=(30.0, 120.0)),
    _close(1014, Reconnect, delay=STANDARD),
    *(_close(code, Reconnect, delay=STANDARD) for code in (3000, 3500, 3999, 4000, 4500, 4999)),
    Row("no code", CloseFrame(None), 1005, Reconnect, STANDARD),
    # Codes never allowed on the wire; aiohttp's reader refuses 0, 999, 1004, 1005,
    # 1015, 1016 and 2999 itself (a WebSocketError, not a CLOSE): kept all the same.
    *(
        Row(f"wire {code}", CloseFrame(code), 1002, Fail, received=code)
        for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535)
    ),
    Row("reason of 124 bytes", CloseFrame(1000, b"x" * 124), 1002, Fail),
    Row("reason not UTF-8", CloseFrame(1000, b"\xff\xfe"), 1007, Fail),
]


@pytest.mark.parametrize("row", CLOSE_ROWS, ids=lambda r: r.name)
async def test_close_code(
    row: Row, fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    server = await fault_server([[Send("first"), row.ending], [Send("second"), Close(1000)]])
    got: list[str] = []
    async with wsclient.connect(server.url, **options) as conn:
        if row.decision is Fail:
            with pytest.raises(FatalClose) as info:
                await drain(conn, got)
            assert info.value.code == row.code
            assert info.value.received_code == row.received
            assert conn.state is State.FAILED
        else:
            await drain(conn, got)
            assert conn.state is State.CLOSED
    assert events.of(wsclient.Disconnected)[0].code == row.code
    if row.decision in (Fail, Stop):
        assert got == ["first"]
        assert server.connections == 1
        assert events.of(wsclient.ReconnectScheduled) == []
        assert [g.cause.code for g in events.of(wsclient.GaveUp)] == [row.code] * (
            row.decision is Fail
        )
    else:
        assert got == ["first", "second"]  # recovered
        assert server.connections == 2
        [scheduled] = events.of(wsclient.ReconnectScheduled)
        assert type(scheduled.decision) is row.decision
        assert row.delay[0] <= scheduled.delay <= row.delay[1]
        holds = [h.delay for h in events.of(wsclient.HoldingOff)]
        assert holds == ([scheduled.delay] if row.decision is HoldOff else [])
    assert wsclient_tasks() == []


# -- transport --------------------------------------------------------------------------


def standard_bound(attempt: int) -> float:
    """The largest standard-backoff delay for the ``attempt``-th try in a row."""
    return min(60.0, 5.0 * 2.0 ** (attempt - 1))


def assert_recovered_once(events: Events, code: int, got: list[str]) -> wsclient.Disconnected:
    """One Disconnected with ``code``, one Reconnect within 0-5 s, then 'second'."""
    assert got == ["first", "second"]
    first = events.of(wsclient.Disconnected)[0]
    assert first.code == code
    [scheduled] = events.of(wsclient.ReconnectScheduled)
    assert isinstance(scheduled.decision, Reconnect)
    assert 0 <= scheduled.delay <= 5
    assert wsclient_tasks() == []
    return first


@pytest.mark.parametrize("how", ["server drop", "server reset", "proxy cut", "proxy reset"])
async def test_a_lost_transport_reconnects(
    how: str, fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    endings: dict[str, Step] = {"server drop": Drop(), "server reset": Reset()}
    ending = endings.get(how, Hold())
    server = await fault_server([[Send("first"), ending], [Send("second"), Close(1000)]])
    got: list[str] = []
    async with (
        ChaosProxy(server.url.port or 0) as proxy,
        wsclient.connect(proxy.url(), **options) as conn,
    ):
        got.append((await conn.receive()).data)
        if how == "proxy cut":
            proxy.cut()
        elif how == "proxy reset":
            proxy.reset()
        await drain(conn, got)
    first = assert_recovered_once(events, 1006, got)
    assert first.cause.kind is DisconnectKind.LOST
    assert first.initiated_by is wsclient.Initiator.TRANSPORT


SERVER_PROCESS = """
import asyncio, sys
from aiohttp import web

async def handler(request):
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    await ws.send_str(sys.argv[2])
    async for _ in ws:
        pass
    return ws

async def main():
    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", int(sys.argv[1]), reuse_address=True).start()
    print("ready", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


@contextlib.asynccontextmanager
async def server_process(port: int, greeting: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """A WebSocket server in a process of its own on ``port`` (killed at the end)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SERVER_PROCESS, str(port), greeting, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(20):
            assert await process.stdout.readline() == b"ready\n"
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def test_a_server_killed_and_restarted_on_the_same_port(
    options: dict[str, Any], events: Events
) -> None:
    # Virtual time jumps when this process is idle, and a server in another
    # process may take real milliseconds to answer: no timer may run out
    # while the client waits for it (open_timeout, heartbeat), only backoffs.
    options.update(open_timeout=None, heartbeat=None)
    port = unused_port()
    got: list[str] = []
    conn = wsclient.connect(f"ws://127.0.0.1:{port}/", **options)
    try:
        async with server_process(port, "first") as process:
            conn.open()
            got.append((await conn.receive()).data)
            process.kill()  # SIGKILL: no close frame, no goodbye
            await process.wait()
            await events.wait_count(wsclient.ConnectFailed, 1)  # refused while it is down
        async with server_process(port, "second"):
            got.append((await conn.receive()).data)
            # Close while the server is up: killed first, it would be lost
            # again, and the reconnects made until close() would be counted.
            await conn.close()
    finally:
        await conn.close()
    assert got == ["first", "second"]
    assert events.of(wsclient.Disconnected)[0].code == 1006
    failed = events.of(wsclient.ConnectFailed)
    kinds = {f.cause.kind for f in failed}
    assert DisconnectKind.REFUSED in kinds
    assert kinds <= {DisconnectKind.REFUSED, DisconnectKind.RESET}
    for scheduled in events.of(wsclient.ReconnectScheduled):
        assert isinstance(scheduled.decision, Reconnect)
        assert 0 <= scheduled.delay <= standard_bound(scheduled.attempt)
    assert [e.attempt for e in events.of(wsclient.Connected)] == [1, len(failed) + 2]
    assert events.names()[-2:] == ["Connected", "Disconnected"]  # nothing failed after it
    assert wsclient_tasks() == []


HEARTBEAT, PONG_TIMEOUT = 20.0, 10.0


async def test_a_black_hole_is_found_by_the_heartbeat(
    fault_server: StartServer, options: dict[str, Any], events: Events, clock: FakeClock
) -> None:
    server = await fault_server([[Send("first"), Hold()], [Send("second"), Close(1000)]])
    options.update(heartbeat=HEARTBEAT, pong_timeout=PONG_TIMEOUT)
    got: list[str] = []
    async with (
        ChaosProxy(server.url.port or 0, clock=clock) as proxy,
        wsclient.connect(proxy.url(), **options) as conn,
    ):
        got.append((await conn.receive()).data)
        started = clock.now()
        proxy.blackhole()
        await drain(conn, got)
    first = assert_recovered_once(events, 1006, got)
    assert first.cause.kind is DisconnectKind.HEARTBEAT
    # A ping within a heartbeat of silence, sampled once per interval: at most
    # two intervals (see test_a_ping_goes_out_one_heartbeat_after_the_last_traffic).
    found = events.when(wsclient.Disconnected) - started
    assert HEARTBEAT + PONG_TIMEOUT <= found <= 2 * HEARTBEAT + PONG_TIMEOUT


async def test_a_peer_that_ignores_pings_counts_as_lost(
    fault_server: StartServer, options: dict[str, Any], events: Events, clock: FakeClock
) -> None:
    server = await fault_server([[Send("first"), Hold(pong=False)], [Send("second"), Close(1000)]])
    options.update(heartbeat=HEARTBEAT, pong_timeout=PONG_TIMEOUT)
    got: list[str] = []
    async with wsclient.connect(server.url, **options) as conn:
        await drain(conn, got)
    first = assert_recovered_once(events, 1006, got)
    assert first.cause.kind is DisconnectKind.HEARTBEAT
    assert events.when(wsclient.Disconnected) <= 2 * HEARTBEAT + PONG_TIMEOUT
    assert clock.sleeps[:3] == [10.0, HEARTBEAT, PONG_TIMEOUT]  # open_timeout, ping, pong wait


async def test_a_ping_goes_out_one_heartbeat_after_the_last_traffic(
    fault_server: StartServer, options: dict[str, Any], events: Events, clock: FakeClock
) -> None:
    server = await fault_server([[Send("first"), Pause(15), Send("tick"), Hold(pong=False)]])
    options.update(heartbeat=HEARTBEAT, pong_timeout=PONG_TIMEOUT)
    async with wsclient.connect(server.url, **options) as conn:
        await conn.receive()
        assert (await conn.receive()).data == "tick"
        last_traffic = clock.now()
        await events.wait_count(wsclient.Disconnected, 1)
    assert events.when(wsclient.Disconnected) - last_traffic <= HEARTBEAT + PONG_TIMEOUT


async def test_a_connection_that_never_answered_does_not_count_as_stable(
    fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    server = await fault_server(then=[Hold(pong=False)])

    async def on_event(event: wsclient.Event) -> None:
        events(event)
        if isinstance(event, wsclient.Connected) and len(events.of(wsclient.Connected)) > 4:
            await conn.close()  # it should have given up by now: end the loop

    options.update(on_event=on_event, stop=stop_after_attempt(3))
    conn = wsclient.connect(server.url, **options)
    async with conn:
        with pytest.raises(RetriesExhausted):
            await conn.receive()
    assert [e.cause.kind for e in events.of(wsclient.Disconnected)] == [
        DisconnectKind.HEARTBEAT
    ] * 3
    assert [s.attempt for s in events.of(wsclient.ReconnectScheduled)] == [1, 2]


@contextlib.contextmanager
def unaccepting_listener() -> Iterator[socket.socket]:
    """A listening socket whose accept queue is full: a connect to it hangs
    (the kernel drops the SYN), like a host behind a firewall that drops."""
    listener = socket.socket()
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        for _ in range(2):  # listen(0) queues one connection; the second one hangs
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(listener.getsockname())
            fillers.append(filler)
        yield listener
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def assert_timed_out_once(events: Events, got: list[str]) -> None:
    """One connect given up at open_timeout (10 s), one Reconnect within 0-5 s,
    then 'second'."""
    assert got == ["second"]
    [failed] = events.of(wsclient.ConnectFailed)
    assert failed.cause.kind is DisconnectKind.TIMEOUT
    assert events.when(wsclient.ConnectFailed) == 10
    [scheduled] = events.of(wsclient.ReconnectScheduled)
    assert isinstance(scheduled.decision, Reconnect)
    assert 0 <= scheduled.delay <= 5


async def test_a_connect_that_hangs_times_out_and_retries(
    fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    server = await fault_server(then=[Send("second"), Close(1000)])
    with unaccepting_listener() as listener:
        port = listener.getsockname()[1]
        proxy = ChaosProxy(server.url.port or 0, port=port)

        async def on_event(event: wsclient.Event) -> None:
            events(event)
            if isinstance(event, wsclient.ConnectFailed):
                listener.close()  # the host comes back: a proxy to the server takes the port
                await proxy.listen()

        options.update(on_event=on_event, open_timeout=10)
        try:
            async with wsclient.connect(f"ws://127.0.0.1:{port}/", **options) as conn:
                got = [m.data async for m in conn]
        finally:
            await proxy.close()
    assert_timed_out_once(events, got)
    assert wsclient_tasks() == []


async def test_a_server_that_never_answers_the_handshake(
    fault_server: StartServer, options: dict[str, Any], events: Events, clock: FakeClock
) -> None:
    server = await fault_server(then=[Send("second"), Close(1000)])
    async with ChaosProxy(server.url.port or 0, clock=clock) as proxy:
        proxy.on_new = NewConnections.BLACKHOLE  # TCP accepted, the request swallowed

        def on_event(event: wsclient.Event) -> None:
            events(event)
            if isinstance(event, wsclient.ConnectFailed):
                proxy.on_new = NewConnections.FORWARD

        options.update(on_event=on_event, open_timeout=10)
        async with wsclient.connect(proxy.url(), **options) as conn:
            got = [m.data async for m in conn]
    assert_timed_out_once(events, got)
    assert server.connections == 1  # the swallowed handshake never reached it
    assert wsclient_tasks() == []


async def test_a_frame_stalled_halfway_is_found_by_the_heartbeat(
    fault_server: StartServer, options: dict[str, Any], events: Events, clock: FakeClock
) -> None:
    server = await fault_server(
        [[Send("first"), Receive(1), Send("x" * 1000), Hold()], [Send("second"), Close(1000)]]
    )
    options.update(heartbeat=HEARTBEAT, pong_timeout=PONG_TIMEOUT)
    got: list[str] = []
    async with (
        ChaosProxy(server.url.port or 0, clock=clock) as proxy,
        wsclient.connect(proxy.url(), **options) as conn,
    ):
        got.append((await conn.receive()).data)
        started = clock.now()
        proxy.stall(100)  # the header and 96 bytes of the 1000-byte frame, then nothing
        await conn.send_str("go")
        await drain(conn, got)
    [stalled, _] = proxy.finished
    assert stalled.down.budget == 0
    assert stalled.down.swallowed >= 1000 - 100
    first = assert_recovered_once(events, 1006, got)
    assert first.cause.kind is DisconnectKind.HEARTBEAT
    assert events.when(wsclient.Disconnected) - started <= 2 * HEARTBEAT + PONG_TIMEOUT


# -- handshake --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410])
async def test_a_client_error_handshake_fails_at_once(
    status: int, fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    reject = Reject(status, {"WWW-Authenticate": "Bearer", "Set-Cookie": "sid=1"})
    server = await fault_server([[reject]], then=[Send("never"), Close(1000)])
    async with wsclient.connect(server.url, **options) as conn:
        with pytest.raises(HandshakeRejected) as info:
            await conn.receive()
        assert conn.state is State.FAILED
    assert info.value.status == status
    assert info.value.headers.get("WWW-Authenticate") == "Bearer"
    assert "Set-Cookie" not in info.value.headers
    assert events.names() == ["ConnectFailed", "GaveUp"]
    assert events.of(wsclient.GaveUp)[0].cause.status == status
    assert server.connections == 1
    assert wsclient_tasks() == []


@dataclass(frozen=True)
class Retryable:
    name: str
    reject: Reject
    decision: type[Reconnect | HoldOff]
    delay: tuple[float, float]


RETRYABLE_HANDSHAKES = [
    Retryable("429", Reject(429), HoldOff, STANDARD),
    Retryable("429 Retry-After 7", Reject(429, {"Retry-After": "7"}), HoldOff, (7.0, 8.4)),
    Retryable(
        "429 Retry-After date",
        Reject(
            429,
            {
                "Retry-After": "Wed, 21 Oct 2015 07:28:40 GMT",
                "Date": "Wed, 21 Oct 2015 07:28:00 GMT",
            },
        ),
        HoldOff,
        (40.0, 48.0),
    ),
    Retryable(
        "429 Retry-After too long", Reject(429, {"Retry-After": "86400"}), HoldOff, (600, 600)
    ),
    Retryable(
        "429 Retry-After malformed", Reject(429, {"Retry-After": "soon"}), HoldOff, STANDARD
    ),
    *(Retryable(str(s), Reject(s), Reconnect, STANDARD) for s in (500, 502, 503, 504)),
    Retryable("503 Retry-After 20", Reject(503, {"Retry-After": "20"}), HoldOff, (20.0, 24.0)),
]


@pytest.mark.parametrize("case", RETRYABLE_HANDSHAKES, ids=lambda c: c.name)
async def test_a_retryable_handshake_failure_waits_then_recovers(
    case: Retryable, fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    server = await fault_server([[case.reject]], then=[Send("second"), Close(1000)])
    async with wsclient.connect(server.url, **options) as conn:
        assert [m.data async for m in conn] == ["second"]
    [failed] = events.of(wsclient.ConnectFailed)
    assert failed.cause.status == case.reject.status
    [scheduled] = events.of(wsclient.ReconnectScheduled)
    assert scheduled.cause.status == case.reject.status
    assert type(scheduled.decision) is case.decision
    assert case.delay[0] <= scheduled.delay <= case.delay[1]
    holds = [h.delay for h in events.of(wsclient.HoldingOff)]
    assert holds == ([scheduled.delay] if case.decision is HoldOff else [])
    assert server.connections == 2
    assert wsclient_tasks() == []


async def test_a_repeated_retry_after_zero_does_not_make_a_tight_loop(
    fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    server = await fault_server(
        [[Reject(503, {"Retry-After": "0"})]] * 8, then=[Send("up"), Close(1000)]
    )
    async with wsclient.connect(server.url, **options) as conn:
        assert [m.data async for m in conn] == ["up"]
    delays = [s.delay for s in events.of(wsclient.ReconnectScheduled)]
    assert len(delays) == 8
    assert sum(delays) >= 5.0, delays  # eight refusals in a row, zero seconds apart


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirect_is_refused_and_never_followed(
    status: int, fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    target = await fault_server(then=[Send("elsewhere"), Close(1000)])
    location = str(target.url.with_query(token="SEKRET"))
    server = await fault_server([[Reject(status, {"Location": location})]])
    async with wsclient.connect(server.url, **options) as conn:
        with pytest.raises(HandshakeRejected) as info:
            await conn.receive()
        assert conn.state is State.FAILED
    assert info.value.status == status
    assert info.value.headers["Location"].endswith("?token=***")
    assert target.connections == 0
    assert server.connections == 1
    assert events.names() == ["ConnectFailed", "GaveUp"]
    assert wsclient_tasks() == []


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def tls_server(ca: trustme.CA, clock: FakeClock) -> AsyncIterator[TlsServer]:
    """Start FaultServers that speak TLS with a certificate from ``ca``."""
    started: list[FaultServer] = []

    async def start(script: list[list[Step]], host: str = "127.0.0.1") -> FaultServer:
        fault = FaultServer(script, clock=clock)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(host).configure_cert(context)  # a certificate for ``host``
        server = TestServer(fault.app, host="127.0.0.1", scheme="https")
        await server.start_server(ssl=context)
        started.append(fault.attach(server))
        return fault

    yield start
    for fault in started:
        await fault.close()


class TlsServer(Protocol):
    def __call__(
        self, script: list[list[Step]], host: str = "127.0.0.1"
    ) -> Awaitable[FaultServer]: ...


def wss(server: FaultServer) -> URL:
    return server.url.with_scheme("wss")


async def test_a_wss_to_ws_downgrade_redirect_is_refused(
    tls_server: TlsServer,
    fault_server: StartServer,
    ca: trustme.CA,
    options: dict[str, Any],
    events: Events,
) -> None:
    target = await fault_server(then=[Send("in clear text"), Close(1000)])
    server = await tls_server([[Reject(302, {"Location": str(target.url)})]])
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    async with wsclient.connect(wss(server), ssl=trusting, **options) as conn:
        with pytest.raises(HandshakeRejected) as info:
            await conn.receive()
    assert info.value.status == 302
    assert server.connections == 1  # TLS and the request went through: the redirect did not
    assert target.connections == 0
    assert events.names() == ["ConnectFailed", "GaveUp"]


async def test_an_untrusted_certificate_fails_without_retry(
    tls_server: TlsServer, options: dict[str, Any], events: Events
) -> None:
    server = await tls_server([[Send("secure"), Close(1000)]])
    async with wsclient.connect(wss(server), **options) as conn:  # default: verify
        with pytest.raises(ConnectionFailed) as info:
            await conn.receive()
        assert conn.state is State.FAILED
    assert info.value.kind == "tls"
    assert events.names() == ["ConnectFailed", "GaveUp"]
    assert server.connections == 0  # no request was sent over the untrusted channel
    assert wsclient_tasks() == []


async def test_a_certificate_for_another_host_fails_without_retry(
    tls_server: TlsServer, ca: trustme.CA, options: dict[str, Any], events: Events
) -> None:
    server = await tls_server([[Send("secure"), Close(1000)]], host="feed.example")
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)  # a trusted CA, but the name does not match
    async with wsclient.connect(wss(server), ssl=trusting, **options) as conn:
        with pytest.raises(ConnectionFailed) as info:
            await conn.receive()
    assert info.value.kind == "tls"
    assert events.names() == ["ConnectFailed", "GaveUp"]
    assert server.connections == 0


async def test_a_trusted_certificate_connects(
    tls_server: TlsServer, ca: trustme.CA, options: dict[str, Any]
) -> None:
    server = await tls_server([[Send("secure"), Close(1000)]])
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    async with wsclient.connect(wss(server), ssl=trusting, **options) as conn:
        assert [m.data async for m in conn] == ["secure"]


async def test_turning_tls_verification_off_is_explicit_and_logged(
    tls_server: TlsServer, options: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    server = await tls_server([[Send("secure"), Close(1000)]])
    async with wsclient.connect(wss(server), ssl=False, **options) as conn:
        assert [m.data async for m in conn] == ["secure"]
    assert "TLS certificate verification is off" in caplog.text


# -- hostile payloads -------------------------------------------------------------------

MAX_MSG = 64 * 1024


def frame(first: int, payload: bytes, length: int | None = None) -> bytes:
    """A server frame (unmasked): ``first`` is FIN/RSV/opcode; ``length`` the
    length the header claims (the payload's own by default)."""
    claimed = len(payload) if length is None else length
    if claimed < 126:
        head = bytes([first, claimed])
    elif claimed < 1 << 16:
        head = bytes([first, 126]) + struct.pack("!H", claimed)
    else:
        head = bytes([first, 127]) + struct.pack("!Q", claimed)
    return head + payload


@functools.cache
def bomb(inflated: int = 32 * 1024 * 1024) -> bytes:
    """A permessage-deflate payload of ``inflated`` zero bytes: ~1000x smaller."""
    deflate = zlib.compressobj(wbits=-15)
    block = bytes(1 << 20)
    data = b"".join(deflate.compress(block) for _ in range(inflated // len(block)))
    data += deflate.flush(zlib.Z_SYNC_FLUSH)
    assert data.endswith(b"\x00\x00\xff\xff")
    return data[:-4]  # RFC 7692 §7.2.1: the tail is left off


@dataclass(frozen=True)
class Hostile:
    name: str
    data: bytes
    code: int  # FatalClose.code
    compress: int = 0
    send: str = ""  # or a message of this many bytes sent the ordinary way


HOSTILE = [
    Hostile("over max_msg_size", b"", 1009, send="x" * (MAX_MSG + 1)),
    Hostile("decompression bomb", frame(0xC2, bomb()), 1009, compress=15),
    Hostile("a header claiming 2**62 bytes", frame(0x82, b"", 1 << 62), 1009),
    Hostile("invalid UTF-8 in a text frame", frame(0x81, b"ok \xff\xfe\xfd"), 1007),
    Hostile("corrupt compressed data", frame(0xC1, b"\xff\xff\xff\xff"), 1002, compress=15),
    Hostile(
        "fragments adding up past max_msg_size",
        frame(0x01, b"a" * 40_000) + frame(0x00, b"b" * 40_000) + frame(0x80, b"c"),
        1009,
    ),
    Hostile("a ping of 126 bytes", frame(0x89, b"p" * 126), 1002),
    Hostile("a fragmented ping", frame(0x09, b"p"), 1002),
    Hostile("a continuation with no start", frame(0x80, b"orphan"), 1002),
    Hostile("a reserved opcode", frame(0x83, b"?"), 1002),
    Hostile("RSV1 without an extension", frame(0xC1, b"x"), 1002),
]


@contextlib.contextmanager
def peak_memory() -> Iterator[list[int]]:
    """The peak of traced allocations within the block, in bytes (in ``[0]``)."""
    result = [0]
    tracemalloc.start()
    try:
        yield result
    finally:
        result[0] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


@pytest.mark.parametrize("case", HOSTILE, ids=lambda c: c.name)
async def test_a_hostile_payload_fails_without_retry_and_in_bounded_memory(
    case: Hostile, fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    evil: Step = Send(case.send) if case.send else Raw(case.data)
    server = await fault_server([[Send("first"), evil, Hold()]], then=[Send("never")])
    got: list[str] = []
    options.update(max_msg_size=MAX_MSG, compress=case.compress)
    with peak_memory() as peak:
        async with wsclient.connect(server.url, **options) as conn:
            with pytest.raises(FatalClose) as info:
                await drain(conn, got)
            assert conn.state is State.FAILED
    assert info.value.code == case.code
    assert got == ["first"]
    assert server.connections == 1  # never a reconnect loop
    assert events.of(wsclient.ReconnectScheduled) == []
    [gave_up] = events.of(wsclient.GaveUp)
    assert gave_up.cause.code == case.code
    assert peak[0] < 4 * 1024 * 1024 + len(case.send) * 4, f"peak {peak[0]} bytes"
    assert wsclient_tasks() == []


# -- security ---------------------------------------------------------------------------

TOKEN = "tok_5ecr3t_9f8e7d6c"
BEARER = "eyJhbGciOiJIUzI1NiJ9.bearer_5ecr3t"
SERVER_LOGGERS = ("aiohttp.access", "aiohttp.server", "aiohttp.web")  # the server's own


async def test_tokens_never_show_in_logs_reprs_events_or_errors(
    fault_server: StartServer,
    options: dict[str, Any],
    events: Events,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    target = await fault_server(then=[Send("elsewhere"), Close(1000)])
    server = await fault_server(
        [
            [Send("first"), Close(1011, "bye")],
            [Reject(503, {"Retry-After": "soon"})],  # malformed: logged
            [Send("again"), Drop()],
            [Reject(302, {"Location": str(target.url.with_query(token=TOKEN))})],
        ]
    )
    url = server.url.with_path("/feed").with_query(token=TOKEN, user="me")
    headers = {"Authorization": f"Bearer {BEARER}"}
    async with wsclient.connect(url, headers=headers, **options) as conn:
        with pytest.raises(HandshakeRejected) as info:
            await drain(conn, [])
        texts = [repr(conn), str(conn), conn.url, repr(conn.stats)]
    error = info.value
    texts += ["".join(traceback.format_exception(error)), repr(error), repr(error.headers)]
    texts += [f"{e!r} {e}" for e in events]
    client_side = [r for r in caplog.records if not r.name.startswith(SERVER_LOGGERS)]
    assert any(r.levelno == logging.DEBUG for r in client_side)  # DEBUG was on
    texts += [caplog.handler.format(r) for r in client_side]  # with any traceback
    said = "\n".join(texts)
    # The secrets were really sent...
    assert server.requests[0].path_qs == f"/feed?token={TOKEN}&user=me"
    assert server.requests[0].headers["Authorization"] == f"Bearer {BEARER}"
    assert target.connections == 0
    # ...and never shown.
    for secret in (TOKEN, BEARER, "bearer_5ecr3t"):
        assert secret not in said
    assert "token=***" in said
    assert "Retry-After" in said  # the malformed header was logged (redacted)
    assert error.headers["Location"].endswith("?token=***")


async def test_a_token_echoed_in_a_close_reason_is_redacted(
    fault_server: StartServer,
    options: dict[str, Any],
    events: Events,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="wsclient")
    server = await fault_server([[Close(1008, f"bad token {TOKEN}")]])
    url = server.url.with_query(token=TOKEN)
    async with wsclient.connect(url, **options) as conn:
        with pytest.raises(FatalClose) as info:
            await conn.receive()
    said = [caplog.text, str(info.value), info.value.reason, *(repr(e) for e in events)]
    assert info.value.code == 1008
    assert not [text for text in said if TOKEN in text]
