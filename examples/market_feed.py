"""An order book that stays correct through what exchanges do to a feed.

Run it: ``python examples/market_feed.py``. It starts a small exchange on
127.0.0.1 that sends a snapshot of its book on subscribe, then numbered
deltas (one sequence for everybody), and a client that keeps a local copy of
the book with ``conn.stream()`` and a ``sequence`` key:

- a delta lost upstream: a ``Gap`` marker; the client resyncs with
  ``rotate()`` (the next socket's snapshot is ready before the old socket
  closes);
- a burst, then a restart (close 1012) while the consumer is far behind:
  the old socket's deltas still come first, then a ``Reconnected`` marker,
  then the new snapshot; the book is rebuilt on the marker, not in
  ``on_connect`` (which runs while old deltas are still queued);
- a feed that stays connected but goes silent: the stale watchdog
  (``stale_after``) notices and reconnects.

At the end the client's book is compared with the exchange's. Time runs 20x
faster here (``ScaledClock``), so the 5-30 s restart wait takes about a
second; in production, leave ``clock`` out.
"""

from __future__ import annotations

import asyncio
import json
import random
from itertools import count
from typing import Any

from aiohttp import WSMsgType, web

import wsclient

SPEED = 20.0
SYMBOL = "BTC-USD"
SUBSCRIBE = {"op": "subscribe", "channel": SYMBOL}
BURST = 200  # deltas the exchange sends at once before it restarts
DELTAS_AT_THE_END = 10  # on the last connection, then the books are compared


class Exchange:
    """A book of 20 price levels; a delta every quarter second, numbered from
    one sequence, to every subscriber. Each new connection misbehaves as the
    story needs."""

    def __init__(self, clock: wsclient.Clock) -> None:
        self.clock = clock
        self.rng = random.Random(3)
        self.seq = 0
        self.book = {str(64_000 + level): 1.0 for level in range(20)}
        self.history: dict[int, dict[str, float]] = {}  # seq -> the book after it
        self.subscribers: dict[web.WebSocketResponse, int] = {}  # ws -> its number
        self.sent: dict[web.WebSocketResponse, int] = {}
        self.connections = count(1)
        self.opened = asyncio.Event()  # the first subscriber came: the market opens

    def change(self) -> dict[str, Any]:
        self.seq += 1
        price = str(64_000 + self.rng.randrange(20))
        self.book[price] = qty = round(self.rng.uniform(0.1, 5.0), 2)
        self.history[self.seq] = dict(self.book)
        return {"type": "delta", "seq": self.seq, "price": price, "qty": qty}

    async def publish(self) -> None:
        await self.opened.wait()
        while True:
            await self.clock.sleep(0.25)
            delta = self.change()
            for ws, number in list(self.subscribers.items()):
                await self.deliver(ws, number, delta)

    async def deliver(self, ws: web.WebSocketResponse, number: int, delta: dict[str, Any]) -> None:
        sent = self.sent[ws] = self.sent[ws] + 1
        if number == 1 and sent == 6:
            return  # lost upstream: a gap in the sequence
        if number == 3 and sent > 8:
            return  # alive (pings answered), but silent
        try:
            await ws.send_json(delta)
            if number == 2 and sent == 10:  # a burst, then a restart
                for _ in range(BURST):
                    await ws.send_json(self.change())
                await ws.close(code=1012, message=b"deploying")
        except ConnectionError:  # the client just left
            self.subscribers.pop(ws, None)

    async def feed(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        number = next(self.connections)
        async for msg in ws:
            if msg.type is WSMsgType.TEXT and json.loads(msg.data) == SUBSCRIBE:
                await ws.send_json({"type": "snapshot", "seq": self.seq, "book": self.book})
                self.sent[ws] = 0
                self.subscribers[ws] = number
                self.opened.set()
        self.subscribers.pop(ws, None)
        return ws


def key(data: dict[str, Any]) -> tuple[str, int] | None:
    """The ``sequence`` key: a snapshot starts the book afresh at its seq,
    each delta follows the last; anything else is outside the sequence."""
    if data["type"] == "snapshot":
        return wsclient.Resync(SYMBOL, data["seq"])
    if data["type"] == "delta":
        return SYMBOL, data["seq"]
    return None


class Book:
    """The client's copy of the book, and what happened to it."""

    def __init__(self, clock: wsclient.Clock) -> None:
        self.clock = clock
        self.levels: dict[str, float] = {}
        self.connection = 1
        self.applied = 0  # deltas applied on the current connection

    async def on_item(self, item: Any, conn: wsclient.Connection) -> None:
        if isinstance(item, wsclient.Reconnected):
            cause = item.cause
            print(
                f"--- connection {item.connection} (after {cause.code} {cause.reason!r}): "
                f"{self.applied} deltas of connection {self.connection} came first; book cleared"
            )
            self.levels.clear()
            self.connection, self.applied = item.connection, 0
        elif isinstance(item, wsclient.Gap):
            print(f"  gap: expected #{item.expected}, got #{item.received}: resyncing")
            await conn.rotate()
        elif item["type"] == "snapshot":
            self.levels = dict(item["book"])
            print(f"snapshot #{item['seq']}: {len(self.levels)} levels")
        else:
            self.levels[item["price"]] = item["qty"]
            self.applied += 1
            await self.clock.sleep(0.2)  # a slow consumer: 200 ms per delta


async def subscribe(conn: wsclient.Connection) -> None:
    """on_connect: runs on every new socket, before its messages are yielded."""
    await conn.send_json(SUBSCRIBE)


def show(event: wsclient.Event) -> None:
    if isinstance(event, wsclient.Disconnected):
        print(f"  disconnected: {event.code} {event.reason!r} ({event.cause.kind})")
    elif isinstance(event, wsclient.ReconnectScheduled):
        print(f"  {event.decision}; next attempt in {event.delay:.1f} s")
    elif isinstance(event, wsclient.Stale):
        print(f"  no data for {event.idle:.1f} s: the feed is stale")


async def main() -> None:
    clock = wsclient.ScaledClock(SPEED)
    exchange = Exchange(clock)
    app = web.Application()
    app.router.add_get("/ws", exchange.feed)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    publisher = asyncio.create_task(exchange.publish())

    book = Book(clock)
    async with wsclient.connect(
        f"ws://127.0.0.1:{port}/ws",
        on_connect=subscribe,
        on_event=show,
        sequence=key,
        stale_after=3,  # seconds without a delta: the feed is dead
        heartbeat=2,
        clock=clock,
        rng=random.Random(7),
    ) as conn:
        async for item in conn.stream(loads=json.loads):
            await book.on_item(item, conn)
            if book.connection == 4 and book.applied == DELTAS_AT_THE_END:
                break
        seq, stats = conn.position[SYMBOL], conn.stats
    publisher.cancel()
    await asyncio.wait({publisher})
    await runner.cleanup()
    same = "matches" if book.levels == exchange.history[seq] else "DIFFERS FROM"
    print(
        f"done: the book {same} the exchange's at #{seq} ({len(book.levels)} levels); "
        f"{stats.connects} connections, {stats.gaps} gap(s), {stats.duplicates} duplicate(s)"
    )


if __name__ == "__main__":
    asyncio.run(main())
