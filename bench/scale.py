"""Phase 3: many idle connections at once.

Each round runs :mod:`bench.scale_child` twice, for wsclient (one
``Session``, heartbeat on) and raw aiohttp (``TCPConnector(limit=0)``,
heartbeat on), each in a fresh process so their memory does not mix. The
child reports the RSS it grew by per connection and the time to open all of
them concurrently; the ratios are taken within a round.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from .process import ServerProcess, run_child
from .scale_child import AIOHTTP, WSCLIENT
from .stats import Summary, summarize_each, summarize_ratios
from .usage import raise_fd_limit

__all__ = ["ScaleResult", "measure"]


@dataclass(frozen=True, slots=True)
class ScaleResult:
    """Per client: KiB of RSS per connection, seconds to open all; ratios
    wsclient / aiohttp per round."""

    connections: int
    heartbeat: float
    fd_limit: int
    rss_kib: dict[str, Summary]
    open_seconds: dict[str, Summary]
    open_cpu_seconds: dict[str, Summary]
    rss_ratio: Summary
    open_ratio: Summary


def measure(
    server: ServerProcess,
    *,
    rounds: int,
    connections: int,
    heartbeat: float = 20.0,
    log: Callable[[str], None] = print,
) -> ScaleResult:
    """Run the phase (blocking: it waits on child processes)."""
    fd_limit = raise_fd_limit()
    if connections + 100 > fd_limit:
        raise RuntimeError(f"{connections} connections need more than the {fd_limit} open files")
    limit = 30.0 + connections / 50
    clients = (WSCLIENT, AIOHTTP)
    rss: dict[str, list[float]] = {name: [] for name in clients}
    opened: dict[str, list[float]] = {name: [] for name in clients}
    cpu: dict[str, list[float]] = {name: [] for name in clients}
    for turn in range(rounds):
        order = [WSCLIENT, AIOHTTP] if turn % 2 == 0 else [AIOHTTP, WSCLIENT]
        for name in order:
            args = [
                *("--client", name, "--url", server.url("/idle")),
                *("-n", str(connections), "--heartbeat", str(heartbeat)),
                *("--timeout", str(limit)),
            ]
            out = json.loads(run_child("bench.scale_child", args, timeout=3 * limit))
            rss[name].append(out["rss_per_connection"] / 1024)
            opened[name].append(out["open_seconds"])
            cpu[name].append(out["open_cpu_seconds"])
        log(f"scale: round {turn + 1}/{rounds} done")
    return ScaleResult(
        connections,
        heartbeat,
        fd_limit,
        rss_kib=summarize_each(rss),
        open_seconds=summarize_each(opened),
        open_cpu_seconds=summarize_each(cpu),
        rss_ratio=summarize_ratios(rss[WSCLIENT], rss[AIOHTTP]),
        open_ratio=summarize_ratios(opened[WSCLIENT], opened[AIOHTTP]),
    )
