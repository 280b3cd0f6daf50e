"""Tier 2: sends that a dying socket took, over scripted fake sockets on the
fake clock. A pong confirms every send written before its ping; what no pong
confirmed when a socket dies under us is reported, and with
``resend_unconfirmed`` sent again on the next socket (after on_connect and
the subscriptions, ahead of the outbox), but never a third time."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import wsclient
from wsclient import Connected, Disconnected
from wsclient.testing import FakeClock

from .conftest import Events
from .fakes import FakeSocket, FakeTransport, fake_connection, until


async def test_sends_a_pong_confirmed_are_not_reported_when_the_socket_dies(
    options: dict[str, Any], events: Events
) -> None:
    clock: FakeClock = options["clock"]
    sock = FakeSocket()  # answers pings, with their payload
    async with fake_connection(FakeTransport(sock), options) as conn:
        await events.wait_count(Connected, 1)
        for data in "abc":
            await conn.send_str(data)
        await clock.sleep(0.1)  # the confirming ping went, its pong came
        assert sock.pings == 1
        sock.drop()
        await events.wait_count(Disconnected, 1)
        await conn.close()
    [dropped] = events.of(Disconnected)
    assert dropped.unconfirmed == 0
    assert conn.unconfirmed == []


async def test_sends_no_pong_confirmed_are_reported_and_not_sent_again_by_default(
    options: dict[str, Any], events: Events, caplog: pytest.LogCaptureFixture
) -> None:
    clock: FakeClock = options["clock"]
    first, second = FakeSocket(pong=False), FakeSocket()
    async with fake_connection(FakeTransport(first, second), options) as conn:
        await events.wait_count(Connected, 1)
        await conn.send_str("a")
        await clock.sleep(2)  # pinged; no pong
        await conn.send_bytes(b"b")
        first.drop()
        await events.wait_count(Connected, 2)
        await conn.send_str("c")
        await conn.close()
    [dropped, _] = events.of(Disconnected)
    assert dropped.unconfirmed == 2
    assert conn.unconfirmed == ["a", b"b"]
    assert second.sent == ["c"]
    assert "2 send(s) may not have reached the server" in caplog.text


async def test_resend_unconfirmed_sends_them_after_on_connect_ahead_of_the_outbox(
    options: dict[str, Any], events: Events
) -> None:
    clock: FakeClock = options["clock"]
    first, second = FakeSocket(pong=False), FakeSocket(clock=clock)

    async def hello(conn: wsclient.Connection) -> None:
        await conn.send_str("hello")

    async with fake_connection(
        FakeTransport(first, second), options, on_connect=hello, resend_unconfirmed=True
    ) as conn:
        await until(clock, lambda: len(first.sent) == 1)  # on_connect's hello
        await conn.subscribe("s", "sub s")
        for data in "abc":
            await conn.send_str(data)
        first.drop()
        await events.wait_for(lambda: conn.state is wsclient.State.WAITING)
        await conn.send_str("d")  # while down: the outbox
        await until(clock, lambda: len(second.sent) == 6)
        await clock.sleep(1)
        await conn.close()
    assert first.sent == ["hello", "sub s", "a", "b", "c"]
    # hello and "sub s" are on_connect's and the subscription's: made again
    # on every socket, never resent; a, b, c go again ahead of d.
    assert second.sent == ["hello", "sub s", "a", "b", "c", "d"]
    [dropped, _] = events.of(Disconnected)
    assert dropped.unconfirmed == 3
    assert conn.unconfirmed == []


async def test_a_send_unconfirmed_on_two_sockets_in_a_row_is_given_up_on(
    options: dict[str, Any], events: Events, caplog: pytest.LogCaptureFixture
) -> None:
    # A server that drops the connection on a message it refuses (over its
    # size limit): resending it for ever would loop.
    clock: FakeClock = options["clock"]
    first, second, third = FakeSocket(pong=False), FakeSocket(pong=False), FakeSocket()
    transport = FakeTransport(first, second, third)
    async with fake_connection(transport, options, resend_unconfirmed=True) as conn:
        await events.wait_count(Connected, 1)
        await conn.send_str("poison")
        first.drop()
        await until(clock, lambda: second.sent == ["poison"])
        await conn.send_str("fine")
        second.drop()
        await until(clock, lambda: third.sent == ["fine"])
        await clock.sleep(1)
        await conn.close()
    assert third.sent == ["fine"]
    assert conn.unconfirmed == ["poison"]
    assert [d.unconfirmed for d in events.of(Disconnected)] == [1, 2, 0]
    assert "1 send(s) may not have reached the server" in caplog.text


async def test_a_steady_sender_adds_at_most_one_ping_a_second(
    options: dict[str, Any], events: Events
) -> None:
    clock: FakeClock = options["clock"]
    sock = FakeSocket()
    async with fake_connection(FakeTransport(sock), options) as conn:
        await events.wait_count(Connected, 1)
        for n in range(100):  # ten a second for ten seconds
            await conn.send_str(str(n))
            await clock.sleep(0.1)
        assert 9 <= sock.pings <= 11
        await conn.close()


@pytest.mark.parametrize("how", ["close", "reconnect"])
async def test_a_socket_we_close_on_purpose_leaves_nothing_unconfirmed(
    options: dict[str, Any], events: Events, how: str
) -> None:
    first, second = FakeSocket(pong=False), FakeSocket()
    async with fake_connection(FakeTransport(first, second), options) as conn:
        await events.wait_count(Connected, 1)
        await conn.send_str("a")
        await (conn.close() if how == "close" else conn.reconnect())
        await events.wait_count(Disconnected, 1)
        await conn.close()
    assert events.of(Disconnected)[0].unconfirmed == 0
    assert conn.unconfirmed == []


async def test_a_ping_message_is_not_confirmed_nor_resent(
    options: dict[str, Any], events: Events, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "wsclient")
    clock: FakeClock = options["clock"]
    first, second = FakeSocket(clock=clock, pong=False), FakeSocket(clock=clock)
    extra = {"heartbeat": 5, "ping_message": "ping", "resend_unconfirmed": True}
    async with fake_connection(FakeTransport(first, second), options, **extra) as conn:
        await until(clock, lambda: first.sent == ["ping"])
        first.drop()
        await events.wait_count(Connected, 2)
        await clock.sleep(1)
        await conn.close()
    assert first.pings == 0
    assert second.sent == []
    assert events.of(Disconnected)[0].unconfirmed == 0


async def test_reconnect_on_a_half_open_peer_resends_what_it_never_confirmed(
    options: dict[str, Any], events: Events
) -> None:
    # The application suspects the link and reconnects: the peer answers
    # neither pings nor our close frame, so what it took is unconfirmed.
    clock: FakeClock = options["clock"]
    first, second = FakeSocket(pong=False, answer_close=None), FakeSocket()
    transport = FakeTransport(first, second)
    async with fake_connection(transport, options, resend_unconfirmed=True) as conn:
        await events.wait_count(Connected, 1)
        await conn.send_str("a")
        await clock.sleep(2)  # the confirming ping went; no pong
        await conn.reconnect()
        await events.wait_count(Connected, 2)
        await until(clock, lambda: second.sent == ["a"])
        await conn.close()
    assert events.of(Disconnected)[0].unconfirmed == 1


async def test_a_peer_whose_pongs_never_confirm_costs_at_most_buffer_size(
    options: dict[str, Any], events: Events
) -> None:
    clock: FakeClock = options["clock"]
    first, second = FakeSocket(pong=False), FakeSocket()
    transport = FakeTransport(first, second)
    extra = {"resend_unconfirmed": True, "buffer_size": 100}
    async with fake_connection(transport, options, **extra) as conn:
        await events.wait_count(Connected, 1)
        for n in range(5000):
            await conn.send_str(f"m{n}")
        first.drop()
        await events.wait_count(Connected, 2)
        await until(clock, lambda: len(second.sent) == 100)
        await clock.sleep(1)
        await conn.close()
    assert second.sent == [f"m{n}" for n in range(4900, 5000)]  # the last 100 go again
    assert events.of(Disconnected)[0].unconfirmed == 5000  # all counted
    assert conn.unconfirmed == []  # those beyond buffer_size were only counted
