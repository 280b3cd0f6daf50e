"""Transport normalization: aiohttp's pitfalls, each against a real socket,
plus the exception mapping in one table."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import ssl
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from aiohttp.client_reqrep import ConnectionKey
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

import wsclient
from wsclient import DisconnectKind, FatalClose
from wsclient.redact import Redactor
from wsclient.testing import Close, Drop, Raw, Send
from wsclient.testing.plugin import StartServer
from wsclient.transport import (
    close_reply,
    from_exception,
    from_message,
    on_read,
    retry_after,
    safe_headers,
)

from .conftest import Events


def _frame(first_byte: int, payload: bytes) -> bytes:
    return bytes([first_byte, len(payload)]) + payload


async def test_corrupt_compressed_data_is_a_protocol_error_not_a_lost_transport(
    fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    # FIN + RSV1 (compressed) + TEXT, with a deflate stream zlib cannot read.
    server = await fault_server([[Send("ok"), Raw(_frame(0xC1, b"\xff\xff\xff\xff"))]])
    async with wsclient.connect(server.url, compress=15, **options) as conn:
        assert (await conn.receive()).data == "ok"
        with pytest.raises(FatalClose) as info:
            await conn.receive()
    assert info.value.code == 1002
    assert server.connections == 1
    assert "error" in events.of(wsclient.Disconnected)[0].cause.detail


async def test_a_tcp_eof_without_close_frame_is_1006_not_1000(
    fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    """aiohttp reports close code 1000 for a plain EOF; it is a lost transport."""
    server = await fault_server([[Send("a"), Drop()], [Send("b"), Close(1000)]])
    async with wsclient.connect(server.url, **options) as conn:
        assert [m.data async for m in conn] == ["a", "b"]
    first = events.of(wsclient.Disconnected)[0]
    assert first.code == 1006
    assert first.cause.kind is DisconnectKind.LOST
    assert first.initiated_by is wsclient.Initiator.TRANSPORT


async def test_control_frames_never_reach_the_user(
    fault_server: StartServer, options: dict[str, Any]
) -> None:
    ping, pong = _frame(0x89, b"hi"), _frame(0x8A, b"")
    server = await fault_server([[Raw(ping), Raw(pong), Send(b"\x01"), Send("t"), Close(1000)]])
    async with wsclient.connect(server.url, **options) as conn:
        got = [(m.type, m.data) async for m in conn]
    assert got == [(WSMsgType.BINARY, b"\x01"), (WSMsgType.TEXT, "t")]
    assert conn.stats.pongs == 1


def test_from_message() -> None:
    scrub = Redactor()
    close = from_message(aiohttp.WSMessage(WSMsgType.CLOSE, 4001, "kicked"), scrub)
    assert (close.kind, close.code, close.reason) == (DisconnectKind.CLOSE, 4001, "kicked")
    big = aiohttp.WebSocketError(1009, "big")
    error = from_message(aiohttp.WSMessage(WSMsgType.ERROR, big, None), scrub)
    assert (error.kind, error.code) == (DisconnectKind.PROTOCOL, 1009)
    corrupt = from_message(aiohttp.WSMessage(WSMsgType.ERROR, zlib.error("bad"), None), scrub)
    assert (corrupt.kind, corrupt.code) == (DisconnectKind.PROTOCOL, 1002)
    lost = from_message(aiohttp.WSMessage(WSMsgType.CLOSED, None, None), scrub)
    assert (lost.kind, lost.code) == (DisconnectKind.LOST, 1006)


_KEY = ConnectionKey("h", 1, False, True, None, None, None)
_REFUSED = aiohttp.ClientConnectorError(_KEY, ConnectionRefusedError(111, "refused"))
_UNTRUSTED = aiohttp.ClientConnectorCertificateError(_KEY, ssl.SSLCertVerificationError("x"))


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (aiohttp.ClientConnectorDNSError(_KEY, OSError(-2, "Name not known")), DisconnectKind.DNS),
        (_REFUSED, DisconnectKind.REFUSED),
        (_UNTRUSTED, DisconnectKind.TLS),
        (aiohttp.ClientSSLError(_KEY, ssl.SSLError("handshake")), DisconnectKind.TLS),
        (aiohttp.ServerTimeoutError("slow"), DisconnectKind.TIMEOUT),
        (TimeoutError(), DisconnectKind.TIMEOUT),
        (aiohttp.ServerDisconnectedError(), DisconnectKind.RESET),
        (aiohttp.ClientOSError(104, "reset by peer"), DisconnectKind.RESET),
        (ConnectionResetError(104, "reset"), DisconnectKind.RESET),
    ],
)  # fmt: skip
def test_exceptions_map_to_kinds(exc: BaseException, kind: DisconnectKind) -> None:
    disconnect = from_exception(exc, Redactor())
    assert disconnect is not None
    assert disconnect.kind is kind
    assert type(exc).__name__ in disconnect.detail


def test_a_bug_is_not_mistaken_for_a_network_error() -> None:
    assert from_exception(KeyError("oops"), Redactor()) is None


def test_safe_headers_are_the_ones_that_explain_a_rejection() -> None:
    kept = {
        "Retry-After": "7",
        "Date": "Wed, 21 Oct 2015 07:28:00 GMT",
        "Server": "nginx",
        "Content-Type": "text/html",
        "Content-Length": "12",
        "WWW-Authenticate": 'Bearer realm="feed"',
        "Location": "wss://h/p",
        "Via": "1.1 proxy",
        "Sec-WebSocket-Version": "13",
    }
    assert safe_headers({**kept, "Cookie": "c=1", "X-Request-Id": "r"}) == kept
    assert safe_headers(None) == {}


def test_an_invalid_code_aiohttp_refused_is_kept_as_received() -> None:
    refused = aiohttp.WebSocketError(1002, "Invalid close code: 5000")
    end = from_message(aiohttp.WSMessage(WSMsgType.ERROR, refused, None), Redactor())
    assert (end.kind, end.code, end.received_code) == (DisconnectKind.PROTOCOL, 1002, 5000)
    other = aiohttp.WebSocketError(1007, "Invalid UTF-8 in text frame")
    end = from_message(aiohttp.WSMessage(WSMsgType.ERROR, other, None), Redactor())
    assert (end.code, end.received_code) == (1007, None)


def test_safe_headers_keep_retry_after_and_drop_cookies() -> None:
    kept = safe_headers(
        {
            "Retry-After": "7",
            "Set-Cookie": "session=abc",
            "Location": "wss://h/p?token=abc",
            "X-Secret": "s",
        }
    )
    assert kept == {"Retry-After": "7", "Location": "wss://h/p?token=***"}


_DATE = "Wed, 21 Oct 2015 07:28:00 GMT"


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "120"}, 120.0),
        ({"Retry-After": " 0 "}, 0.0),
        ({"Retry-After": "Wed, 21 Oct 2015 07:30:30 GMT", "Date": _DATE}, 150.0),
        ({"Retry-After": _DATE, "Date": "Wed, 21 Oct 2015 07:29:00 GMT"}, 0.0),  # past: now
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "-5"}, None),
        ({"Retry-After": "1.5"}, None),
        ({"Retry-After": "Wed, 21 Oct 99999999999999999999 07:28:00 GMT"}, None),
        ({}, None),
    ],
)
def test_retry_after_reads_seconds_or_an_http_date(
    headers: dict[str, str], seconds: float | None
) -> None:
    """RFC 9110 §10.2.3; an unreadable value (even a year no clock reaches)
    is ignored rather than raised into the reconnect loop."""
    assert retry_after(headers) == seconds


def test_a_retry_after_date_without_a_date_header_counts_from_the_wall_clock() -> None:
    seconds = retry_after({"Retry-After": "Thu, 01 Jan 3000 00:00:00 GMT"})
    expected = datetime(3000, 1, 1, tzinfo=UTC).timestamp() - time.time()
    assert seconds is not None
    assert abs(seconds - expected) < 3600


def test_a_rejected_handshake_keeps_its_status_safe_headers_and_retry_after() -> None:
    exc = aiohttp.WSServerHandshakeError(
        aiohttp.RequestInfo(URL("ws://h/"), "GET", CIMultiDictProxy(CIMultiDict())),
        (),
        status=503,
        message="busy",
        headers=CIMultiDict({"Retry-After": "30", "Set-Cookie": "s=secret-1"}),
    )
    disconnect = from_exception(exc, Redactor())
    assert disconnect is not None
    assert (disconnect.kind, disconnect.status) == (DisconnectKind.HANDSHAKE, 503)
    assert (disconnect.retry_after, dict(disconnect.headers)) == (30.0, {"Retry-After": "30"})
    assert "503" in disconnect.detail


def test_a_close_frame_is_answered_with_1000_or_1002_for_a_code_never_on_the_wire() -> None:
    assert close_reply(wsclient.Disconnect.from_close_frame(1001)) == 1000
    assert close_reply(wsclient.Disconnect.from_close_frame(0)) == 1000  # no code: 1005
    assert close_reply(wsclient.Disconnect.from_close_frame(1006)) == 1002


def _loops() -> list[Any]:
    loops: list[Any] = [pytest.param(asyncio.new_event_loop, id="asyncio")]
    if importlib.util.find_spec("uvloop") is not None:  # the dev extra has it
        uvloop = importlib.import_module("uvloop")
        loops.append(pytest.param(uvloop.new_event_loop, id="uvloop"))
    return loops


@pytest.mark.parametrize("new_loop", _loops())
def test_every_read_is_heard_on_any_event_loop(new_loop: Callable[[], Any]) -> None:
    """The heartbeat's evidence of life comes from every socket read, on
    asyncio and on uvloop alike (uvloop calls the protocol's ``data_received``
    it saw first: replacing the method would go unnoticed)."""

    async def scenario() -> tuple[list[str], int]:
        async def handler(request: web.Request) -> web.WebSocketResponse:
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            async for msg in ws:
                await ws.send_str(f"echo {msg.data}")
            return ws

        app = web.Application()
        app.router.add_get("/", handler)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        heard = 0

        def count() -> None:
            nonlocal heard
            heard += 1

        try:
            async with aiohttp.ClientSession() as session:
                ws = await session.ws_connect(server.make_url("/"))
                on_read(ws, count)
                got = []
                for n in range(3):
                    await ws.send_str(str(n))
                    got.append((await ws.receive()).data)
                await ws.close()
            async with wsclient.connect(server.make_url("/").with_scheme("ws")) as conn:
                await conn.send_str("wsclient")
                got.append((await conn.receive()).data)
        finally:
            await server.close()
        return got, heard

    with asyncio.Runner(loop_factory=new_loop) as runner:
        got, heard = runner.run(scenario())
    assert got == ["echo 0", "echo 1", "echo 2", "echo wsclient"]
    assert heard >= 3
