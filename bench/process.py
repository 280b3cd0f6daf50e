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
_START_TIMEOUT = 15.0  # seconds for the server to print its port
_SERVER_MAX_SECONDS = 1800.0  # the server exits by itself after this long


class ChildFailed(RuntimeError):
    """A child process did not start, timed out or exited with an error."""


def _start(
    module: str, args: list[str], *, stdin: int | None = None, stderr: int | None = None
) -> subprocess.Popen[str]:
    """Start ``python -m module *args`` (stdout piped) in a session of its
    own, importing ``bench`` from ``_ROOT``."""
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": f"{_ROOT}{os.pathsep}{path}" if path else str(_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        cwd=_ROOT,
        env=env,
        start_new_session=True,
    )


def _end(proc: subprocess.Popen[str], grace: float) -> None:
    """SIGTERM ``proc``; SIGKILL it if it is still there ``grace`` s later."""
    for send in (proc.terminate, proc.kill):
        send()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace)
            return


class ServerProcess:
    """The benchmark server in a child process; a context manager.

    Entering starts it and waits (bounded) for its port; leaving ends it,
    on errors and Ctrl-C too.
    """

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self.port = 0

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def url(self, path: str) -> str:
        """A ``ws://127.0.0.1`` URL to ``path`` (with its query) on this server."""
        return f"ws://127.0.0.1:{self.port}{path}"

    def cpu_seconds(self) -> float:
        """The server's CPU time so far (user plus system)."""
        return process_cpu_seconds(self.pid)

    def __enter__(self) -> ServerProcess:
        args = ["--max-seconds", str(_SERVER_MAX_SECONDS)]
        self._proc = _start("bench.server", args, stdin=subprocess.PIPE)
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
        deadline = time.monotonic() + _START_TIMEOUT
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
        raise ChildFailed(f"the server did not start within {_START_TIMEOUT} s")

    def stop(self) -> None:
        """End the server (idempotent)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()  # the server exits on EOF
        try:
            proc.wait(3.0)
        except subprocess.TimeoutExpired:
            _end(proc, grace=3.0)
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
    proc = _start(module, args, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ChildFailed(f"{module} did not finish within {timeout} s") from None
    finally:
        if proc.poll() is None:
            _end(proc, grace=2.0)
            proc.communicate()
    if proc.returncode != 0:
        raise ChildFailed(f"{module} exited with {proc.returncode}: {err.strip()[-2000:]}")
    return out
