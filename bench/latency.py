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
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass

import aiohttp

import wsclient

from .clients import RAW, STREAM_ENDS, WSCLIENT
from .process import ServerProcess
from .stats import Summary, percentile, summarize_each

__all__ = ["LatencyResult", "measure"]

_SKIP = 10  # the first messages of a connection warm up; not counted


@dataclass(frozen=True, slots=True)
class LatencyResult:
    """Microseconds per client: summaries over rounds of per-round figures."""

    rate: int
    messages: int  # per client and round
    p50: dict[str, Summary]
    p99: dict[str, Summary]
    max: dict[str, Summary]


def _stamp_us(text: str, now: int) -> float:
    return (now - int(text[: text.index(" ")])) / 1000


async def _latencies(messages: AsyncIterable[aiohttp.WSMessage]) -> list[float]:
    """The latency of every message, in microseconds, bar the first ``_SKIP``."""
    latencies: list[float] = []
    async for msg in messages:
        now = time.perf_counter_ns()
        latencies.append(_stamp_us(msg.data, now))
    return latencies[_SKIP:]


async def _raw(url: str) -> list[float]:
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        return await _latencies(ws)


async def _wsclient(url: str) -> list[float]:
    async with wsclient.connect(url, policy=STREAM_ENDS) as conn:
        return await _latencies(conn)


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
    runs = {RAW: _raw, WSCLIENT: _wsclient}
    p50: dict[str, list[float]] = {name: [] for name in runs}
    p99: dict[str, list[float]] = {name: [] for name in runs}
    worst: dict[str, list[float]] = {name: [] for name in runs}
    for turn in range(rounds):
        order = [RAW, WSCLIENT] if turn % 2 == 0 else [WSCLIENT, RAW]
        for name in order:
            async with asyncio.timeout(10.0 + 2 * seconds):
                latencies = await runs[name](url)
            if len(latencies) != count - _SKIP:
                raise RuntimeError(f"{name}: {len(latencies) + _SKIP} of {count} messages")
            p50[name].append(percentile(latencies, 50))
            p99[name].append(percentile(latencies, 99))
            worst[name].append(max(latencies))
        log(f"latency: round {turn + 1}/{rounds} done")
    return LatencyResult(
        rate, count - _SKIP, summarize_each(p50), summarize_each(p99), summarize_each(worst)
    )
