"""What aiohttp users look for on a connection: the handshake's response
headers, ``closed`` and ``close_code``, defined across reconnects."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

import wsclient
from wsclient import Connected, FatalClose, ResponseHeaders, State
from wsclient.testing import Close, Drop, Hold, Receive, Send
from wsclient.testing.plugin import StartServer

from .conftest import Events

COOKIE = "sid=S3ssionCookieValue"


@pytest.fixture
async def header_server(aiohttp_server: Callable[..., Awaitable[Any]]) -> Any:
    """A server whose handshake answers with headers that count the
    connections, and a session cookie; it sends one message and closes
    with 1012 (a restart: the client reconnects)."""
    count = 0

    async def handle(request: web.Request) -> web.WebSocketResponse:
        nonlocal count
        count += 1
        ws = web.WebSocketResponse()
        ws.headers["X-Connection"] = str(count)
        ws.headers.add("Set-Cookie", COOKIE)
        ws.headers.add("Set-Cookie", "lb=node7")
        await ws.prepare(request)
        await ws.send_str(f"hello {count}")
        await ws.receive()  # until the client sends, then close
        await ws.close(code=1012)
        return ws

    app = web.Application()
    app.router.add_get("/", handle)
    return await aiohttp_server(app)


def headers_of(conn: wsclient.Connection) -> ResponseHeaders | None:
    """(A call: the type checker must not narrow the property.)"""
    return conn.response_headers


async def test_response_headers_are_the_current_sockets(
    header_server: Any, options: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="wsclient")
    url = header_server.make_url("/").with_scheme("ws")
    async with wsclient.connect(url, **options) as conn:
        assert headers_of(conn) is None  # no socket yet
        seen = []
        async for msg in conn:
            headers = headers_of(conn)
            assert isinstance(headers, ResponseHeaders)
            seen.append((msg.data, headers["x-connection"]))  # case-insensitive
            await conn.send_str("next")
            if len(seen) == 2:
                break
        assert seen == [("hello 1", "1"), ("hello 2", "2")]
        assert isinstance(headers, ResponseHeaders)
        assert headers.getall("Set-Cookie") == [COOKIE, "lb=node7"]  # the application's to read
        assert headers["Upgrade"].lower() == "websocket"
        assert list(headers).count("Set-Cookie") == 1
        assert len(headers) == len(set(headers))
        assert "S3ssionCookieValue" not in repr(headers)  # logged whole, it does not leak
        assert "node7" not in repr(headers)
        assert "'X-Connection': '2'" in repr(headers)
    assert headers_of(conn) is None  # closed
    assert "S3ssionCookieValue" not in caplog.text


async def test_closed_and_close_code_across_reconnects(
    fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    server = await fault_server(
        [[Send("1"), Close(1012)], [Send("2"), Receive(), Drop()]], then=[Hold()]
    )
    conn = wsclient.connect(server.url, **options)
    assert (conn.closed, conn.close_code) == (False, None)
    async with conn:
        got = []
        async for msg in conn:
            got.append((msg.data, conn.closed, conn.close_code))
            if len(got) == 2:
                await conn.send_str("drop me")
                break
        assert got == [("1", False, None), ("2", False, 1012)]  # reconnected: not closed
        await events.wait_count(Connected, 3)  # after the drop
        assert (conn.closed, conn.close_code) == (False, 1006)  # the last socket's end
        await conn.close(4001, "done here")
        assert (conn.closed, conn.close_code) == (True, 4001)


async def test_a_fatal_close_leaves_it_closed_with_the_code(
    fault_server: StartServer, options: dict[str, Any]
) -> None:
    server = await fault_server([[Close(1008, "policy")]])
    async with wsclient.connect(server.url, **options) as conn:
        with pytest.raises(FatalClose):
            await conn.receive()
        assert (conn.closed, conn.close_code) == (True, 1008)


async def test_closed_is_true_as_soon_as_close_is_called(
    fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    server = await fault_server(then=[Hold()])
    async with wsclient.connect(server.url, **options) as conn:
        await events.wait_count(Connected, 1)
        closing = asyncio.create_task(conn.close())
        await asyncio.sleep(0)
        assert conn.closed  # (the closing handshake is under way)
        assert conn.state is State.CLOSING
        await closing
        assert conn.close_code == 1000
