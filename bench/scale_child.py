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


async def _wsclient(url: str, n: int, heartbeat: float, limit: float) -> dict[str, Any]:
    """``n`` connections of one ``wsclient.Session``, heartbeat on."""
    async with wsclient.Session(heartbeat=heartbeat, open_timeout=limit) as session:
        async with session.connect(url) as warm:
            await warm.receive()
        gc.collect()
        before, cpu, start = rss_bytes(), self_cpu_seconds(), time.perf_counter()
        conns = [session.connect(url) for _ in range(n)]
        for conn in conns:
            conn.open()
        async with asyncio.timeout(limit):
            await asyncio.gather(*(conn.receive() for conn in conns))
        opened, open_cpu = time.perf_counter() - start, self_cpu_seconds() - cpu
        gc.collect()
        after = rss_bytes()
        start = time.perf_counter()
    closed = time.perf_counter() - start
    return _figures(n, before=before, after=after, opened=opened, cpu=open_cpu, closed=closed)


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
        gc.collect()
        before, cpu, start = rss_bytes(), self_cpu_seconds(), time.perf_counter()
        async with asyncio.timeout(limit):
            sockets = await asyncio.gather(*(one() for _ in range(n)))
        opened, open_cpu = time.perf_counter() - start, self_cpu_seconds() - cpu
        gc.collect()
        after = rss_bytes()
        start = time.perf_counter()
        async with asyncio.timeout(limit):
            await asyncio.gather(*(ws.close() for ws in sockets))
    closed = time.perf_counter() - start
    return _figures(n, before=before, after=after, opened=opened, cpu=open_cpu, closed=closed)


def _figures(
    n: int, *, before: int, after: int, opened: float, cpu: float, closed: float
) -> dict[str, Any]:
    return {
        "connections": n,
        "rss_before": before,
        "rss_after": after,
        "rss_per_connection": (after - before) / n,
        "open_seconds": opened,
        "open_cpu_seconds": cpu,
        "close_seconds": closed,
    }


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
