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
from dataclasses import dataclass, field

from .process import ServerProcess, run_child
from .scale_child import AIOHTTP, WSCLIENT
from .stats import Summary, summarize
from .usage import raise_fd_limit

__all__ = ["ScaleResult", "measure"]


@dataclass(slots=True)
class ScaleResult:
    """Per client: KiB of RSS per connection, seconds to open all; ratios
    wsclient / aiohttp per round."""

    connections: int
    heartbeat: float
    fd_limit: int
    rss_kib: dict[str, Summary] = field(default_factory=dict)
    open_seconds: dict[str, Summary] = field(default_factory=dict)
    open_cpu_seconds: dict[str, Summary] = field(default_factory=dict)
    rss_ratio: Summary | None = None
    open_ratio: Summary | None = None


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
    result = ScaleResult(connections, heartbeat, fd_limit)
    limit = 30.0 + connections / 50
    figures: dict[str, dict[str, list[float]]] = {
        name: {"rss": [], "open": [], "cpu": []} for name in (WSCLIENT, AIOHTTP)
    }
    for turn in range(rounds):
        order = [WSCLIENT, AIOHTTP] if turn % 2 == 0 else [AIOHTTP, WSCLIENT]
        for name in order:
            args = [
                *("--client", name, "--url", server.url("/idle")),
                *("-n", str(connections), "--heartbeat", str(heartbeat)),
                *("--timeout", str(limit)),
            ]
            out = json.loads(run_child("bench.scale_child", args, timeout=3 * limit))
            figures[name]["rss"].append(out["rss_per_connection"] / 1024)
            figures[name]["open"].append(out["open_seconds"])
            figures[name]["cpu"].append(out["open_cpu_seconds"])
        log(f"scale: round {turn + 1}/{rounds} done")
    for name, values in figures.items():
        result.rss_kib[name] = summarize(values["rss"])
        result.open_seconds[name] = summarize(values["open"])
        result.open_cpu_seconds[name] = summarize(values["cpu"])
    ours, raw = figures[WSCLIENT], figures[AIOHTTP]
    result.rss_ratio = summarize([a / b for a, b in zip(ours["rss"], raw["rss"], strict=True)])
    result.open_ratio = summarize([a / b for a, b in zip(ours["open"], raw["open"], strict=True)])
    return result
