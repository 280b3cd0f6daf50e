"""websockets' asyncio server, run as ``python -m tests.interop.servers.serve_websockets PORT``.

On SIGTERM it leaves ``async with serve(...)``, which closes every
connection: websockets' documented graceful shutdown."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

FLOOD = 50  # messages of 1000 bytes: they fit in loopback's socket buffers
KEEPALIVE = 0.5  # seconds, ping interval and timeout with ``keepalive``
MAX_SIZE = 1024  # bytes: the largest message accepted with ``maxsize``


async def handler(ws: ServerConnection) -> None:
    path = ws.request.path if ws.request is not None else ""
    if path.startswith("/close/"):
        await ws.close(int(path.removeprefix("/close/")), "scenario")
        return
    if path == "/flood":
        await flood(ws)
        return
    async for message in ws:
        await ws.send(message)


async def flood(ws: ServerConnection) -> None:
    """FLOOD messages at once, then wait: the end is logged as it came."""
    for n in range(FLOOD):
        await ws.send(f"{n:04d}" + "x" * 996)
    await ws.wait_closed()
    print(f"flood ended: {ws.close_code}", flush=True)


async def main(port: int, mode: str) -> None:
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    modes: dict[str, dict[str, Any]] = {
        "keepalive": {"ping_interval": KEEPALIVE, "ping_timeout": KEEPALIVE},
        "maxsize": {"max_size": MAX_SIZE},
    }
    async with serve(handler, "127.0.0.1", port, **modes.get(mode, {})):  # permessage-deflate on
        await stop


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), "".join(sys.argv[2:])))
