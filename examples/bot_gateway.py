"""A gateway-style bot: identify, heartbeat, resume after a restart without
handling any event twice, and give up cleanly when the gateway says the
session can never work.

Run it: ``python examples/bot_gateway.py``. It starts a small gateway on
127.0.0.1 that speaks a Discord-like protocol (HELLO, IDENTIFY, READY,
heartbeats, RESUME, numbered events) and plays a story: events, a restart
(close 1012), a resumed session with the events missed in between, then a
close with 4004 "authentication failed", which the bot's policy maps to Fail.

The bot is slow (each event takes it 8 s), so when it resumes, events of the
old socket are still queued: it resumes from ``conn.position`` (the last
event handed to it), the gateway replays from there, and the ``sequence``
key drops the replays of what was still queued.

Time runs 20x faster here (``ScaledClock``); in production, leave ``clock`` out.
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
HELLO, IDENTIFY, READY, RESUME, RESUMED, EVENT, HEARTBEAT, ACK = range(8)


class Gateway:
    """Sessions that survive a restart; events numbered per session."""

    def __init__(self, clock: wsclient.Clock) -> None:
        self.clock = clock
        self.events: list[dict[str, Any]] = []  # the session's events, in order
        self.connections = count(1)

    async def serve(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        number = next(self.connections)
        await ws.send_json({"op": HELLO, "heartbeat_interval": 2.0})
        first = json.loads((await ws.receive()).data)
        if first["op"] == RESUME:
            missed = [e for e in self.events if e["s"] > first["seq"]]
            await ws.send_json({"op": RESUMED, "replayed": len(missed)})
            for event in missed:
                await ws.send_json(event)
        else:
            await ws.send_json({"op": READY, "session_id": "s-1"})
        ticker = asyncio.create_task(self.dispatch(ws, number))
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT and json.loads(msg.data)["op"] == HEARTBEAT:
                    await ws.send_json({"op": ACK})
        finally:
            ticker.cancel()
            await asyncio.wait({ticker})
        return ws

    async def dispatch(self, ws: web.WebSocketResponse, number: int) -> None:
        for n in range(1, 7):
            await self.clock.sleep(1)
            seq = len(self.events) + 1
            event = {"op": EVENT, "s": seq, "t": "MESSAGE", "d": f"message {seq}"}
            self.events.append(event)
            if number == 1 and n == 6:  # the restart loses this one in flight...
                await ws.close(code=1012, message=b"restarting")
                return
            await ws.send_json(event)  # ...and RESUME replays it
        await ws.close(code=4004, message=b"authentication failed")


class Bot:
    """Identifies once, resumes afterwards."""

    def __init__(self, clock: wsclient.Clock) -> None:
        self.clock = clock
        self.session_id: str | None = None
        self.seq = 0

    async def on_connect(self, conn: wsclient.Connection) -> None:
        hello = (await conn.receive()).json()
        assert hello["op"] == HELLO
        if self.session_id is None:
            await conn.send_json({"op": IDENTIFY, "token": "bot-token"})
            ready = (await conn.receive()).json()
            self.session_id = ready["session_id"]
            print(f"  ready: session {self.session_id}")
        else:
            seq = conn.position.get("events", 0)  # handed to the bot; later ones may be queued
            await conn.send_json({"op": RESUME, "session_id": self.session_id, "seq": seq})
            replayed = (await conn.receive()).json()["replayed"]
            print(f"  resumed session {self.session_id} from #{seq}: {replayed} event(s)")

    async def handle(self, message: dict[str, Any]) -> None:
        if message["op"] == EVENT:
            self.seq = message["s"]
            print(f"event #{message['s']}: {message['d']}")
            await self.clock.sleep(8)  # a slow bot: events of the socket queue up


def key(message: dict[str, Any]) -> tuple[str, int] | None:
    """The ``sequence`` key: events are numbered; the rest is not."""
    return ("events", message["s"]) if message["op"] == EVENT else None


def show(event: wsclient.Event) -> None:
    if isinstance(event, wsclient.Disconnected):
        print(f"  disconnected: {event.code} {event.reason!r}")
    elif isinstance(event, wsclient.ReconnectScheduled):
        print(f"  {event.decision}; next attempt in {event.delay:.1f} s")


async def main() -> None:
    clock = wsclient.ScaledClock(SPEED)
    gateway = Gateway(clock)
    app = web.Application()
    app.router.add_get("/gateway", gateway.serve)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]

    bot = Bot(clock)
    policy = wsclient.ReconnectPolicy.default().with_rule(
        4004, wsclient.Fail("authentication failed: a new token is needed")
    )
    conn = wsclient.connect(
        f"ws://127.0.0.1:{port}/gateway",
        on_connect=bot.on_connect,
        on_event=show,
        policy=policy,
        sequence=key,
        # The gateway's heartbeat, on wsclient's timer: sent only on an open
        # socket (never buffered for a later one), answered by an ACK.
        heartbeat=2.0,
        ping_message={"op": HEARTBEAT},
        clock=clock,
        rng=random.Random(5),
    )
    async with conn:
        try:
            async for item in conn.stream(loads=json.loads):  # decoded once, for the key too
                if isinstance(item, wsclient.Reconnected):
                    print(f"  connection {item.connection}: the old socket's events came first")
                elif not isinstance(item, wsclient.Gap):
                    await bot.handle(item)
        except wsclient.FatalClose as exc:
            print(f"giving up cleanly: {exc}")
    await runner.cleanup()
    stats = conn.stats
    print(
        f"done: last event #{bot.seq}, {stats.connects} connections, "
        f"{stats.duplicates} replayed event(s) dropped"
    )


if __name__ == "__main__":
    asyncio.run(main())
