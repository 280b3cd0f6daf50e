"""Tier 3: many connections sharing one Session."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import aiohttp
import pytest

import wsclient
from wsclient import InvalidState
from wsclient.testing import Hold, Send
from wsclient.testing.plugin import StartServer

from .conftest import wsclient_tasks


async def test_150_connections_share_one_unlimited_client_session(
    fault_server: StartServer, options: dict[str, Any]
) -> None:
    """aiohttp's default connector (limit=100) would hold the 101st back."""
    server = await fault_server(then=[Send("hi"), Hold()])
    options.pop("on_event")
    async with wsclient.Session(**options) as session:
        conns = [session.connect(server.url) for _ in range(150)]
        for conn in conns:
            conn.open()
        async with asyncio.timeout(10):
            firsts = await asyncio.gather(*(c.receive() for c in conns))
        assert {m.data for m in firsts} == {"hi"}
        assert server.connections == 150
        client = session.client()
        assert client.connector is not None
        assert client.connector.limit == 0
        assert client.connector.limit_per_host == 0
    assert client.closed
    assert all(c.state is wsclient.State.CLOSED for c in conns)
    assert wsclient_tasks() == []


async def test_session_defaults_and_per_connection_overrides(options: dict[str, Any]) -> None:
    async with wsclient.Session(buffer_size=3, **options) as session:
        a = session.connect("ws://127.0.0.1:1/")  # never up: sends wait in the outbox
        b = session.connect("ws://127.0.0.1:1/", buffer_size=1)
        a.open()
        b.open()
        for n in range(3):
            await a.send_str(f"a{n}")
        await b.send_str("b0")
        with pytest.raises(wsclient.BufferFull):
            await a.send_str("a3")
        with pytest.raises(wsclient.BufferFull):
            await b.send_str("b1")
        assert (a.unsent, b.unsent) == (["a0", "a1", "a2"], ["b0"])
        await options["on_event"].wait_count(wsclient.ReconnectScheduled, 4)
        assert options["clock"].now() > 0  # their waits ran on the session's clock


async def test_a_closed_session_refuses_new_connections() -> None:
    session = wsclient.Session()
    await session.close()
    with pytest.raises(InvalidState, match="session is closed"):
        session.connect("ws://127.0.0.1:1/")


async def test_a_given_client_session_is_used_and_left_open(
    fault_server: StartServer, options: dict[str, Any]
) -> None:
    server = await fault_server(then=[Send("hi"), Hold()])
    async with aiohttp.ClientSession() as mine:
        async with wsclient.Session(mine, **options) as session:
            assert session.client() is mine
            async with session.connect(server.url) as conn:
                assert (await conn.receive()).data == "hi"
        assert not mine.closed


async def test_a_client_session_closed_underneath_is_recreated(
    fault_server: StartServer, options: dict[str, Any]
) -> None:
    server = await fault_server(then=[Send("hi"), Hold()])
    async with wsclient.Session(**options) as session:
        first = session.client()
        await first.close()
        second = session.client()
        assert second is not first
        assert not second.closed
        async with session.connect(server.url) as conn:
            assert (await conn.receive()).data == "hi"


async def test_connect_shortcut_closes_its_own_session(
    fault_server: StartServer, options: dict[str, Any]
) -> None:
    server = await fault_server(then=[Send("hi"), Hold()])
    conn = wsclient.connect(server.url, **options)
    async with conn:
        assert (await conn.receive()).data == "hi"
    del conn
    gc.collect()  # an aiohttp session left open would warn here, an error in this suite
