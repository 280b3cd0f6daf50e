"""Phase 4: receive latency at a fixed rate.

The server's ``/latency`` sends messages at a steady rate (1,000/s by
default), each starting with its ``perf_counter_ns()`` taken just before the
write; the client reads its own ``perf_counter_ns()`` first thing on arrival.
Same machine, same system-wide clock: the difference is the latency (the
write syscall, loopback, the event loop waking, parsing, and whatever the
library adds). Far below saturation, this shows the cost of a hand-off, not
of throughput.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

import wsclient

from .clients import RAW, WSCLIENT
from .process import ServerProcess
from .stats import Summary, percentile, summarize

__all__ = ["LatencyResult", "measure"]

_SKIP = 10  # the first messages of a connection warm up; not counted


@dataclass(slots=True)
class LatencyResult:
    """Microseconds per client: summaries over rounds of per-round figures."""

    rate: int
    messages: int  # per client and round
    p50: dict[str, Summary] = field(default_factory=dict)
    p99: dict[str, Summary] = field(default_factory=dict)
    max: dict[str, Summary] = field(default_factory=dict)


def _stamp_us(text: str, now: int) -> float:
    return (now - int(text[: text.index(" ")])) / 1000


async def _raw(url: str) -> list[float]:
    latencies: list[float] = []
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        async for msg in ws:
            now = time.perf_counter_ns()
            latencies.append(_stamp_us(msg.data, now))
    return latencies[_SKIP:]


async def _wsclient(url: str) -> list[float]:
    latencies: list[float] = []
    async with wsclient.connect(url) as conn:
        async for msg in conn:
            now = time.perf_counter_ns()
            latencies.append(_stamp_us(msg.data, now))
    return latencies[_SKIP:]


async def measure(
    server: ServerProcess,
    *,
    rounds: int,
    rate: int,
    seconds: float,
    size: int = 150,
    log: Callable[[str], None] = print,
) -> LatencyResult:
    """Run the phase: per round, aiohttp and wsclient, order alternating."""
    count = max(_SKIP + 10, round(rate * seconds))
    url = server.url(f"/latency?size={size}&rate={rate}&count={count}")
    result = LatencyResult(rate, count - _SKIP)
    samples: dict[str, dict[str, list[float]]] = {
        name: {"p50": [], "p99": [], "max": []} for name in (RAW, WSCLIENT)
    }
    runs = {RAW: _raw, WSCLIENT: _wsclient}
    for turn in range(rounds):
        order = [RAW, WSCLIENT] if turn % 2 == 0 else [WSCLIENT, RAW]
        for name in order:
            async with asyncio.timeout(10.0 + 2 * seconds):
                latencies = await runs[name](url)
            if len(latencies) != count - _SKIP:
                raise RuntimeError(f"{name}: {len(latencies) + _SKIP} of {count} messages")
            samples[name]["p50"].append(percentile(latencies, 50))
            samples[name]["p99"].append(percentile(latencies, 99))
            samples[name]["max"].append(max(latencies))
        log(f"latency: round {turn + 1}/{rounds} done")
    for name, figures in samples.items():
        result.p50[name] = summarize(figures["p50"])
        result.p99[name] = summarize(figures["p99"])
        result.max[name] = summarize(figures["max"])
    return result
