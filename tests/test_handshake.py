"""Tier 3: rejected handshakes and failed connects, against real listeners."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import wsclient
from wsclient import DisconnectKind, HandshakeRejected, HoldOff
from wsclient.testing import Close, Reject, Send
from wsclient.testing.plugin import StartServer

from .conftest import Events


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
