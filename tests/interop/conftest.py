"""The interop tier: real servers from PyPI, each in a subprocess on a free
loopback port, started once per module (one module parameter per server)."""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator

import pytest

from wsclient.testing import FakeClock

from . import test_interop
from .runner import Server
from .table import CHECKED, RESULTS, committed

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


def whole_tier(items: list[pytest.Item]) -> bool:
    """Whether every scenario ran against every server (not a selection)."""
    scenarios = {n for n, _ in inspect.getmembers(test_interop) if n.startswith("test_")}
    ran = {
        (item.originalname, item.callspec.params.get("server"))
        for item in items
        if isinstance(item, pytest.Function) and hasattr(item, "callspec")
    }
    return all((s, n) in ran for s in scenarios for n in NAMES)


@pytest.fixture(scope="session", autouse=True)
def no_stale_rows(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a green run of the whole tier, the page has no row that no
    scenario produced (a scenario renamed or removed)."""
    yield
    session = request.session
    if os.environ.get(RESULTS) or session.testsfailed or not whole_tier(session.items):
        return
    stale = sorted(set(committed()) - CHECKED)
    assert not stale, (
        f"docs/interop.md has rows no scenario produced: {stale}; "
        "rewrite it with: python -m tests.interop.table"
    )
