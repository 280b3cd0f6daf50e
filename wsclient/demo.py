"""``wsclient demo``: a client rides through a scripted story, told as a timeline.

A local server on 127.0.0.1 streams market data, restarts (1012), says it is
overloaded (1013), drops the socket, and finally commits a protocol error
(1002). Time runs ``--speed`` times faster (a :class:`~wsclient.clock.ScaledClock`
shared by server and client), so minutes of backoff pass in seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .clock import ScaledClock
from .connection import Connection
from .disconnect import Initiator, close_code_name
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
from .testing.feed import TickFeed
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


async def _second_act(console: Any, speed: float) -> None:
    """The same 1012 restart against one connection and against two legs."""
    clock = ScaledClock(speed)
    console.print(
        "\n[bold]Act 2[/]: the same 1012 restart, against one connection to replica A\n"
        "and against two legs (redundancy=2) on replicas A and B; a tick a second."
    )
    seen: dict[str, dict[int, float]] = {"single": {}, "redundant": {}}

    def key(msg: Any) -> tuple[str, int]:
        return SYMBOL, json.loads(msg.data)["seq"]

    async def follow(name: str, conn: Connection, until: int) -> None:
        async with conn:
            async for msg in conn:
                seq = key(msg)[1]
                seen[name][seq] = clock.now()
                if seq >= until:
                    return

    def tell(name: str) -> Callable[[Event], None]:
        def event(ev: Event) -> None:
            leg = getattr(ev, "leg", None)
            who = f"{name} leg {leg}" if leg else name
            stamp = f"[dim]{clock.now():7.1f}s[/]"
            if isinstance(ev, Disconnected) and ev.initiated_by is not Initiator.CLIENT:
                console.print(f"{stamp}  [yellow]✕ {who}: {ev.code} {ev.reason}[/]")
            elif isinstance(ev, ReconnectScheduled):
                console.print(f"{stamp}  [cyan]↻ {who}: next attempt in {ev.delay:.1f} s[/]")
            elif isinstance(ev, Connected) and ev.attempt > 1:
                console.print(f"{stamp}  [green]● {who}: connected[/]")

        return event

    async with TickFeed(2, interval=1.0, count=120, clock=clock) as feed:
        a, b = feed.urls
        rng = random.Random(2)
        single = connect(a, clock=clock, rng=rng, sequence=key, on_event=tell("single"))
        both = connect(
            [a, b], clock=clock, rng=rng, sequence=key, redundancy=2, on_event=tell("redundant")
        )
        pairs = (("single", single), ("redundant", both))
        tasks = [asyncio.create_task(follow(name, conn, 120)) for name, conn in pairs]
        while not (seen["single"] and seen["redundant"]):  # both up, then a few ticks
            await clock.sleep(0.25)
        await clock.sleep(3)
        restart_at = feed.sent
        stamp = f"[dim]{clock.now():7.1f}s[/]"
        console.print(f"{stamp}  [bold]replica A restarts (1012), back 2 s later[/]")
        await feed.replicas[0].restart(1012, down=2.0)
        while max(seen["single"]) <= restart_at:
            await clock.sleep(0.5)
        back = min(s for s in seen["single"] if s > restart_at)
        missed = back - max(s for s in seen["single"] if s <= restart_at) - 1
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    merged = sorted(seen["redundant"])
    holes = sum(b - a - 1 for a, b in itertools.pairwise(merged))
    console.print(
        f"\nsingle connection: back at tick #{back}, [bold red]{missed} ticks missed[/]\n"
        f"redundant: ticks #{merged[0]}-#{merged[-1]}, [bold green]{holes} missed[/], "
        f"{both.stats.duplicates} second copies dropped"
    )


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
    await _second_act(console, speed)
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
