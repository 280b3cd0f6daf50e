"""Tornado, run as ``python -m tests.interop.servers.serve_tornado PORT``.

Tornado has no graceful shutdown of its own for WebSockets; on SIGTERM this
does what its documentation suggests for a server: stop listening, close the
connections it tracks, stop the loop."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

from tornado.httpserver import HTTPServer
from tornado.web import Application
from tornado.websocket import WebSocketHandler

FLOOD = 50  # messages of 1000 bytes: they fit in loopback's socket buffers
KEEPALIVE = 0.5  # seconds, ping interval and timeout with ``keepalive``
MAX_SIZE = 1024  # bytes: the largest message accepted with ``maxsize``


class Echo(WebSocketHandler):
    def get_compression_options(self) -> dict[str, int]:
        return {}  # permessage-deflate on (off by default in Tornado)

    def on_message(self, message: str | bytes) -> None:
        self.write_message(message, binary=isinstance(message, bytes))


class Flood(WebSocketHandler):
    def open(self, *args: str, **kwargs: str) -> None:
        for n in range(FLOOD):
            self.write_message(f"{n:04d}" + "x" * 996)

    def on_close(self) -> None:
        print(f"flood ended: {self.close_code}", flush=True)


class Close(WebSocketHandler):
    def open(self, *args: str, **kwargs: str) -> None:
        self.close(int(args[0]), "scenario")


async def main(port: int, mode: str) -> None:
    pings: dict[str, Any] = {
        "websocket_ping_interval": KEEPALIVE,
        "websocket_ping_timeout": KEEPALIVE,
    }
    routes = [(r"/echo", Echo), (r"/close/(\d+)", Close), (r"/flood", Flood)]
    modes = {"keepalive": pings, "maxsize": {"websocket_max_message_size": MAX_SIZE}}
    app = Application(routes, **modes.get(mode, {}))
    server = HTTPServer(app)
    server.listen(port, "127.0.0.1")
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    server.stop()
    await server.close_all_connections()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), "".join(sys.argv[2:])))
