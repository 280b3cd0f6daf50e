"""The benchmark's WebSocket server, meant to run in a process of its own.

``python -m bench.server`` listens on 127.0.0.1 (an ephemeral port), prints
``PORT <n>`` once it accepts connections, and serves until its stdin closes
(so it cannot outlive the harness that started it) or ``--max-seconds``
pass. It speaks just enough WebSocket to be fast: no aiohttp, frames built
once and written in 256 KiB chunks, so a Python client is the bottleneck.

What a connection gets depends on its path:

- ``/stream?size=S&count=N``: N TEXT messages of S bytes, as fast as the
  socket takes them, then a close frame 1000;
- ``/gap?code=C``: a message ``o<ns>``, a message ``c<ns>`` and at once a
  close frame C (``<ns>`` is ``time.perf_counter_ns()`` when written; the
  clock is system-wide, so the client can subtract its own readings);
- ``/latency?size=S&rate=R&count=N``: N messages of S bytes, R per second,
  each starting with its ``perf_counter_ns()`` stamp, then a close 1000;
- ``/idle``: one message ``ready``, then nothing until the client leaves.

Pings are answered with pongs and a client's close frame is echoed, so
heartbeats and closing handshakes work as against a real server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from typing import Any, BinaryIO

from .frames import (
    CLOSE,
    PING,
    PONG,
    ClientFrames,
    Request,
    close_frame,
    frame,
    handshake_response,
    parse_request,
    payload,
    text_frame,
)
from .usage import raise_fd_limit

__all__ = ["main"]

_CHUNK_BYTES = 4 * 1024 * 1024
_HANDSHAKE_TIMEOUT = 10.0
_CLOSE_TIMEOUT = 5.0
_MAX_COUNT = 50_000_000
_MAX_SIZE = 16 * 1024 * 1024


class Peer:
    """One client connection after its handshake: writes go to ``writer``; a
    task reads the client's frames, answers pings and notices its close."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.closed = asyncio.Event()  # the client sent a close frame, or left
        self._sent_close = False
        self._reader = asyncio.create_task(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        frames = ClientFrames()
        try:
            while data := await reader.read(65536):
                for opcode, body in frames.feed(data):
                    if opcode == PING:
                        self.writer.write(frame(PONG, body))
                    elif opcode == CLOSE:
                        self._send_close(frame(CLOSE, body[:2]))
                        return
        except ConnectionError:
            pass
        finally:
            self.closed.set()

    def _send_close(self, data: bytes) -> None:
        """Write the close frame ``data``, unless one was sent already."""
        if not self._sent_close:
            self._sent_close = True
            self.writer.write(data)

    async def close(self, code: int, reason: str = "") -> None:
        """Send a close frame and wait (bounded) for the client's answer."""
        self._send_close(close_frame(code, reason))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closed.wait(), _CLOSE_TIMEOUT)

    async def finish(self) -> None:
        """Stop reading and drop the TCP connection."""
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        self.writer.close()


class Routes:
    """The per-path behaviours, with the pre-built chunks they write."""

    def __init__(self, files: contextlib.ExitStack) -> None:
        self._files = files
        self._chunks: dict[int, tuple[BinaryIO, int, int]] = {}

    def handler(self, path: str) -> Callable[[Request, Peer], Coroutine[Any, Any, None]] | None:
        """The coroutine function serving ``path``, or None."""
        return {
            "/stream": self.stream,
            "/gap": self.gap,
            "/latency": self.latency,
            "/idle": self.idle,
        }.get(path)

    def _chunk(self, size: int) -> tuple[BinaryIO, int, int]:
        """A file of whole TEXT frames of ``size`` bytes, about 4 MiB long,
        with its frame count and the length of one frame."""
        if size not in self._chunks:
            one = text_frame(payload(size))
            count = max(1, _CHUNK_BYTES // len(one))
            file = self._files.enter_context(tempfile.TemporaryFile())  # noqa: SIM115
            file.write(one * count)
            file.flush()
            self._chunks[size] = (file, count, len(one))
        return self._chunks[size]

    async def stream(self, request: Request, peer: Peer) -> None:
        size = _bounded(request.query, "size", 150, _MAX_SIZE)
        count = _bounded(request.query, "count", 1000, _MAX_COUNT)
        file, per_chunk, frame_len = self._chunk(size)
        full, rest = divmod(count, per_chunk)
        loop = asyncio.get_running_loop()
        transport = peer.writer.transport
        for length in [per_chunk * frame_len] * full + [rest * frame_len] * bool(rest):
            if peer.closed.is_set():
                return
            # sendfile: the kernel hands page-cache pages to the socket, so
            # the server spends no CPU copying what the client must copy.
            await loop.sendfile(transport, file, 0, length)
        await peer.close(1000)

    async def gap(self, request: Request, peer: Peer) -> None:
        code = _bounded(request.query, "code", 4000, 4999)
        peer.writer.write(text_frame(f"o{time.perf_counter_ns()}"))
        peer.writer.write(text_frame(f"c{time.perf_counter_ns()}"))
        await peer.close(code)

    async def latency(self, request: Request, peer: Peer) -> None:
        size = _bounded(request.query, "size", 150, 65536)
        rate = _bounded(request.query, "rate", 1000, 100_000)
        count = _bounded(request.query, "count", 1000, 1_000_000)
        filler = payload(size)
        interval = 1_000_000_000 // rate
        start = time.perf_counter_ns()
        for i in range(count):
            delay = start + i * interval - time.perf_counter_ns()
            if delay > 0:
                await asyncio.sleep(delay / 1e9)
            if peer.closed.is_set():
                return
            stamp = str(time.perf_counter_ns())
            peer.writer.write(text_frame(stamp + " " + filler[len(stamp) + 1 :]))
            await peer.writer.drain()
        await peer.close(1000)

    async def idle(self, request: Request, peer: Peer) -> None:
        peer.writer.write(text_frame("ready"))
        await peer.closed.wait()


def _bounded(query: dict[str, str], name: str, default: int, most: int) -> int:
    value = int(query.get(name, default))
    if not 0 < value <= most:
        raise ValueError(f"{name}={value} is out of range")
    return value


async def _serve_one(
    routes: Routes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _HANDSHAKE_TIMEOUT)
        request = parse_request(head)
        handler = routes.handler(request.path)
    except (ValueError, TimeoutError, ConnectionError, asyncio.IncompleteReadError):
        writer.close()
        return
    writer.write(handshake_response(request.key))
    peer = Peer(reader, writer)
    try:
        if handler is None:
            await peer.close(1008, "unknown path")
        else:
            await handler(request, peer)
    except (ConnectionError, ValueError):
        pass  # the client left early, or asked for something out of range
    finally:
        await peer.finish()


async def _stdin_closed() -> None:
    """Return when the parent closes our stdin (or dies)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.read(4096):
        pass


async def serve(port: int, max_seconds: float) -> None:
    """Serve on 127.0.0.1 until stdin closes or ``max_seconds`` pass."""
    files = contextlib.ExitStack()
    on_connect = functools.partial(_serve_one, Routes(files))
    server = await asyncio.start_server(on_connect, "127.0.0.1", port, backlog=4096)
    bound = server.sockets[0].getsockname()[1]
    print(f"PORT {bound}", flush=True)
    try:
        await asyncio.wait_for(_stdin_closed(), max_seconds)
    except TimeoutError:
        print("bench.server: --max-seconds reached, exiting", file=sys.stderr)
    finally:
        server.close()
        files.close()


def main(argv: list[str] | None = None) -> int:
    """Run the server (``python -m bench.server --help``)."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.server",
        description="The benchmark's WebSocket server (127.0.0.1 only); "
        "prints 'PORT <n>' when ready and exits when its stdin closes.",
    )
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument(
        "--max-seconds", type=float, default=1800.0, help="exit after this long at the latest"
    )
    args = parser.parse_args(argv)
    raise_fd_limit()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, args.max_seconds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
