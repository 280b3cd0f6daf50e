"""Tokens in URLs and Authorization headers never show: not in logs, reprs,
events, or error messages."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from tenacity import stop_after_attempt

import wsclient
from wsclient.testing import Close, Reject, Send
from wsclient.testing.plugin import StartServer

from .conftest import Events, unused_port

TOKEN = "tok_9f8e7d6c5b4a"
BEARER = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0"


def everything_said(caplog: pytest.LogCaptureFixture, events: Events, *extra: object) -> str:
    texts = [caplog.text, *(repr(e) for e in events), *(str(e) for e in events)]
    texts += [repr(x) for x in extra] + [str(x) for x in extra]
    return "\n".join(texts)


async def test_a_token_never_shows_through_a_reconnect_and_a_rejection(
    fault_server: StartServer,
    options: dict[str, Any],
    events: Events,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="wsclient")
    server = await fault_server([[Send("a"), Close(1011)], [Reject(401)]])
    url = server.url.with_query(token=TOKEN)
    conn = wsclient.connect(url, headers={"Authorization": f"Bearer {BEARER}"}, **options)
    async with conn:
        with pytest.raises(wsclient.HandshakeRejected) as info:
            async for _ in conn:
                pass
        said = everything_said(caplog, events, conn, conn.stats, info.value)
    assert server.requests[0].path_qs.endswith(TOKEN)  # it was really sent
    assert server.requests[0].headers["Authorization"] == f"Bearer {BEARER}"
    for secret in (TOKEN, BEARER):
        assert secret not in said
    assert "token=***" in said


async def test_a_refused_connection_error_does_not_show_the_token(
    options: dict[str, Any], events: Events, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="wsclient")
    url = f"ws://bob:hunter2pw@127.0.0.1:{unused_port()}/feed?token={TOKEN}"
    async with wsclient.connect(url, stop=stop_after_attempt(2), **options) as conn:
        with pytest.raises(wsclient.RetriesExhausted) as info:
            await conn.receive()
    said = everything_said(caplog, events, conn, info.value, info.value.cause)
    assert TOKEN not in said
    assert "hunter2pw" not in said


async def test_short_query_values_and_a_token_as_user_name_never_show(
    fault_server: StartServer,
    options: dict[str, Any],
    events: Events,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="wsclient")
    server = await fault_server([[Reject(403)]])
    url = server.url.with_user("sk_live_0123456789").with_query(pin="9z7")
    async with wsclient.connect(url, **options) as conn:
        with pytest.raises(wsclient.HandshakeRejected) as info:
            await conn.receive()
    said = everything_said(caplog, events, conn, conn.stats, info.value)
    assert "sk_live_0123456789" not in said
    assert "pin=9z7" not in said
    assert "ws://***@127.0.0.1" in said


def test_credentials_in_the_url_and_an_authorization_header_are_refused_up_front() -> None:
    with pytest.raises(ValueError, match="credentials in the url and an Authorization header"):
        wsclient.connect("ws://bob:pw@127.0.0.1:1/", headers={"authorization": "Basic x"})


async def test_a_cookie_value_echoed_in_a_close_reason_never_shows(
    fault_server: StartServer,
    options: dict[str, Any],
    events: Events,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="wsclient")
    session = "s3ss10n-4f9a2c"
    server = await fault_server([[Close(4001, f"unknown session {session}")], [Close(1000)]])
    cookie = {"Cookie": f"theme=dark; session={session}"}
    async with wsclient.connect(server.url, headers=cookie, **options) as conn:  # 1000 ends
        assert [m async for m in conn] == []
    said = everything_said(caplog, events, conn, conn.stats)
    assert session in server.requests[0].headers["Cookie"]  # it was really sent
    assert session not in said
    assert "unknown session ***" in said
