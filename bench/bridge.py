"""Messages per second through ``wsclient bridge`` into JetStream, against
nats-py publishing the same messages directly.

``python -m bench.bridge`` starts a nats-server (JetStream, memory storage, a
free loopback port, a temporary store) and the benchmark's WebSocket server
(:mod:`bench.server`, its own process), then runs both, round by round
(which goes first alternates):

- **direct**: nats-py ``js.publish`` of N copies of the message, each
  awaited (acknowledged) before the next;
- **bridge**: a :class:`wsclient.bridge.Bridge` reading N messages from
  ``/stream`` and publishing each the same way (acknowledged before the
  next), timed from the start of ``run()`` to its return (the handshake
  included: a few milliseconds).

Both publish the same payload, without ``Nats-Msg-Id`` (the messages are
identical). The ratio is bridge/direct per round; the median is reported.
Loopback only; every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from nats.js.api import StorageType, StreamConfig

from tests.nats_server import NatsServer
from wsclient import ReconnectPolicy, Session, Stop
from wsclient.bridge import Bridge, Nats

from .frames import payload
from .process import ServerProcess
from .stats import Summary, summarize, summarize_ratios

__all__ = ["main", "measure"]

_ROUND_TIMEOUT = 120.0  # seconds: one round of one mode, at most


async def _direct(link: Nats, data: bytes, count: int) -> float:
    """Seconds for nats-py to publish ``count`` messages, each acknowledged."""
    started = time.perf_counter()
    for _ in range(count):
        await link.js.publish("bench.direct", data)
    return time.perf_counter() - started


async def _bridged(link: Nats, url: str) -> tuple[float, int]:
    """Seconds for the bridge to publish the feed at ``url``, and how many."""
    stop = ReconnectPolicy.default().with_rule(1000, Stop("the stream ended"))
    async with Session(policy=stop, heartbeat=None) as session:
        bridge = Bridge(session.connect(url), link, "bench.bridge", log=lambda _: None)
        started = time.perf_counter()
        stats = await bridge.run()
        return time.perf_counter() - started, stats.published


async def measure(count: int, size: int, rounds: int) -> dict[str, Summary]:
    """Per-mode messages per second, and the bridge/direct ratio, over ``rounds``."""
    direct: list[float] = []
    bridged: list[float] = []
    with tempfile.TemporaryDirectory() as store, ServerProcess() as feed:
        server = NatsServer(Path(store))
        await server.start()
        try:
            link = await Nats.connect(server.url, log=lambda _: None)
            config = StreamConfig(
                name="BENCH", subjects=["bench.>"], storage=StorageType.MEMORY, max_msgs=count
            )
            await link.js.add_stream(config)
            data = payload(size).encode()
            url = feed.url(f"/stream?size={size}&count={count}")
            for turn in range(rounds):
                async with asyncio.timeout(_ROUND_TIMEOUT):
                    if turn % 2:  # who goes first alternates: neither always gets a warm start
                        seconds, published = await _bridged(link, url)
                        direct.append(count / await _direct(link, data, count))
                    else:
                        direct.append(count / await _direct(link, data, count))
                        seconds, published = await _bridged(link, url)
                if published != count:
                    raise RuntimeError(f"the bridge published {published} of {count}")
                bridged.append(count / seconds)
            await link.close()
        finally:
            await server.stop()
    return {
        "direct_msgs_per_s": summarize(direct),
        "bridge_msgs_per_s": summarize(bridged),
        "bridge_over_direct": summarize_ratios(bridged, direct),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the measurement and print a table (``--json`` for JSON)."""
    parser = argparse.ArgumentParser(prog="python -m bench.bridge", description=__doc__)
    parser.add_argument("--messages", type=int, default=5000, help="per round and mode")
    parser.add_argument("--size", type=int, default=150, help="payload bytes")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.messages < 1 or args.rounds < 1 or not 16 <= args.size <= 65536:
        parser.error("--messages and --rounds must be >= 1, --size in 16..65536")
    result = asyncio.run(measure(args.messages, args.size, args.rounds))
    if args.json:
        print(
            json.dumps(
                {k: {"median": v.median, "min": v.min, "max": v.max} for k, v in result.items()}
            )
        )
        return 0
    print(f"{args.messages} messages of {args.size} B, {args.rounds} rounds, ack per message")
    for name, summary in result.items():
        spread = f"(min {summary.min:.2f}, max {summary.max:.2f})"
        print(f"  {name:20} median {summary.median:10.2f}  {spread}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
