"""Child processes the harness starts, and the guarantee that it ends them.

:class:`ServerProcess` runs :mod:`bench.server`; :func:`run_child` runs a
one-shot module (the scale client) and returns what it printed. Both are
started in a session of their own, so a Ctrl-C reaches only the harness,
which then ends them in order: close the server's stdin, wait, terminate,
kill. The server also exits by itself when its stdin closes, should the
harness die without cleaning up.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from .usage import process_cpu_seconds

__all__ = ["ChildFailed", "ServerProcess", "run_child"]

# The directory holding the ``bench`` package: children import it from there.
_ROOT = Path(__file__).resolve().parent.parent


class ChildFailed(RuntimeError):
    """A child process did not start, timed out or exited with an error."""


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = f"{_ROOT}{os.pathsep}{path}" if path else str(_ROOT)
    return env


def _end(proc: subprocess.Popen[str], grace: float, *, wait_first: bool) -> None:
    """End ``proc``: (wait ``grace`` seconds,) SIGTERM, wait, then SIGKILL."""
    steps = (None, proc.terminate, proc.kill) if wait_first else (proc.terminate, proc.kill)
    for step in steps:
        if step is not None:
            step()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace)
            return


class ServerProcess:
    """The benchmark server in a child process; a context manager.

    Entering starts it and waits (bounded) for its port; leaving ends it,
    on errors and Ctrl-C too.
    """

    def __init__(self, start_timeout: float = 15.0, max_seconds: float = 1800.0) -> None:
        self._start_timeout = start_timeout
        self._max_seconds = max_seconds
        self._proc: subprocess.Popen[str] | None = None
        self.port = 0

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def url(self, path: str) -> str:
        """A ``ws://127.0.0.1`` URL to ``path`` (with its query) on this server."""
        return f"ws://127.0.0.1:{self.port}{path}"

    def alive(self) -> bool:
        """Whether the server process is still running."""
        return self._proc is not None and self._proc.poll() is None

    def cpu_seconds(self) -> float:
        """The server's CPU time so far (user plus system)."""
        return process_cpu_seconds(self.pid)

    def __enter__(self) -> ServerProcess:
        argv = [sys.executable, "-m", "bench.server", "--max-seconds", str(self._max_seconds)]
        self._proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=_ROOT,
            env=_child_env(),
            start_new_session=True,
        )
        try:
            self.port = self._read_port()
        except BaseException:
            self.stop()
            raise
        return self

    def _read_port(self) -> int:
        proc = self._proc
        assert proc is not None
        assert proc.stdout is not None
        deadline = time.monotonic() + self._start_timeout
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            while (left := deadline - time.monotonic()) > 0:
                if not selector.select(left):
                    continue
                line = proc.stdout.readline()
                if not line:
                    break  # it exited
                if line.startswith("PORT "):
                    return int(line.split()[1])
        raise ChildFailed(f"the server did not start within {self._start_timeout} s")

    def stop(self) -> None:
        """End the server (idempotent)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()  # the server exits on EOF
        _end(proc, grace=3.0, wait_first=True)
        if proc.stdout is not None:
            proc.stdout.close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def run_child(module: str, args: list[str], timeout: float) -> str:
    """Run ``python -m module *args``; its stdout. Killed after ``timeout``.

    Raises:
        ChildFailed: it timed out or exited with a non-zero status.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=_ROOT,
        env=_child_env(),
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ChildFailed(f"{module} did not finish within {timeout} s") from None
    finally:
        if proc.poll() is None:
            _end(proc, grace=2.0, wait_first=False)
            proc.communicate()
    if proc.returncode != 0:
        raise ChildFailed(f"{module} exited with {proc.returncode}: {err.strip()[-2000:]}")
    return out
