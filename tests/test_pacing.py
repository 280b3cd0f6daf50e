"""Tier 2: paced sends (``send_rate``) over scripted fake sockets on the fake
clock: a flush after a reconnect, on_connect's sends and live sends from
several tasks all keep the pace, in order."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

import wsclient
from wsclient import Connected
from wsclient.testing import FakeClock

from .conftest import Events
from .fakes import FakeSocket, FakeTransport, fake_connection


def assert_paced(times: list[float], rate: float) -> None:
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert min(gaps) >= 1 / rate - 1e-9
    for i, start in enumerate(times):  # never more than `rate` in any second
        assert sum(1 for t in times[i:] if t < start + 1 - 1e-9) <= rate


async def test_a_full_outbox_flushes_at_the_rate_in_order(
    options: dict[str, Any], events: Events
) -> None:
    # An exchange that bans above 10 messages a second: 1,000 sends made
    # while down leave over 100 s, not in one burst.
    clock: FakeClock = options["clock"]
    sock = FakeSocket(clock=clock)
    transport = FakeTransport(ConnectionRefusedError("down"), sock)
    async with fake_connection(transport, options, send_rate=10) as conn:
        for n in range(1000):
            await conn.send_str(f"m{n}")
        await events.wait_count(Connected, 1)
        opened = events.when(Connected)
        while len(sock.sent) < 1000:
            await clock.sleep(1)
        await conn.close()
    assert sock.sent == [f"m{n}" for n in range(1000)]
    assert sock.sent_at[0] == pytest.approx(opened)
    assert sock.sent_at[-1] - sock.sent_at[0] == pytest.approx(99.9)
    assert_paced(sock.sent_at, 10)


async def test_on_connect_and_live_sends_share_the_pace(options: dict[str, Any]) -> None:
    clock: FakeClock = options["clock"]
    sock = FakeSocket(clock=clock)

    async def subscribe(conn: wsclient.Connection) -> None:
        for channel in range(5):
            await conn.send_json({"subscribe": channel})

    async with fake_connection(
        FakeTransport(sock), options, send_rate=10, on_connect=subscribe
    ) as conn:
        senders = [
            asyncio.create_task(conn.send_str(f"{who}{n}")) for n in range(10) for who in "ab"
        ]
        await asyncio.gather(*senders)
        while len(sock.sent) < 25:
            await clock.sleep(0.5)
        await conn.close()
    assert len(sock.sent) == 25
    assert sock.sent[:5] == [f'{{"subscribe": {n}}}' for n in range(5)]
    assert sock.sent[5:] == [f"{who}{n}" for n in range(10) for who in "ab"]  # asked-for order
    assert_paced(sock.sent_at, 10)


async def test_a_send_cut_short_while_waiting_for_its_turn_is_kept(
    options: dict[str, Any], events: Events
) -> None:
    # The socket drops while sends wait for their turn: none is written to
    # the dead socket or lost; they go out on the next one, in order.
    clock: FakeClock = options["clock"]
    first, second = FakeSocket(clock=clock), FakeSocket(clock=clock)
    async with fake_connection(FakeTransport(first, second), options, send_rate=10) as conn:
        await events.wait_count(Connected, 1)
        senders = [asyncio.create_task(conn.send_str(f"m{n}")) for n in range(10)]
        while len(first.sent) < 3:
            await clock.sleep(0.05)
        first.drop()
        await asyncio.gather(*senders)
        while len(first.sent) + len(second.sent) < 10:
            await clock.sleep(0.5)
        await conn.close()
    assert [*first.sent, *second.sent] == [f"m{n}" for n in range(10)]
    assert len(first.sent) in (3, 4)


async def test_sends_waiting_their_turn_across_a_reconnect_go_on_the_next_socket(
    options: dict[str, Any], events: Events
) -> None:
    # Not stranded in the outbox while the next socket is live, nor overtaken.
    clock: FakeClock = options["clock"]
    first, second = FakeSocket(), FakeSocket()
    async with fake_connection(FakeTransport(first, second), options, send_rate=1.0) as conn:
        await events.wait_count(Connected, 1)
        senders = [asyncio.create_task(conn.send_str(x)) for x in "ABCDE"]
        await clock.sleep(0.5)
        await conn.reconnect()
        await events.wait_count(Connected, 2)
        await asyncio.gather(*senders)
        await conn.send_str("F")
        await clock.sleep(2)
        assert conn.unsent == []
        await conn.close()
    assert first.sent == ["A"]
    assert second.sent == ["B", "C", "D", "E", "F"]


async def test_cancelled_waiters_pass_their_turn_on(
    options: dict[str, Any], events: Events
) -> None:
    clock: FakeClock = options["clock"]
    sock = FakeSocket(clock=clock)
    async with fake_connection(FakeTransport(sock), options, send_rate=1.0) as conn:
        await events.wait_count(Connected, 1)
        senders = [asyncio.create_task(conn.send_str(f"t{n}")) for n in range(30)]
        await clock.sleep(0.5)
        for sender in senders:
            sender.cancel()  # an asyncio.timeout around send_str, say
        await asyncio.gather(*senders, return_exceptions=True)
        start = clock.now()
        await conn.send_str("late")
        assert clock.now() - start <= 1.0
        await conn.close()
    assert sock.sent == ["t0", "late"]


async def test_the_next_sockets_on_connect_goes_ahead_of_sends_waiting_for_a_dead_one(
    options: dict[str, Any], events: Events
) -> None:
    # 30 sends queued for a socket that goes: the next socket's login (and
    # so its on_connect, bounded by open_timeout) must not wait behind them.
    clock: FakeClock = options["clock"]
    first, second = FakeSocket(), FakeSocket(clock=clock)

    async def login(conn: wsclient.Connection) -> None:
        await conn.send_str("login")

    async with fake_connection(
        FakeTransport(first, second), options, send_rate=1.0, on_connect=login
    ) as conn:
        await events.wait_count(Connected, 1)
        await clock.sleep(0.1)
        senders = [asyncio.create_task(conn.send_str(f"t{n}")) for n in range(30)]
        await clock.sleep(1.5)
        await conn.reconnect()
        await events.wait_count(Connected, 2)
        await clock.sleep(3)
        assert second.sent[0] == "login"
        assert second.sent_at[0] - events.when(Connected, 1) <= 1.0
        await asyncio.gather(*senders)
        await conn.close()
    assert len(events.of(Connected)) == 2  # no on_connect timeout, no loop
