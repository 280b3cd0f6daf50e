"""websockets' asyncio server, run as ``python -m tests.interop.servers.serve_websockets PORT``.

On SIGTERM it leaves ``async with serve(...)``, which closes every
connection: websockets' documented graceful shutdown."""

from __future__ import annotations

import asyncio
import signal
import sys

from websockets.asyncio.server import ServerConnection, serve


async def handler(ws: ServerConnection) -> None:
    path = ws.request.path if ws.request is not None else ""
    if path.startswith("/close/"):
        await ws.close(int(path.removeprefix("/close/")), "scenario")
        return
    async for message in ws:
        await ws.send(message)


async def main(port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with serve(handler, "127.0.0.1", port):  # permessage-deflate on, the default
        await stop


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
