"""The interop tier: real servers from PyPI, each in a subprocess on a free
loopback port, started once per module (one module parameter per server)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from wsclient.testing import FakeClock

from .runner import Server

# websockets' asyncio server, uvicorn and Hypercorn with a plain ASGI app,
# Starlette on uvicorn, Tornado.
NAMES = ["websockets", "uvicorn", "starlette", "hypercorn", "tornado"]


@pytest.fixture(scope="module", params=NAMES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    name: str = request.param
    running = Server(name, tmp_path_factory.mktemp(name) / "log")
    running.start()
    yield running
    running.stop()


@pytest.fixture
def fake_clock() -> FakeClock:
    # The server is another process: the loop may sit idle while it answers;
    # virtual time must not take that for the end of a wait.
    return FakeClock(idle=0.2)
