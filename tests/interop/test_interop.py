"""Against servers we did not write: what each puts on the wire when it
ends a connection, what wsclient decides about it, and that the client comes
back. Each scenario's result is a row of ``docs/interop.md`` (see
``table.py``), checked against the committed page.

The client runs on virtual time (backoffs of seconds or minutes pass at
once); the servers run in real time in their own processes, so the client's
own timers that would race them (the handshake timeout, the heartbeat) are
off here.
"""

from __future__ import annotations

import asyncio
import random
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import wsclient
from wsclient import Connected, Disconnected, GaveUp, ReconnectScheduled
from wsclient.testing import FakeClock

from ..conftest import Events, wsclient_tasks
from ..docs_tables import decision_text
from .runner import Server
from .table import Row, check

WITHIN = 10.0  # seconds: a bound on a real wait, not a timing


@pytest.fixture
def events(fake_clock: FakeClock) -> Events:
    return Events(fake_clock)


@asynccontextmanager
async def client(
    url: str, clock: FakeClock, events: Events, **extra: Any
) -> AsyncIterator[wsclient.Connection]:
    """wsclient with its default policy, on virtual time, no client timers."""
    options: dict[str, Any] = {"clock": clock, "rng": random.Random(7), "on_event": events}
    options.update(extra)
    async with wsclient.connect(url, heartbeat=None, open_timeout=None, **options) as conn:
        yield conn
    assert wsclient_tasks() == [], "a task outlived the connection"


async def receive(conn: wsclient.Connection) -> aiohttp.WSMessage:
    async with asyncio.timeout(WITHIN):
        return await conn.receive()


async def echoed(conn: wsclient.Connection, text: str) -> None:
    await conn.send_str(text)
    assert (await receive(conn)).data == text


def wire(event: Disconnected) -> str:
    """What arrived: the close code, and the reason if there was one."""
    if event.code == 1006:
        return "1006: no close frame, the socket dropped"
    return f"{event.code} {event.reason!r}" if event.reason else f"{event.code}, no reason"


async def first_decision(events: Events) -> tuple[Disconnected, str]:
    """The first disconnect and what wsclient decided about it."""
    await events.wait_for(lambda: bool(events.of(ReconnectScheduled) or events.of(GaveUp)))
    decided = events.of(ReconnectScheduled)
    text = decision_text(decided[0].decision) if decided else "**fail**"
    return events.of(Disconnected)[0], text


async def test_echo(server: Server, fake_clock: FakeClock, events: Events) -> None:
    async with client(server.url("/echo"), fake_clock, events) as conn:
        await conn.send_str("héllo")
        await conn.send_bytes(b"\x00\xff")
        text, binary = await receive(conn), await receive(conn)
    assert (text.type, text.data) == (aiohttp.WSMsgType.TEXT, "héllo")
    assert (binary.type, binary.data) == (aiohttp.WSMsgType.BINARY, b"\x00\xff")
    check(Row(server.name, "echo, text and binary", "as sent", "-", "echoed"))


@pytest.mark.parametrize("code", [1000, 1001, 1011, 1012, 1013, 4000])
async def test_application_closes(
    server: Server, code: int, fake_clock: FakeClock, events: Events
) -> None:
    """The application closes with ``code`` at once; wsclient's default
    decision is taken, and the client connects again."""
    async with client(server.url(f"/close/{code}"), fake_clock, events):
        ended, decision = await first_decision(events)
        await events.wait_count(Connected, 2)
    assert ended.initiated_by == "server", ended
    check(Row(server.name, f"the app closes with {code}", wire(ended), decision, "reconnected"))


async def test_graceful_shutdown(server: Server, fake_clock: FakeClock, events: Events) -> None:
    """SIGTERM: the server's own graceful shutdown; then it starts again on
    the same port, and the same connection carries on."""
    async with client(server.url("/echo"), fake_clock, events) as conn:
        await echoed(conn, "before")
        status = await server.terminate()
        ended, decision = await first_decision(events)
        await server.restart()
        await echoed(conn, "after")
    # uvicorn re-raises the SIGTERM it handled, once its shutdown is done.
    assert status in (0, -signal.SIGTERM), f"{server.name} exited with {status} on SIGTERM"
    row = Row(server.name, "graceful shutdown (SIGTERM), restart", wire(ended), decision, "")
    check(Row(**{**row.__dict__, "outcome": "recovered"}))


async def test_killed_and_restarted(server: Server, fake_clock: FakeClock, events: Events) -> None:
    """SIGKILL; sends made while the server is down go out after the
    restart on the same port, once each and in order."""
    async with client(server.url("/echo"), fake_clock, events) as conn:
        await echoed(conn, "before")
        await server.kill()
        ended, decision = await first_decision(events)
        for n in range(3):
            await conn.send_str(f"down {n}")
        await server.restart()
        got = [(await receive(conn)).data for _ in range(3)]
        await echoed(conn, "end")  # nothing came twice between them
    assert got == ["down 0", "down 1", "down 2"]
    outcome = "recovered; 3 sends made while down echoed once, in order"
    check(Row(server.name, "kill -9, restart", wire(ended), decision, outcome))


async def negotiated_deflate(url: str) -> int:
    """The window bits the server agreed to for ``compress=15`` (0: no
    permessage-deflate), asked with plain aiohttp: wsclient does not show it."""
    async with aiohttp.ClientSession() as session, session.ws_connect(url, compress=15) as ws:
        return ws.compress


async def test_echo_deflate(server: Server, fake_clock: FakeClock, events: Events) -> None:
    """``compress=15``: a large text and binary message go through whether
    or not the server agrees to permessage-deflate; the row says if it did."""
    text, data = "wsclient " * 20_000, bytes(range(256)) * 1000
    async with client(server.url("/echo"), fake_clock, events, compress=15) as conn:
        await conn.send_str(text)
        await conn.send_bytes(data)
        assert (await receive(conn)).data == text
        assert (await receive(conn)).data == data
    bits = await negotiated_deflate(server.url("/echo"))
    wire = f"permessage-deflate, server_max_window_bits={bits}" if bits else "no deflate"
    check(Row(server.name, "echo with compress=15, 180 KB and 256 KB", wire, "-", "echoed"))


async def test_message_over_max_msg_size(
    server: Server, fake_clock: FakeClock, events: Events
) -> None:
    """The server echoes 2000 bytes to a client whose ``max_msg_size`` is
    1024: the client fails hard (1009), raises, and leaves nothing behind."""
    async with client(server.url("/echo"), fake_clock, events, max_msg_size=1024) as conn:
        await conn.send_str("x" * 2000)
        with pytest.raises(wsclient.FatalClose) as caught:
            await receive(conn)
        ended, decision = await first_decision(events)
    assert caught.value.code == 1009
    assert (ended.code, ended.initiated_by) == (1009, "client")
    outcome = f"failed cleanly: FatalClose({caught.value.code})"
    scenario = "a 2000-byte message, client max_msg_size=1024"
    check(Row(server.name, scenario, "the client closes with 1009", decision, outcome))


async def logged(server: Server, start: str) -> str:
    """The first line of the server's log that begins with ``start``.

    Tornado logs the end 5 s after its ping timed out (it waits that long
    for the client's close frame): hence a bound of 20 s."""
    for _ in range(int(20 / 0.05)):
        lines = server.log.read_text(encoding="utf-8").splitlines()
        found = [line for line in lines if line.startswith(start)]
        if found:
            return found[0]
        await asyncio.sleep(0.05)  # a poll of another process, not a timing
    raise AssertionError(f"{server.name} never logged {start!r}: {lines}")


@pytest.fixture
async def pinging(server: Server, tmp_path: Path) -> AsyncIterator[Server]:
    """The same server on its own port, pinging every 0.5 s and giving up
    on a client after 0.5 s more without a pong (Node's ws: the heartbeat
    of its README, a client that missed the previous ping is terminated)."""
    if server.name == "hypercorn":
        pytest.skip("Hypercorn 0.18 pings (websocket_ping_interval) but has no ping timeout")
    own = server.again(tmp_path / "log", "keepalive")
    await own.restart()
    yield own
    own.stop()


async def test_server_keepalive_drops_a_stalled_consumer(
    pinging: Server, fake_clock: FakeClock, events: Events
) -> None:
    """The server sends 50 messages; the consumer reads none, so once
    ``max_queue`` of them wait, wsclient stops reading and no pong goes
    back. Once the server has given up, the consumer reads: the 50 messages
    first, then the ending the server put on the wire."""
    server = pinging
    async with client(server.url("/flood"), fake_clock, events, max_queue=10) as conn:
        await logged(server, "flood ended")
        got = [(await receive(conn)).data[:4] for _ in range(50)]
        ended, decision = await first_decision(events)
        await events.wait_count(Connected, 2)
    assert got == [f"{n:04d}" for n in range(50)]
    scenario = "server keepalive 0.5 s, the consumer stalls"
    outcome = "reconnected; the 50 messages read first"
    check(Row(server.name, scenario, wire(ended), decision, outcome))


async def test_server_keepalive_with_a_reader(
    pinging: Server, fake_clock: FakeClock, events: Events
) -> None:
    """The client reads all along (an echo every 0.1 s for 1.5 s, three ping
    intervals): its pongs go back, and the server keeps the connection."""
    server = pinging
    async with client(server.url("/echo"), fake_clock, events) as conn:
        for n in range(15):
            await echoed(conn, f"tick {n}")
            await asyncio.sleep(0.1)  # real time: the server's pings are real
        assert len(events.of(Connected)) == 1, events
        assert not events.of(Disconnected), events.of(Disconnected)
    scenario = "server keepalive 0.5 s, the client reads for 1.5 s"
    check(Row(server.name, scenario, "pings, answered", "-", "stayed up"))


@pytest.fixture
async def limited(server: Server, tmp_path: Path) -> AsyncIterator[Server]:
    """The same server on its own port, accepting messages of at most
    1024 bytes (websockets max_size, uvicorn ws_max_size, Hypercorn
    websocket_max_message_size, Tornado websocket_max_message_size, Node's
    ws maxPayload)."""
    own = server.again(tmp_path / "log", "maxsize")
    await own.restart()
    yield own
    own.stop()


async def test_message_over_server_limit(
    limited: Server, fake_clock: FakeClock, events: Events
) -> None:
    """The client sends 2000 bytes to a server that accepts 1024: what the
    server puts on the wire, and what wsclient makes of it."""
    server = limited
    async with client(server.url("/echo"), fake_clock, events) as conn:
        await echoed(conn, "small")
        await conn.send_str("x" * 2000)
        with pytest.raises(wsclient.FatalClose) as caught:
            await receive(conn)
        ended, decision = await first_decision(events)
    assert ended.initiated_by == "server", ended
    assert caught.value.code == ended.code
    outcome = f"failed cleanly: FatalClose({caught.value.code})"
    scenario = "a 2000-byte message from the client, server limit 1024"
    check(Row(server.name, scenario, wire(ended), decision, outcome))
