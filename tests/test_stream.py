"""Tier 3: ``conn.stream()`` against real servers on 127.0.0.1, on virtual
time: boundaries between connections, sequence keys across reconnects
(duplicates after a resume, one gap and no storm, numbering that restarts),
and what on_connect reads through it."""

from __future__ import annotations

import json
from typing import Any

import wsclient
from wsclient import Gap, Reconnected, Resync
from wsclient.testing import Close, Drop, FakeClock, Hold, Receive, Send
from wsclient.testing.plugin import StartServer

from .conftest import Events


def send(**fields: Any) -> Send:
    return Send(json.dumps(fields))


def book_key(data: dict[str, Any]) -> tuple[str, int] | None:
    """A market-data key: a snapshot starts the book afresh, deltas follow it."""
    if data["type"] == "snapshot":
        return Resync("book", data["seq"])
    if data["type"] == "delta":
        return "book", data["seq"]
    return None


def book_feed(conn: int, first: int, deltas: int) -> list[Send]:
    """A snapshot at seq ``first``, then ``deltas`` deltas, each naming its connection."""
    snapshot = {str(price): f"{conn}-snapshot" for price in range(50)}
    steps = [send(type="snapshot", seq=first, book=snapshot, conn=conn)]
    for i in range(1, deltas + 1):
        steps.append(
            send(type="delta", seq=first + i, price=str(i % 50), qty=f"{conn}-{i}", conn=conn)
        )
    return steps


async def test_a_slow_consumer_keeps_a_correct_book_through_a_1012_restart(
    fault_server: StartServer, options: dict[str, Any], events: Events, clock: FakeClock
) -> None:
    # The server restarts (1012) while a consumer at 50 ms per delta is 1,000
    # deltas behind: the new socket is up, its on_connect has run, and the old
    # deltas are still queued. The restarted server numbers afresh (a snapshot
    # at seq 5000). Reset on the marker, not in on_connect.
    feed1 = book_feed(1, 100, 1000)
    feed2 = book_feed(2, 5000, 200)
    server = await fault_server(
        [[Receive(), *feed1, Close(1012)]], then=[Receive(), *feed2, send(type="end"), Hold()]
    )
    connected_at: list[int] = []  # how many messages the consumer had taken then
    yielded: list[Any] = []

    async def subscribe(conn: wsclient.Connection) -> None:
        connected_at.append(len(yielded))
        await conn.send_json({"op": "subscribe", "channel": "book"})

    book: dict[str, str] = {}
    async with wsclient.connect(
        server.url, **options, on_connect=subscribe, sequence=book_key
    ) as conn:
        async for item in conn.stream(loads=json.loads):
            yielded.append(item)
            if isinstance(item, Reconnected):
                book.clear()
            elif isinstance(item, Gap):
                raise AssertionError(item)
            elif item["type"] == "snapshot":
                book = dict(item["book"])
            elif item["type"] == "delta":
                book[item["price"]] = item["qty"]
                await clock.sleep(0.05)
            else:
                break
    [marker] = [i for i, item in enumerate(yielded) if isinstance(item, Reconnected)]
    assert yielded[marker] == Reconnected(2, yielded[marker].cause)
    assert yielded[marker].cause.code == 1012
    assert connected_at[1] < marker - 100  # old deltas were queued as on_connect ran
    assert {item["conn"] for item in yielded[:marker]} == {1}
    assert {item.get("conn") for item in yielded[marker + 1 :]} == {2, None}
    assert len(yielded) == 1001 + 1 + 201 + 1  # every message once, nothing dropped
    expected = {str(price): "2-snapshot" for price in range(50)}
    expected.update({str(i % 50): f"2-{i}" for i in range(1, 201)})
    assert book == expected
    assert conn.position == {"book": 5200}
    assert (conn.stats.duplicates, conn.stats.gaps) == (0, 0)


async def test_one_gap_one_resync_and_no_storm(
    fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    # Seqs 6-8 never come; 22 more old messages are queued behind the one
    # that revealed the gap. The application resyncs once (here: a fresh
    # connection, whose snapshot starts the stream afresh).
    old = [send(type="delta", seq=seq) for seq in [*range(1, 6), *range(9, 31)]]
    fresh = [send(type="snapshot", seq=100), *(send(type="delta", seq=s) for s in range(101, 111))]
    server = await fault_server([[*old, Hold()]], then=[*fresh, send(type="end"), Hold()])
    yielded: list[Any] = []
    async with wsclient.connect(server.url, **options, sequence=book_key) as conn:
        async for item in conn.stream(loads=json.loads):
            yielded.append(item)
            if isinstance(item, Gap):
                await conn.reconnect()
            elif isinstance(item, dict) and item["type"] == "end":
                break
    gaps = [item for item in yielded if isinstance(item, Gap)]
    assert gaps == [Gap("book", 6, 9)]
    assert events.of(Gap) == gaps
    assert server.connections == 2
    seqs = [item["seq"] for item in yielded if isinstance(item, dict) and "seq" in item]
    assert seqs == [*range(1, 6), *range(9, 31), 100, *range(101, 111)]
    assert conn.stats.gaps == 1


async def test_a_bot_that_resumes_from_its_position_handles_no_event_twice(
    fault_server: StartServer, options: dict[str, Any], clock: FakeClock
) -> None:
    # Discord-style RESUME: on_connect resumes from the last event handed to
    # the application, while events of the old socket are still queued; the
    # server replays from there, and the replays of queued events are dropped.
    first = [send(op=0, s=seq) for seq in range(1, 7)]
    replay = [send(op=0, s=seq) for seq in range(4, 11)]
    server = await fault_server(
        [[*first, Drop()]], then=[Receive(), send(op=9), *replay, send(op=11), Hold()]
    )
    resumed_from: list[int | None] = []

    async def resume(conn: wsclient.Connection) -> None:
        if conn.stats.connects > 1:
            resumed_from.append(conn.position.get("events"))
            await conn.send_json({"op": 6, "seq": conn.position.get("events")})

    def key(data: dict[str, Any]) -> tuple[str, int] | None:
        return ("events", data["s"]) if data["op"] == 0 else None

    handled: list[int] = []
    async with wsclient.connect(server.url, **options, on_connect=resume, sequence=key) as conn:
        async for data in conn.stream(loads=json.loads):
            if isinstance(data, Reconnected | Gap):
                continue
            if data["op"] == 11:
                break
            if data["op"] == 0:
                handled.append(data["s"])
                await clock.sleep(1)  # slow: events of the old socket are queued
    assert handled == list(range(1, 11))
    [seq] = resumed_from
    assert seq is not None
    assert seq < 6
    assert conn.stats.duplicates == 3  # the replays of 4-6
    assert conn.position == {"events": 10}
    assert json.loads(server.received[1][0]) == {"op": 6, "seq": seq}


async def test_async_for_with_a_key_drops_duplicates_without_markers(
    fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    def key(msg: Any) -> tuple[str, int] | None:
        return ("s", int(msg.data)) if msg.data.isdigit() else None

    server = await fault_server(
        [[Send("1"), Send("2"), Send("2"), Drop()]],
        then=[Send("2"), Send("hello"), Send("5"), Close()],
    )
    async with wsclient.connect(server.url, **options, sequence=key) as conn:
        got = [msg.data async for msg in conn]
    assert got == ["1", "2", "hello", "5"]
    assert events.of(Gap) == [Gap("s", 3, 5)]
    assert (conn.stats.duplicates, conn.stats.gaps) == (2, 1)


async def test_without_a_key_the_stream_has_every_message_and_one_marker_per_seam(
    fault_server: StartServer, options: dict[str, Any]
) -> None:
    server = await fault_server(
        [[Send("a"), Send("a"), Close(1012)], [Close(1001)]],
        then=[Send("b"), Close()],
    )
    async with wsclient.connect(server.url, **options) as conn:
        items = [item async for item in conn.stream()]
    # The second socket delivered nothing; its marker still stands, and the
    # third socket's says what ended the one before it.
    assert [getattr(i, "data", None) for i in items] == ["a", "a", None, None, "b"]
    first, second = items[2], items[3]
    assert isinstance(first, Reconnected)
    assert isinstance(second, Reconnected)
    assert (first.connection, first.cause.code) == (2, 1012)
    assert (second.connection, second.cause.code) == (3, 1001)


async def test_on_connect_reads_its_own_socket_through_stream(
    fault_server: StartServer, options: dict[str, Any]
) -> None:
    # on_connect waits for READY through stream(); the application never
    # sees READY, and on_connect never sees the application's data.
    server = await fault_server(
        [[Send("data 1"), Send("data 2"), Close(1012)]],
        then=[Receive(), Send("READY"), Send("data 3"), Close()],
    )
    ready: list[Any] = []

    async def identify(conn: wsclient.Connection) -> None:
        if conn.stats.connects == 2:
            await conn.send_str("identify")
            async for item in conn.stream():
                ready.append(item)
                break

    async with wsclient.connect(server.url, **options, on_connect=identify) as conn:
        items = [getattr(i, "data", i) async for i in conn.stream()]
    assert [i.data for i in ready] == ["READY"]
    assert items[:2] == ["data 1", "data 2"]
    assert isinstance(items[2], Reconnected)
    assert items[3:] == ["data 3"]
