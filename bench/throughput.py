"""Phase 1: receive throughput (messages/s) per message size and client.

The clients run one after another against the same ``/stream``, interleaved:
every round runs every client once per size, in an order rotated each round,
so a slow moment of the machine hits them alike. Ratios are taken within a
round (wsclient against the aiohttp loops of the same round), then
summarized. The message count per run is calibrated on the lean aiohttp loop
so that a run lasts about ``seconds``; the CPU time of this process and of
the server is recorded around every run.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .clients import (
    BATCHES,
    LEAN,
    RAW,
    SEQUENCED,
    STREAM,
    STREAM_SEQUENCED,
    WSCLIENT,
    Client,
    Run,
)
from .process import ServerProcess
from .stats import Summary, summarize_each, summarize_ratios
from .usage import CpuSpan, self_cpu_seconds

__all__ = ["RATIOS", "ThroughputResult", "measure"]

# (label, numerator, denominator): the ratios the report shows.
RATIOS = (
    (f"{WSCLIENT} / {RAW}", WSCLIENT, RAW),
    (f"{WSCLIENT} / {LEAN}", WSCLIENT, LEAN),
    (f"{BATCHES} / {LEAN}", BATCHES, LEAN),
    (f"{STREAM} / {RAW}", STREAM, RAW),
    (f"{SEQUENCED} / {RAW}", SEQUENCED, RAW),
    (f"{STREAM_SEQUENCED} / {RAW}", STREAM_SEQUENCED, RAW),
)
_PROBE_BYTES = 8 * 1024 * 1024  # a calibration run receives about this much
_MAX_COUNT = 20_000_000


@dataclass(slots=True)
class ThroughputResult:
    """Messages/s per size (bytes) and client, per-round ratios, CPU spans."""

    rounds: int
    counts: dict[int, int] = field(default_factory=dict)
    rates: dict[int, dict[str, Summary]] = field(default_factory=dict)
    ratios: dict[int, dict[str, Summary]] = field(default_factory=dict)
    cpu: dict[int, dict[str, CpuSpan]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


async def _timed(
    server: ServerProcess, client: Client, size: int, count: int, limit: float
) -> tuple[Run, CpuSpan]:
    """One run of ``client``, with the wall and CPU time around it."""
    url = server.url(f"/stream?size={size}&count={count}")
    gc.collect()
    wall, cpu, server_cpu = time.perf_counter(), self_cpu_seconds(), server.cpu_seconds()
    async with asyncio.timeout(limit):
        run = await client.run(url, count)
    span = CpuSpan(
        time.perf_counter() - wall,
        self_cpu_seconds() - cpu,
        server.cpu_seconds() - server_cpu,
    )
    return run, span


async def _calibrate(
    server: ServerProcess, clients: Sequence[Client], size: int, seconds: float, probe: int
) -> int:
    """Warm every client up once with ``probe`` messages; the count that
    keeps the lean loop busy for about ``seconds``."""
    rate = 0.0
    for client in clients:
        run, _span = await _timed(server, client, size, probe, limit=60.0)
        if client.name == LEAN:
            rate = run.messages / run.seconds
    if rate <= 0:
        return probe
    return max(100, min(_MAX_COUNT, round(rate * seconds)))


async def measure(
    server: ServerProcess,
    clients: Sequence[Client],
    *,
    sizes: Sequence[int],
    rounds: int,
    seconds: float,
    fixed_counts: dict[int, int] | None = None,
    log: Callable[[str], None] = print,
) -> ThroughputResult:
    """Run the phase; ``fixed_counts`` (size: messages) replaces calibration
    (every client still runs once untimed, to warm up)."""
    result = ThroughputResult(rounds)
    for size in sizes:
        if fixed_counts is not None:
            await _calibrate(server, clients, size, seconds, fixed_counts[size])  # warm-up
            result.counts[size] = fixed_counts[size]
        else:
            probe = max(100, _PROBE_BYTES // size)
            result.counts[size] = await _calibrate(server, clients, size, seconds, probe)
            log(f"throughput: {size} B messages, {result.counts[size]:,} per run")
    rates = {size: {c.name: list[float]() for c in clients} for size in sizes}
    result.cpu = {size: {c.name: CpuSpan() for c in clients} for size in sizes}
    limit = 30.0 + 20 * seconds
    for turn in range(rounds):
        order = [*clients[turn % len(clients) :], *clients[: turn % len(clients)]]
        for size in sizes:
            for client in order:
                run, span = await _timed(server, client, size, result.counts[size], limit)
                rates[size][client.name].append(run.messages / run.seconds)
                result.cpu[size][client.name].add(span)
        log(f"throughput: round {turn + 1}/{rounds} done")
    for size, by_client in rates.items():
        result.rates[size] = summarize_each(by_client)
        result.ratios[size] = {
            label: summarize_ratios(by_client[top], by_client[bottom])
            for label, top, bottom in RATIOS
            if top in by_client and bottom in by_client
        }
    return result
