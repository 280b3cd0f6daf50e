"""A server we did not write, run in a subprocess on a fixed loopback port.

Started once per test module (``conftest.server``); a scenario may stop it
gracefully (SIGTERM) or kill it (SIGKILL) and start it again on the same
port, as a deploy or a crash would. Stopped by its PID only.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).parent.parent.parent
SERVERS = "tests.interop.servers"  # run as modules from ROOT: serve_NAME.py
NODE_SERVER = ROOT / "tests" / "interop" / "servers" / "serve_ws.js"
START_WITHIN = 30.0  # seconds: a bound for a loaded machine, not a timing


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def accepts(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port``."""
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


class Server:
    """``python -m tests.interop.servers.serve_NAME PORT``; output to ``log``.

    With ``node_modules`` (the folder that holds Node's ``ws``), it is
    ``node serve_ws.js PORT`` instead."""

    def __init__(self, name: str, log: Path, *args: str, node_modules: Path | None = None) -> None:
        self.name = name
        self.args = args
        self.port = free_port()
        self.log = log
        self.node_modules = node_modules
        self.process: subprocess.Popen[bytes] | None = None

    def again(self, log: Path, *args: str) -> Server:
        """The same server, not started, on a port of its own, run with ``args``."""
        return Server(self.name, log, *args, node_modules=self.node_modules)

    def _command(self) -> tuple[list[str], dict[str, str]]:
        if self.node_modules is not None:
            argv = ["node", str(NODE_SERVER), str(self.port), *self.args]
            return argv, {**os.environ, "NODE_PATH": str(self.node_modules)}
        argv = [sys.executable, "-u", "-m", f"{SERVERS}.serve_{self.name}"]
        return [*argv, str(self.port), *self.args], {**os.environ, "PYTHONWARNINGS": "ignore"}

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def _spawn(self) -> subprocess.Popen[bytes]:
        assert self.process is None or self.process.poll() is not None, "already running"
        argv, env = self._command()
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env
            )
        return self.process

    def _check(self, process: subprocess.Popen[bytes], started: float, now: float) -> None:
        if process.poll() is not None:
            raise RuntimeError(f"{self.name} exited at start: {self.log.read_text()}")
        if now - started > START_WITHIN:  # pragma: no cover - a machine far too slow
            raise TimeoutError(f"{self.name} did not accept within {START_WITHIN} s")

    def start(self) -> None:
        """Start it and wait (blocking) until it accepts connections."""
        process, started = self._spawn(), time.monotonic()
        while not accepts(self.port):
            self._check(process, started, time.monotonic())
            time.sleep(0.05)

    async def restart(self) -> None:
        """Start it again on the same port; wait (without blocking the loop)."""
        process, started = self._spawn(), time.monotonic()
        while not accepts(self.port):
            self._check(process, started, time.monotonic())
            await asyncio.sleep(0.05)

    async def _signal(self, signum: signal.Signals) -> int:
        assert self.process is not None
        self.process.send_signal(signum)
        for _ in range(int(START_WITHIN / 0.05)):
            if self.process.poll() is not None:
                return self.process.returncode
            await asyncio.sleep(0.05)
        raise TimeoutError(f"{self.name} did not exit on {signum.name}")  # pragma: no cover

    async def terminate(self) -> int:
        """SIGTERM: the server's own graceful shutdown; its exit status."""
        return await self._signal(signal.SIGTERM)

    async def kill(self) -> int:
        """SIGKILL: no goodbye on the wire at all."""
        return await self._signal(signal.SIGKILL)

    def stop(self) -> None:
        """At the end of the module: SIGKILL by PID if it still runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
