"""A Starlette app on uvicorn, run as ``python -m tests.interop.servers.serve_starlette PORT``.

The same two endpoints as the plain ASGI app, written the Starlette way."""

from __future__ import annotations

import sys
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from tests.interop.servers.asgi_app import FLOOD, KEEPALIVE, MAX_SIZE


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await websocket.send_text(message["text"])
            else:
                await websocket.send_bytes(message["bytes"])
    except WebSocketDisconnect:
        return


async def flood(websocket: WebSocket) -> None:
    await websocket.accept()
    for n in range(FLOOD):
        await websocket.send_text(f"{n:04d}" + "x" * 996)
    message = await websocket.receive()
    while message["type"] != "websocket.disconnect":
        message = await websocket.receive()
    print(f"flood ended: {message.get('code')}", flush=True)


async def close(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.close(code=int(websocket.path_params["code"]), reason="scenario")


app = Starlette(
    routes=[
        WebSocketRoute("/echo", echo),
        WebSocketRoute("/close/{code}", close),
        WebSocketRoute("/flood", flood),
    ]
)

if __name__ == "__main__":
    pings: dict[str, Any] = {"ws_ping_interval": KEEPALIVE, "ws_ping_timeout": KEEPALIVE}
    modes: dict[str, dict[str, Any]] = {"keepalive": pings, "maxsize": {"ws_max_size": MAX_SIZE}}
    mode = modes[sys.argv[2]] if sys.argv[2:] else {}
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", **mode)
