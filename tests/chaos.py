"""A chaos TCP proxy on 127.0.0.1: put it between a client and a server and
break the connection on cue.

::

    async with ChaosProxy(server.url.port) as proxy:
        conn = wsclient.connect(proxy.url(), ...)
        ...
        proxy.cut()          # close every connection without a close frame (FIN)
        proxy.reset()        # reset every connection (RST: SO_LINGER 0)
        proxy.blackhole()    # accept bytes, forward nothing, on every open connection
        proxy.stall(10)      # forward 10 more bytes server -> client, then nothing
        proxy.rate = 1000    # 1000 bytes/s each way (on the proxy's clock)
        proxy.on_new = NewConnections.BLACKHOLE  # accept, never connect upstream
        async with proxy.refusing():  # the port is closed: connects are refused
            ...

Bounded: at most ``max_connections`` connections (more are reset at once),
each direction holds at most one ``chunk`` in flight and waits for the
other side to drain it; a black hole discards what it swallows. Every task
the proxy starts is cancelled and awaited by :meth:`ChaosProxy.close`.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import socket
import struct
from collections import deque
from collections.abc import AsyncIterator, Coroutine
from typing import Any, Literal

from wsclient.clock import Clock, SystemClock

__all__ = ["ChaosProxy", "NewConnections", "Pipe"]

Direction = Literal["up", "down", "both"]


class NewConnections(enum.Enum):
    """What the proxy does with a connection it accepts."""

    FORWARD = "forward"
    """Connect upstream and pass the bytes on (subject to rate and faults)."""
    BLACKHOLE = "blackhole"
    """Accept and read, never connect upstream, never answer: a hung handshake."""
    RESET = "reset"
    """Reset it at once (RST): a server that rejects immediately."""


def _set_linger_zero(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _abort(writer: asyncio.StreamWriter) -> None:
    writer.transport.abort()


class _Flow:
    """One direction of a pipe: what may still pass."""

    __slots__ = ("budget", "forwarded", "swallowed")

    def __init__(self) -> None:
        self.budget: int | None = None  # None: no limit; else bytes still let through
        self.forwarded = 0
        self.swallowed = 0


class Pipe:
    """One proxied connection: the client's side and (once connected) the server's."""

    def __init__(self, client: asyncio.StreamWriter) -> None:
        self.client = client
        self.server: asyncio.StreamWriter | None = None
        self.up = _Flow()  # client -> server
        self.down = _Flow()  # server -> client
        self.closed = asyncio.Event()

    def writers(self) -> list[asyncio.StreamWriter]:
        return [w for w in (self.client, self.server) if w is not None]

    def cut(self) -> None:
        """Close both sides without a word (FIN)."""
        for writer in self.writers():
            writer.close()

    def reset(self) -> None:
        """Reset both sides (RST)."""
        for writer in self.writers():
            _set_linger_zero(writer)
            _abort(writer)

    def limit(self, direction: Direction, budget: int | None) -> None:
        if direction in ("up", "both"):
            self.up.budget = budget
        if direction in ("down", "both"):
            self.down.budget = budget


class ChaosProxy:
    """A TCP proxy from ``127.0.0.1:<port>`` to ``upstream_host:upstream_port``.

    Args:
        upstream_port: Where the real server listens.
        port: The port to listen on (0: a free one, kept across
            :meth:`stop_listening` / :meth:`listen`).
        clock: What :attr:`rate` sleeps on (``FakeClock`` in tests).
        max_connections: Connections beyond this many at once are reset.
        chunk: The most bytes read at once per direction.
    """

    def __init__(
        self,
        upstream_port: int,
        *,
        upstream_host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
        max_connections: int = 64,
        chunk: int = 16384,
    ) -> None:
        if max_connections < 1 or chunk < 1:
            raise ValueError("max_connections and chunk must be >= 1")
        self.upstream = (upstream_host, upstream_port)
        self.port = port
        self.clock: Clock = clock or SystemClock()
        self.max_connections = max_connections
        self.chunk = chunk
        self.on_new = NewConnections.FORWARD
        self.rate: float | None = None  # bytes per second each way; None: full speed
        self.rate_step = 0.1  # at a rate, bytes go out in pieces this many seconds apart
        self.pipes: set[Pipe] = set()  # open now
        self.finished: deque[Pipe] = deque(maxlen=32)  # the latest that ended, oldest first
        self.accepted = 0  # connections accepted, ever
        self.peak = 0  # the most connections open at once
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()
        self._closed = False

    # -- life ----------------------------------------------------------------------

    async def __aenter__(self) -> ChaosProxy:
        await self.listen()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def url(self, path: str = "/", scheme: str = "ws") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    async def listen(self) -> None:
        """Accept connections (again) on :attr:`port`."""
        if self._closed:
            raise RuntimeError("the proxy is closed")
        if self._server is not None:
            return
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop_listening(self) -> None:
        """Close the listening socket: new connects are refused (ECONNREFUSED);
        open connections carry on."""
        server, self._server = self._server, None
        if server is not None:
            # Closes the listening socket at once. (Not wait_closed(): from Python
            # 3.12 on it also waits for the accepted connections to end.)
            server.close()

    @contextlib.asynccontextmanager
    async def refusing(self) -> AsyncIterator[None]:
        """Refuse new connections for the duration of the block."""
        await self.stop_listening()
        try:
            yield
        finally:
            if not self._closed:
                await self.listen()

    async def close(self) -> None:
        """Stop listening, drop every connection, cancel and await every task."""
        self._closed = True
        await self.stop_listening()
        for pipe in list(self.pipes):
            pipe.reset()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    # -- faults on the open connections ---------------------------------------------

    def cut(self) -> None:
        """Close every open connection on both sides, no close frame (FIN)."""
        for pipe in list(self.pipes):
            pipe.cut()

    def reset(self) -> None:
        """Reset every open connection on both sides (RST)."""
        for pipe in list(self.pipes):
            pipe.reset()

    def blackhole(self, direction: Direction = "both") -> None:
        """From now on, swallow what the open connections send (``direction``:
        ``up`` client to server, ``down`` server to client); keep them open."""
        self.stall(0, direction)

    def stall(self, after: int, direction: Direction = "down") -> None:
        """Let ``after`` more bytes through on the open connections, then
        swallow the rest: with ``after`` inside a frame, the peer waits for
        the rest of a frame that never comes."""
        if after < 0:
            raise ValueError("after must be >= 0")
        for pipe in list(self.pipes):
            pipe.limit(direction, after)

    def heal(self) -> None:
        """Let everything through again on the open connections."""
        for pipe in list(self.pipes):
            pipe.limit("both", None)

    # -- observing -----------------------------------------------------------------

    async def wait_accepted(self, count: int) -> None:
        """Wait until ``count`` connections were accepted in all (at most 5 s of
        real time)."""
        async with asyncio.timeout(5):
            while self.accepted < count:
                self._changed.clear()
                await self._changed.wait()

    def _touch(self) -> None:
        self._changed.set()

    # -- the plumbing ----------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=f"chaos {name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A plain callback (not a coroutine): every task is ours to track."""
        if self._closed or len(self.pipes) >= self.max_connections:
            _set_linger_zero(writer)
            _abort(writer)
            return
        self.accepted += 1
        pipe = Pipe(writer)
        self.pipes.add(pipe)
        self.peak = max(self.peak, len(self.pipes))
        self._touch()
        mode = self.on_new
        if mode is NewConnections.RESET:
            pipe.reset()
            self._forget(pipe)
            return
        self._spawn(self._run(pipe, reader, mode), "pipe")

    def _forget(self, pipe: Pipe) -> None:
        if pipe in self.pipes:
            self.pipes.discard(pipe)
            self.finished.append(pipe)
        pipe.closed.set()
        self._touch()

    async def _run(
        self, pipe: Pipe, client_reader: asyncio.StreamReader, mode: NewConnections
    ) -> None:
        try:
            if mode is NewConnections.BLACKHOLE:
                pipe.limit("both", 0)
                await self._pump(client_reader, None, pipe.up)
                return
            try:
                server_reader, server_writer = await asyncio.open_connection(*self.upstream)
            except OSError:
                pipe.reset()
                return
            pipe.server = server_writer
            up = asyncio.create_task(
                self._pump(client_reader, server_writer, pipe.up), name="chaos up"
            )
            down = asyncio.create_task(
                self._pump(server_reader, pipe.client, pipe.down), name="chaos down"
            )
            try:
                # A half-close is passed on by _pump; the pipe ends when both are done.
                await asyncio.gather(up, down)
            finally:
                for task in (up, down):
                    task.cancel()
                await asyncio.gather(up, down, return_exceptions=True)
        finally:
            for writer in pipe.writers():
                writer.close()
            self._forget(pipe)

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter | None,
        flow: _Flow,
    ) -> None:
        """Copy ``reader`` to ``writer`` chunk by chunk, obeying the flow's budget
        and the proxy's rate; pass an EOF on as a half-close."""
        try:
            while True:
                data = await reader.read(self.chunk)
                if not data:
                    break
                if flow.budget is not None:
                    passing = data[: flow.budget]
                    flow.budget -= len(passing)
                    flow.swallowed += len(data) - len(passing)
                    data = passing
                if writer is None or not data:
                    continue
                await self._write(writer, data)
                flow.forwarded += len(data)
            if writer is not None and flow.budget is None and writer.can_write_eof():
                writer.write_eof()
            elif writer is not None and flow.budget is not None:
                return  # swallowing: the peer never learns that its peer left
        except (ConnectionError, OSError):
            if writer is not None:
                _set_linger_zero(writer)
                _abort(writer)

    async def _write(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        rate = self.rate
        if rate is None:
            writer.write(data)
            await writer.drain()
            return
        step = max(1, int(rate * self.rate_step))
        for start in range(0, len(data), step):
            piece = data[start : start + step]
            await self.clock.sleep(len(piece) / rate)
            writer.write(piece)
            await writer.drain()
