"""uvicorn serving the plain ASGI app.

Run as ``python -m tests.interop.servers.serve_uvicorn PORT``.

uvicorn handles SIGTERM itself (its graceful shutdown)."""

from __future__ import annotations

import sys
from typing import Any

import uvicorn

from tests.interop.servers.asgi_app import KEEPALIVE, MAX_SIZE, app

if __name__ == "__main__":
    pings: dict[str, Any] = {"ws_ping_interval": KEEPALIVE, "ws_ping_timeout": KEEPALIVE}
    modes: dict[str, dict[str, Any]] = {"keepalive": pings, "maxsize": {"ws_max_size": MAX_SIZE}}
    mode = modes[sys.argv[2]] if sys.argv[2:] else {}
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", **mode)
