"""Phase 2: the reconnect gap.

The server's ``/gap`` sends ``o<ns>`` and ``c<ns>`` and closes with 4000 at
once; ``<ns>`` is its ``perf_counter_ns()``, a system-wide clock, so the
client subtracts the close stamp from its own reading when the next
connection's first message arrives: the gap a consumer sees.

wsclient is told to reconnect at once on 4000
(``with_rule(4000, Reconnect(Uniform(0, 0)))``), so the gap is its own
overhead: deciding, tearing down, reconnecting. The baseline is the best a
hand-written aiohttp loop can do (reconnect the moment ``async for`` ends),
and the bare handshake: ``ws_connect`` to the first message.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

import wsclient

from .process import ServerProcess
from .stats import Summary, summarize

__all__ = ["GapResult", "measure"]

_CLOSE_CODE = 4000


@dataclass(frozen=True, slots=True)
class GapResult:
    """Milliseconds, summaries over rounds of each round's median."""

    reconnects: int  # per client and round
    handshake: Summary  # aiohttp: ws_connect called -> first message
    raw_gap: Summary  # aiohttp, reconnecting by hand: close sent -> next first message
    wsclient_gap: Summary  # wsclient: close sent -> next first message
    extra_vs_raw: Summary  # wsclient gap - aiohttp gap, per round
    extra_vs_handshake: Summary  # wsclient gap - handshake, per round


async def _raw(url: str, reconnects: int) -> tuple[list[float], list[float]]:
    """aiohttp reconnecting by hand; (handshakes, gaps) in ms."""
    handshakes: list[float] = []
    gaps: list[float] = []
    closed_at: int | None = None
    async with aiohttp.ClientSession() as session:
        for _ in range(reconnects + 1):
            started = time.perf_counter_ns()
            async with session.ws_connect(url) as ws:
                async for msg in ws:
                    now = time.perf_counter_ns()
                    text: str = msg.data
                    if text.startswith("o"):
                        handshakes.append((now - started) / 1e6)
                        if closed_at is not None:
                            gaps.append((now - closed_at) / 1e6)
                    else:
                        closed_at = int(text[1:])
    return handshakes, gaps


async def _wsclient(url: str, reconnects: int) -> list[float]:
    """wsclient with the policy reconnecting at once on 4000; gaps in ms."""
    now_rule = wsclient.Reconnect(wsclient.Uniform(0, 0))
    policy = wsclient.ReconnectPolicy.default().with_rule(_CLOSE_CODE, now_rule)
    gaps: list[float] = []
    closed_at: int | None = None
    async with wsclient.connect(url, policy=policy) as conn:
        async for msg in conn:
            now = time.perf_counter_ns()
            text: str = msg.data
            if text.startswith("o"):
                if closed_at is not None:
                    gaps.append((now - closed_at) / 1e6)
                    if len(gaps) == reconnects:
                        break
            else:
                closed_at = int(text[1:])
    return gaps


async def measure(
    server: ServerProcess,
    *,
    rounds: int,
    reconnects: int,
    log: Callable[[str], None] = print,
) -> GapResult:
    """Run the phase: per round, aiohttp then wsclient (alternating order)."""
    url = server.url(f"/gap?code={_CLOSE_CODE}")
    limit = 10.0 + reconnects
    handshake: list[float] = []
    raw: list[float] = []
    ours: list[float] = []
    for turn in range(rounds):
        async with asyncio.timeout(limit):
            if turn % 2:
                gaps = await _wsclient(url, reconnects)
                handshakes, raw_gaps = await _raw(url, reconnects)
            else:
                handshakes, raw_gaps = await _raw(url, reconnects)
                gaps = await _wsclient(url, reconnects)
        handshake.append(statistics.median(handshakes))
        raw.append(statistics.median(raw_gaps))
        ours.append(statistics.median(gaps))
        log(f"gap: round {turn + 1}/{rounds} done")
    return GapResult(
        reconnects,
        summarize(handshake),
        summarize(raw),
        summarize(ours),
        summarize([a - b for a, b in zip(ours, raw, strict=True)]),
        summarize([a - b for a, b in zip(ours, handshake, strict=True)]),
    )
