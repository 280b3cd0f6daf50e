"""One scale measurement, run in a fresh process by :mod:`bench.scale`.

``python -m bench.scale_child --client wsclient --url ws://.../idle -n 1000``
opens one connection and closes it (so imports and first-use caches are not
counted), then reads ``VmRSS``, opens ``n`` connections concurrently (each
counts as open once its first message, ``ready``, arrived), reads ``VmRSS``
again, closes them all, and prints one JSON object. A fresh process per
measurement, because memory freed by one client would be reused by the next.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import time
from typing import Any

import aiohttp

import wsclient

from .usage import raise_fd_limit, rss_bytes, self_cpu_seconds

__all__ = ["main"]

WSCLIENT = "wsclient"
AIOHTTP = "aiohttp"


class _Meter:
    """Readings around opening ``n`` connections and closing them, the same
    for every client. Create it just before opening them."""

    def __init__(self, n: int) -> None:
        self._n = n
        self._open_seconds = self._open_cpu = 0.0
        self._rss_after = 0
        gc.collect()
        self._rss_before, self._cpu = rss_bytes(), self_cpu_seconds()
        self._start = time.perf_counter()

    def opened(self) -> None:
        """All are open: read the time, CPU and RSS; closing starts now."""
        self._open_seconds = time.perf_counter() - self._start
        self._open_cpu = self_cpu_seconds() - self._cpu
        gc.collect()
        self._rss_after = rss_bytes()
        self._start = time.perf_counter()

    def closed(self) -> dict[str, Any]:
        """All are closed: the figures."""
        close_seconds = time.perf_counter() - self._start
        return {
            "connections": self._n,
            "rss_before": self._rss_before,
            "rss_after": self._rss_after,
            "rss_per_connection": (self._rss_after - self._rss_before) / self._n,
            "open_seconds": self._open_seconds,
            "open_cpu_seconds": self._open_cpu,
            "close_seconds": close_seconds,
        }


async def _wsclient(url: str, n: int, heartbeat: float, limit: float) -> dict[str, Any]:
    """``n`` connections of one ``wsclient.Session``, heartbeat on."""
    async with wsclient.Session(heartbeat=heartbeat, open_timeout=limit) as session:
        async with session.connect(url) as warm:
            await warm.receive()
        meter = _Meter(n)
        conns = [session.connect(url) for _ in range(n)]
        for conn in conns:
            conn.open()
        async with asyncio.timeout(limit):
            await asyncio.gather(*(conn.receive() for conn in conns))
        meter.opened()
    return meter.closed()


async def _aiohttp(url: str, n: int, heartbeat: float, limit: float) -> dict[str, Any]:
    """``n`` raw aiohttp WebSockets of one unlimited ``ClientSession``."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> aiohttp.ClientWebSocketResponse:
            ws = await session.ws_connect(url, heartbeat=heartbeat)
            await ws.receive()
            return ws

        warm = await one()
        await warm.close()
        del warm
        meter = _Meter(n)
        async with asyncio.timeout(limit):
            sockets = await asyncio.gather(*(one() for _ in range(n)))
        meter.opened()
        async with asyncio.timeout(limit):
            await asyncio.gather(*(ws.close() for ws in sockets))
    return meter.closed()


def main(argv: list[str] | None = None) -> int:
    """Measure once and print the figures as JSON."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale_child",
        description="One scale measurement (run by 'python -m bench').",
    )
    parser.add_argument("--client", choices=[WSCLIENT, AIOHTTP], required=True)
    parser.add_argument("--url", required=True, help="the server's /idle URL (127.0.0.1)")
    parser.add_argument("-n", "--connections", type=int, default=1000)
    parser.add_argument("--heartbeat", type=float, default=20.0)
    parser.add_argument("--timeout", type=float, default=120.0, help="for opening, closing")
    args = parser.parse_args(argv)
    if not args.url.startswith("ws://127.0.0.1:"):
        parser.error("only ws://127.0.0.1 URLs")
    raise_fd_limit()
    run = _wsclient if args.client == WSCLIENT else _aiohttp
    figures = asyncio.run(run(args.url, args.connections, args.heartbeat, args.timeout))
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
