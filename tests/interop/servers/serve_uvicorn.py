"""uvicorn serving the plain ASGI app.

Run as ``python -m tests.interop.servers.serve_uvicorn PORT``.

uvicorn handles SIGTERM itself (its graceful shutdown)."""

from __future__ import annotations

import sys

import uvicorn

from tests.interop.servers.asgi_app import app

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
