"""Hypercorn serving the plain ASGI app.

Run as ``python -m tests.interop.servers.serve_hypercorn PORT``.

SIGTERM triggers Hypercorn's graceful shutdown, as its own command line
does; the graceful timeout is 1 s (30 s by default) to keep the tier fast.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from hypercorn.asyncio import serve
from hypercorn.config import Config

from tests.interop.servers.asgi_app import MAX_SIZE, app


async def main(port: int, maxsize: bool) -> None:
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.graceful_timeout = 1.0
    config.loglevel = "WARNING"
    if maxsize:
        config.websocket_max_message_size = MAX_SIZE
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2:] == ["maxsize"]))
