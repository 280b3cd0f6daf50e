"""A plain ASGI WebSocket app (no framework), served by uvicorn and hypercorn.

``/echo`` sends back every message as it came (text as text, bytes as
bytes); ``/close/CODE`` accepts, then closes with CODE and the reason
``"scenario"``; ``/flood`` sends 50 messages at once, then echoes, and logs
the close code when the socket ends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
FLOOD = 50  # messages of 1000 bytes: they fit in loopback's socket buffers
KEEPALIVE = 0.5  # seconds, the server's ping interval and timeout
MAX_SIZE = 1024  # bytes: the largest message accepted with ``maxsize``


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The whole application: only WebSocket scopes (and lifespan) are served."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    assert scope["type"] == "websocket", scope["type"]
    if (await receive())["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    path: str = scope["path"]
    if path.startswith("/close/"):
        code = int(path.removeprefix("/close/"))
        await send({"type": "websocket.close", "code": code, "reason": "scenario"})
        return
    if path == "/flood":
        for n in range(FLOOD):
            await send({"type": "websocket.send", "text": f"{n:04d}" + "x" * 996})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            if path == "/flood":
                print(f"flood ended: {message.get('code')}", flush=True)
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})
