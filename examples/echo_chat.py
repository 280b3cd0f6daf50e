"""The smallest complete wsclient program: chat with an echo server.

Run it: ``python examples/echo_chat.py``. It starts its own echo server on
127.0.0.1, connects, sends three lines, prints what comes back, and closes.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

import wsclient


async def echo(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for msg in ws:
        await ws.send_str(f"echo: {msg.data}")
    return ws


async def main() -> None:
    app = web.Application()
    app.router.add_get("/chat", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]

    lines = ["hello", "how are you?", "bye"]
    async with wsclient.connect(f"ws://127.0.0.1:{port}/chat") as conn:
        for line in lines:
            await conn.send_str(line)  # buffered if the socket is not up yet
        async for msg in conn:
            print(msg.data)
            if msg.data == f"echo: {lines[-1]}":
                break
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
