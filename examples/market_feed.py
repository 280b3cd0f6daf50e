"""A market-data feed that survives what exchanges do to it.

Run it: ``python examples/market_feed.py``. It starts a small exchange on
127.0.0.1 that numbers its ticks (one sequence for everybody), and a client
that subscribes in ``on_connect``, checks the sequence, and rides through:

- a gap in the sequence: the client forces a fresh connection (``reconnect()``);
- a restart (close 1012): reconnect after a random 5-30 s;
- a feed that stays connected but goes silent: the stale watchdog
  (``stale_after``) notices and reconnects.

Time runs 20x faster here (``ScaledClock``), so the 5-30 s restart wait takes
about a second; in production, leave ``clock`` out.
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
WANTED = 40  # ticks to receive before the example ends


class Exchange:
    """One tick every half second, numbered from one sequence, to every
    subscriber; each new connection misbehaves as the story needs."""

    def __init__(self, clock: wsclient.Clock) -> None:
        self.clock = clock
        self.subscribers: dict[web.WebSocketResponse, int] = {}  # ws -> its number
        self.sent: dict[web.WebSocketResponse, int] = {}
        self.connections = count(1)

    async def publish(self) -> None:
        for seq in count(1):
            await self.clock.sleep(0.5)
            for ws, number in list(self.subscribers.items()):
                await self.deliver(ws, number, {"type": "tick", "seq": seq, "price": 64_000 + seq})

    async def deliver(self, ws: web.WebSocketResponse, number: int, tick: dict[str, Any]) -> None:
        sent = self.sent[ws] = self.sent[ws] + 1
        if number == 1 and sent == 6:
            return  # a tick lost upstream: a gap in the sequence
        if number == 3 and sent > 5:
            return  # alive (pings answered), but silent
        try:
            await ws.send_json(tick)
            if number == 2 and sent == 8:
                await ws.close(code=1012, message=b"deploying")
        except ConnectionError:  # the client just left
            self.subscribers.pop(ws, None)

    async def feed(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        number = next(self.connections)
        async for msg in ws:
            if msg.type is WSMsgType.TEXT and json.loads(msg.data) == SUBSCRIBE:
                await ws.send_json({"type": "subscribed", "channel": "BTC-USD"})
                self.sent[ws] = 0
                self.subscribers[ws] = number
        self.subscribers.pop(ws, None)
        return ws


SUBSCRIBE = {"op": "subscribe", "channel": "BTC-USD"}


class Feed:
    """The client side: subscribe on every connection, watch the sequence."""

    def __init__(self) -> None:
        self.expected: int | None = None  # the next sequence number on this connection
        self.received = 0

    async def subscribe(self, conn: wsclient.Connection) -> None:
        """on_connect: runs after every handshake, before anything is yielded."""
        await conn.send_json(SUBSCRIBE)
        ack = await conn.receive()
        if json.loads(ack.data).get("type") != "subscribed":
            raise RuntimeError(f"subscription refused: {ack.data}")
        self.expected = None  # a new subscription starts a new run of ticks

    def gap(self, tick: dict[str, Any]) -> bool:
        """Whether ``tick`` shows a gap; if not, count it."""
        if self.expected is not None and tick["seq"] != self.expected:
            print(f"  gap: expected #{self.expected}, got #{tick['seq']}: resubscribing")
            return True
        self.expected = tick["seq"] + 1
        self.received += 1
        print(f"tick #{tick['seq']:<3} {tick['price']}")
        return False


def show(event: wsclient.Event) -> None:
    if isinstance(event, wsclient.Connected):
        print(f"  connected (attempt {event.attempt})")
    elif isinstance(event, wsclient.Disconnected):
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

    feed = Feed()
    async with wsclient.connect(
        f"ws://127.0.0.1:{port}/ws",
        on_connect=feed.subscribe,
        on_event=show,
        stale_after=3,  # seconds without a tick: the feed is dead
        heartbeat=2,
        clock=clock,
        rng=random.Random(7),
    ) as conn:
        async for msg in conn:
            if feed.gap(json.loads(msg.data)):
                await conn.reconnect()  # a fresh connection, a fresh subscription
            elif feed.received == WANTED:
                break
        stats = conn.stats
    publisher.cancel()
    await asyncio.wait({publisher})
    await runner.cleanup()
    print(
        f"done: {feed.received} ticks over {stats.connects} connections "
        f"({stats.reconnects} reconnects), {clock.now():.0f} s of feed time"
    )


if __name__ == "__main__":
    asyncio.run(main())
