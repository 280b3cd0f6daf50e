"""``wsclient demo``: a client rides through a scripted story, told as a timeline.

A local server on 127.0.0.1 streams market data, restarts (1012), says it is
overloaded (1013), drops the socket, and finally commits a protocol error
(1002). Time runs ``--speed`` times faster (a :class:`~wsclient.clock.ScaledClock`
shared by server and client), so minutes of backoff pass in seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
from collections.abc import Sequence
from typing import Any

from .clock import ScaledClock
from .connection import Connection
from .disconnect import close_code_name
from .errors import FatalClose
from .events import (
    Connected,
    ConnectFailed,
    Disconnected,
    Event,
    GaveUp,
    HoldingOff,
    ReconnectScheduled,
)
from .session import connect
from .testing.server import Close, Drop, FaultServer, Pause, Receive, Send, Step

__all__ = ["run_demo", "story"]

SYMBOL = "BTC-USD"

# The module's docstring is Sphinx markup; --help shows plain text.
HELP = (
    "A client rides through a scripted story, told as a timeline. A local server on "
    "127.0.0.1 streams market data, restarts (1012), says it is overloaded (1013), drops "
    "the socket, and finally commits a protocol error (1002). Time runs --speed times "
    "faster (one clock shared by server and client), so minutes of backoff pass in seconds."
)


def story(seed: int = 7) -> list[list[Step]]:
    """One script per connection: ticks, then how the server ends it."""
    rng = random.Random(seed)
    price = 64_000.0
    seq = 0

    def ticks(count: int) -> list[Step]:
        nonlocal price, seq
        steps: list[Step] = []
        for _ in range(count):
            seq += 1
            price += rng.uniform(-40, 40)
            tick = {"seq": seq, "symbol": SYMBOL, "price": round(price, 2)}
            steps += [Send(json.dumps(tick)), Pause(0.5)]
        return steps

    return [
        [Receive(1), *ticks(5), Close(1012, "deploying v2")],
        [Receive(1), *ticks(3), Close(1013, "overloaded, try later")],
        [Receive(2), *ticks(3), Drop()],
        [Receive(1), *ticks(3), Close(1002, "malformed frame")],
    ]


class Timeline:
    """Prints what happens, one line each, with the virtual time."""

    def __init__(self, console: Any, clock: ScaledClock) -> None:
        self.console = console
        self.clock = clock
        self.conn: Connection | None = None

    def say(self, icon: str, style: str, text: str) -> None:
        stamp = f"[dim]{self.clock.now():7.1f}s[/]"
        self.console.print(f"{stamp}  [{style}]{icon} {text}[/]")

    def message(self, data: str) -> None:
        tick = json.loads(data)
        self.say("←", "white", f"tick #{tick['seq']:<3} {tick['symbol']} {tick['price']:,.2f}")

    async def event(self, event: Event) -> None:
        if isinstance(event, Connected):
            self.say("●", "bold green", f"connected (attempt {event.attempt}); subscribing")
        elif isinstance(event, Disconnected):
            code = event.code or 0
            reason = f' "{event.reason}"' if event.reason else ""
            name = close_code_name(code)
            self.say("✕", "yellow", f"closed by {event.initiated_by}: {code} {name}{reason}")
        elif isinstance(event, ConnectFailed):
            self.say("✕", "yellow", f"connect failed: {event.cause.describe()}")
        elif isinstance(event, ReconnectScheduled):
            real = event.delay / self.clock.factor
            self.say("↻", "cyan", f"{event.decision}")
            self.say(" ", "cyan", f"next attempt in {event.delay:.1f} s ({real:.2f} s real)")
        elif isinstance(event, HoldingOff) and self.conn is not None:
            order = {"op": "order", "side": "buy", "qty": 1}
            await self.conn.send_json(order)
            compact = json.dumps(order, separators=(",", ":"))
            self.say("→", "blue", f"order queued while down: {compact}")
        elif isinstance(event, GaveUp):
            self.say("■", "bold red", f"gave up: {event.cause.describe()}")


async def _play(console: Any, speed: float) -> int:
    clock = ScaledClock(speed)
    async with FaultServer(story(), then=[Close(1002)], clock=clock) as server:
        url = server.url.with_path("/feed")
        console.print(
            f"[bold]wsclient demo[/]: a scripted server on {url.host}:{url.port}.\n"
            f"Time runs {speed:g}x faster (a 30 s wait takes {30 / speed:.1f} s): "
            "the story ends in seconds.\n"
        )
        timeline = Timeline(console, clock)

        async def subscribe(conn: Connection) -> None:
            await conn.send_json({"op": "subscribe", "symbol": SYMBOL})

        conn = connect(
            url,
            clock=clock,
            rng=random.Random(2),
            on_connect=subscribe,
            on_event=timeline.event,
        )
        timeline.conn = conn
        async with conn:
            try:
                async for msg in conn:
                    timeline.message(msg.data)
            except FatalClose as exc:
                timeline.say("■", "bold red", f"FatalClose({exc.code}) raised: no reconnect loop")
        orders = [m for got in server.received for m in got if "order" in str(m)]
    stats = conn.stats
    console.print(
        f"\n[bold]done[/]: {stats.connects} connections, {stats.messages_in} ticks, "
        f"{len(orders)} order delivered after the hold-off,\n"
        f"{clock.now():.0f} s of virtual time in {clock.now() / speed:.1f} s."
    )
    return 0


def run_demo(argv: Sequence[str]) -> int:
    """Run the demo; return the exit code."""
    parser = argparse.ArgumentParser(prog="wsclient demo", description=HELP)
    parser.add_argument("--speed", type=float, default=20.0, help="time compression (20)")
    parser.add_argument("--no-color", action="store_true", help="plain text")
    args = parser.parse_args(argv)
    if not args.speed > 0:
        parser.error(f"--speed must be > 0, got {args.speed}")
    try:
        from rich.console import Console  # noqa: PLC0415 - only the demo needs rich
    except ImportError:
        print(
            "wsclient demo needs rich, in the cli extra: pip install 'aiohttp-wsclient[cli]'",
            file=sys.stderr,
        )
        return 1  # not a usage error: the command line was right
    console = Console(no_color=args.no_color, highlight=False)
    return asyncio.run(_play(console, args.speed))
