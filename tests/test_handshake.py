"""Tier 3: rejected handshakes and failed connects, against real listeners."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trustme
from aiohttp import web
from aiohttp.test_utils import TestServer

import wsclient
from wsclient import ConnectionFailed, DisconnectKind, HandshakeRejected, HoldOff, Reconnect
from wsclient.testing import Close, Reject, Send
from wsclient.testing.plugin import StartServer

from .conftest import Events


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410])
async def test_a_client_error_fails_at_once(
    status: int, fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    server = await fault_server(
        [[Reject(status, {"WWW-Authenticate": "Bearer", "Set-Cookie": "sid=1"})]]
    )
    async with wsclient.connect(server.url, **options) as conn:
        with pytest.raises(HandshakeRejected) as info:
            await conn.receive()
    assert info.value.status == status
    assert info.value.headers.get("WWW-Authenticate") == "Bearer"
    assert "Set-Cookie" not in info.value.headers
    assert server.connections == 1
    assert events.names() == ["ConnectFailed", "GaveUp"]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_a_server_error_reconnects_with_standard_backoff(
    status: int, fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    server = await fault_server([[Reject(status)], [Send("up"), Close(1000)]])
    async with wsclient.connect(server.url, **options) as conn:
        assert [m.data async for m in conn] == ["up"]
    [scheduled] = events.of(wsclient.ReconnectScheduled)
    assert isinstance(scheduled.decision, Reconnect)
    assert 0 <= scheduled.delay <= 5
    assert scheduled.cause.status == status


async def test_429_without_retry_after_holds_off_on_the_standard_curve(
    fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    server = await fault_server([[Reject(429)], [Reject(429)], [Send("up"), Close(1000)]])
    async with wsclient.connect(server.url, **options) as conn:
        assert [m.data async for m in conn] == ["up"]
    holds = events.of(wsclient.ReconnectScheduled)
    assert all(isinstance(h.decision, HoldOff) for h in holds)
    assert 0 <= holds[0].delay <= 5
    assert 0 <= holds[1].delay <= 10
    assert len(events.of(wsclient.HoldingOff)) == 2


async def test_a_redirect_status_is_not_a_websocket(
    fault_server: StartServer, options: dict[str, Any]
) -> None:
    server = await fault_server([[Reject(200, body="hello, browser")]])
    async with wsclient.connect(server.url, **options) as conn:
        with pytest.raises(HandshakeRejected) as info:
            await conn.receive()
    assert info.value.status == 200


async def test_a_handshake_that_never_answers_times_out_and_retries(
    options: dict[str, Any], events: Events
) -> None:
    """A server that accepts TCP but never answers: open_timeout on the clock."""
    accepted = 0
    writers: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        writers.append(writer)

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    async with wsclient.connect(f"ws://127.0.0.1:{port}/", open_timeout=10, **options):
        await events.wait_count(wsclient.ConnectFailed, 3)
    listener.close()
    for writer in writers:
        writer.close()
    await listener.wait_closed()
    failures = events.of(wsclient.ConnectFailed)
    assert all(f.cause.kind is DisconnectKind.TIMEOUT for f in failures)
    assert accepted >= 3
    assert options["clock"].sleeps[0] == 10


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def tls_server(ca: trustme.CA) -> AsyncIterator[TestServer]:
    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str("secure")
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/", handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = TestServer(app, host="127.0.0.1", scheme="https")
    await server.start_server(ssl=context)
    yield server
    await server.close()


async def test_an_untrusted_certificate_fails_without_retrying(
    tls_server: TestServer, options: dict[str, Any], events: Events
) -> None:
    url = tls_server.make_url("/").with_scheme("wss")
    async with wsclient.connect(url, **options) as conn:
        with pytest.raises(ConnectionFailed) as info:
            await conn.receive()
    assert info.value.kind == "tls"
    assert events.names() == ["ConnectFailed", "GaveUp"]


async def test_a_trusted_certificate_connects(
    tls_server: TestServer, ca: trustme.CA, options: dict[str, Any]
) -> None:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    url = tls_server.make_url("/").with_scheme("wss")
    async with wsclient.connect(url, ssl=context, **options) as conn:
        assert [m.data async for m in conn] == ["secure"]


async def test_turning_tls_verification_off_is_explicit_and_logged(
    tls_server: TestServer, options: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    url = tls_server.make_url("/").with_scheme("wss")
    async with wsclient.connect(url, ssl=False, **options) as conn:
        assert [m.data async for m in conn] == ["secure"]
    assert "TLS certificate verification is off" in caplog.text
