"""Tier 2: subscriptions as desired state over scripted fake sockets on the
fake clock: sent once per socket, replayed after on_connect and before the
outbox, undone with their own message, set up on a rotation's next socket
before the old one closes."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import Any

import pytest

import wsclient
from wsclient import Connected
from wsclient.subscriptions import Subscriptions
from wsclient.testing import FakeClock

from .conftest import Events
from .fakes import FakeSocket, FakeTransport, fake_connection

# -- the desired state alone, without a connection ------------------------------------


def test_a_renewed_subscription_moves_to_the_end_and_is_owed_again() -> None:
    subs = Subscriptions()
    assert (subs.names(), subs.owed(None)) == ([], False)
    a = subs.add("a", ("sub a", 5), None)
    subs.add("b", ("sub b", 5), ("unsub b", 7))
    sent: dict[Hashable, int] = {"a": a, "b": subs.add("b", ("sub b2", 6), None)}
    assert (subs.names(), subs.owed(sent)) == (["a", "b"], False)
    subs.add("a", ("sub a2", 6), None)
    assert subs.names() == ["b", "a"]
    assert subs.owed(sent) is True  # "a" in its new version
    assert subs.owed({k: v for k, v in sent.items() if k == "a"}) is True  # "b" never sent
    assert subs.owed(None) is True


def test_removing_gives_the_undo_message_and_an_unknown_name_is_a_key_error() -> None:
    subs = Subscriptions()
    subs.add("b", ("sub b", 5), ("unsub b", 7))
    subs.add("c", ("sub c", 5), None)
    assert subs.remove("b") == ("unsub b", 7)
    assert subs.remove("c") is None
    with pytest.raises(KeyError, match="not subscribed: 'b'"):
        subs.remove("b")


async def test_a_failed_write_leaves_the_subscription_owed_as_before() -> None:
    subs = Subscriptions()
    first = subs.add("a", ("sub a", 5), None)
    sent: dict[Hashable, int] = {"a": first}
    subs.add("b", ("sub b", 5), None)
    subs.add("a", ("sub a2", 6), None)  # renewed: owed again, after b
    written: list[object] = []

    async def write(message: object) -> None:
        if message in failing:
            raise ConnectionError("socket gone")
        written.append(message)

    failing = [("sub a2", 6)]
    with pytest.raises(ConnectionError, match="socket gone"):
        await subs.replay(sent, write)
    assert sent == {"a": first, "b": sent["b"]}  # a back to the version it had
    failing = [("sub c", 5)]
    subs.add("c", ("sub c", 5), None)
    with pytest.raises(ConnectionError, match="socket gone"):
        await subs.replay(sent, write)
    assert "c" not in sent  # never counted as sent
    failing = []
    await subs.replay(sent, write)
    assert written == [("sub b", 5), ("sub a2", 6), ("sub c", 5)]
    assert subs.owed(sent) is False


# -- over a connection -------------------------------------------------------------


async def until_sent(clock: FakeClock, sock: FakeSocket, count: int) -> None:
    for _ in range(1000):
        if len(sock.sent) >= count:
            return
        await clock.sleep(0.25)
    raise AssertionError(f"sent {sock.sent}, expected {count} messages")


async def test_a_new_socket_gets_on_connect_then_the_subscriptions_then_the_outbox(
    options: dict[str, Any], events: Events
) -> None:
    clock: FakeClock = options["clock"]
    first, second = FakeSocket(), FakeSocket()

    async def hello(conn: wsclient.Connection) -> None:
        await conn.send_str("hello")

    async with fake_connection(FakeTransport(first, second), options, on_connect=hello) as conn:
        await events.wait_count(Connected, 1)
        await conn.subscribe("a", {"op": "sub", "ch": "a"})
        await until_sent(clock, first, 2)
        assert first.sent == ["hello", '{"op": "sub", "ch": "a"}']
        first.drop()
        await events.wait_for(lambda: conn.state is wsclient.State.WAITING)
        await conn.subscribe("b", "sub b")  # down: not queued, replayed
        await conn.send_str("queued")
        await until_sent(clock, second, 4)
        assert conn.subscriptions == ["a", "b"]
        await conn.close()
    assert second.sent == ["hello", '{"op": "sub", "ch": "a"}', "sub b", "queued"]


async def test_unsubscribe_sends_its_own_message_and_new_sockets_leave_it_out(
    options: dict[str, Any], events: Events
) -> None:
    clock: FakeClock = options["clock"]
    first, second = FakeSocket(), FakeSocket()
    async with fake_connection(FakeTransport(first, second), options) as conn:
        await events.wait_count(Connected, 1)
        await conn.subscribe("trades", "sub trades", unsubscribe="unsub trades")
        await conn.subscribe("book", b"\x01book", unsubscribe=b"\x02book")
        await conn.subscribe("ticker", "sub ticker")  # no unsubscribe message
        await conn.unsubscribe("trades")
        await conn.unsubscribe("ticker")
        first.drop()
        await events.wait_for(lambda: conn.state is wsclient.State.WAITING)
        await conn.unsubscribe("book")  # down: nothing to undo anywhere
        await conn.subscribe("news", "sub news")
        await until_sent(clock, second, 1)
        await clock.sleep(1)
        await conn.close()
    assert first.sent == ["sub trades", b"\x01book", "sub ticker", "unsub trades"]
    assert second.sent == ["sub news"]


async def test_a_subscription_made_in_on_connect_goes_to_each_socket_once(
    options: dict[str, Any], events: Events
) -> None:
    clock: FakeClock = options["clock"]
    first, second = FakeSocket(), FakeSocket()
    acked: list[str] = []

    async def subscribe(conn: wsclient.Connection) -> None:
        await conn.subscribe("a", "sub a")  # sent at once: on_connect awaits the ack
        acked.append((await conn.receive()).data)

    async with fake_connection(
        FakeTransport(first, second), options, on_connect=subscribe
    ) as conn:
        await until_sent(clock, first, 1)
        first.feed("ack a", "data")
        assert (await conn.receive()).data == "data"
        first.drop()
        await until_sent(clock, second, 1)
        second.feed("ack a again")
        await events.wait_count(Connected, 2)
        await clock.sleep(1)
        await conn.close()
    assert (first.sent, second.sent) == (["sub a"], ["sub a"])
    assert acked == ["ack a", "ack a again"]


async def test_a_subscription_made_while_the_replay_runs_reaches_that_socket_once(
    options: dict[str, Any], events: Events
) -> None:
    clock: FakeClock = options["clock"]
    first, slow = FakeSocket(), FakeSocket(clock=clock, write_delay=1.0)
    async with fake_connection(FakeTransport(first, slow), options) as conn:
        await events.wait_count(Connected, 1)
        for name in "abc":
            await conn.subscribe(name, f"sub {name}")
        first.drop()
        await until_sent(clock, slow, 1)  # the replay is under way
        await conn.subscribe("d", "sub d")
        await conn.unsubscribe("c")  # not sent yet: just left out
        await until_sent(clock, slow, 3)
        await clock.sleep(5)
        await conn.send_str("live")
        await until_sent(clock, slow, 4)
        await conn.close()
    assert slow.sent == ["sub a", "sub b", "sub d", "live"]


async def test_a_rotation_subscribes_the_next_socket_before_the_old_one_closes(
    options: dict[str, Any], events: Events
) -> None:
    old = FakeSocket()
    seen_open: list[bool] = []

    class Next(FakeSocket):
        async def send_str(self, data: str) -> None:
            seen_open.append(old.close_code is None)
            await super().send_str(data)

    new = Next()
    async with fake_connection(FakeTransport(old, new), options, max_age=60) as conn:
        await events.wait_count(Connected, 1)
        await conn.subscribe("a", "sub a")
        await conn.subscribe("b", "sub b")
        await events.wait_count(Connected, 2)
        await conn.close()
    assert new.sent == ["sub a", "sub b"]
    assert seen_open == [True, True]
    assert old.close_code == 1000


async def test_replayed_subscriptions_keep_the_send_rate(
    options: dict[str, Any], events: Events
) -> None:
    clock: FakeClock = options["clock"]
    first, second = FakeSocket(), FakeSocket(clock=clock)
    async with fake_connection(FakeTransport(first, second), options, send_rate=2) as conn:
        await events.wait_count(Connected, 1)
        for n in range(6):
            await conn.subscribe(n, f"sub {n}")
        first.drop()
        await until_sent(clock, second, 6)
        await conn.close()
    assert second.sent_at[-1] - second.sent_at[0] == pytest.approx(2.5)


async def test_bad_subscriptions_are_refused_by_name(options: dict[str, Any]) -> None:
    async with fake_connection(FakeTransport(FakeSocket()), options) as conn:
        with pytest.raises(KeyError, match="not subscribed: 'nothing'"):
            await conn.unsubscribe("nothing")
        with pytest.raises(TypeError, match="message must be str, bytes or JSON-serializable"):
            await conn.subscribe("a", object())
        with pytest.raises(TypeError, match="unsubscribe must be str, bytes or JSON"):
            await conn.subscribe("a", "sub a", unsubscribe={1, 2})
        with pytest.raises(ValueError, match="cannot be sent"):
            await conn.subscribe("a", "bad \udcff")
        assert conn.subscriptions == []
        await conn.close()
        with pytest.raises(wsclient.InvalidState):
            await conn.subscribe("a", "sub a")
    await asyncio.sleep(0)


async def test_a_subscription_renewed_while_the_outbox_flushes_reaches_that_socket(
    options: dict[str, Any], events: Events
) -> None:
    clock: FakeClock = options["clock"]
    first, second = FakeSocket(), FakeSocket()
    transport = FakeTransport(first, second)
    async with fake_connection(transport, options, send_rate=1.0) as conn:
        await events.wait_count(Connected, 1)
        await conn.subscribe("s", "sub v1")
        first.drop()
        await events.wait_for(lambda: conn.state is wsclient.State.WAITING)
        for data in "xyz":
            await conn.send_str(data)
        await until_sent(clock, second, 1)
        await conn.subscribe("s", "sub v2")  # new parameters, the flush under way
        await until_sent(clock, second, 5)
        await conn.close()
    assert second.sent == ["sub v1", "x", "y", "z", "sub v2"]


async def test_a_subscription_renewed_during_a_rotation_reaches_the_next_socket(
    options: dict[str, Any], events: Events
) -> None:
    clock: FakeClock = options["clock"]
    old, new = FakeSocket(answer_close=2.0, clock=clock), FakeSocket()
    async with fake_connection(FakeTransport(old, new), options) as conn:
        await events.wait_count(Connected, 1)
        await conn.subscribe("s", "sub v1")
        rotation = asyncio.create_task(conn.rotate())
        await until_sent(clock, new, 1)  # set up; the old one is closing
        await conn.subscribe("s", "sub v2")  # goes to the old socket, and is owed to the new
        await rotation
        await events.wait_count(Connected, 2)
        await until_sent(clock, new, 2)
        await conn.close()
    assert new.sent == ["sub v1", "sub v2"]
