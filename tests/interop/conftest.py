"""The interop tier: real servers from PyPI, each in a subprocess on a free
loopback port, started once per module (one module parameter per server)."""

from __future__ import annotations

import inspect
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from wsclient.testing import FakeClock

from . import test_interop
from .runner import Server
from .table import CHECKED, RESULTS, WS_VERSION, committed

# websockets' asyncio server, uvicorn and Hypercorn with a plain ASGI app,
# Starlette on uvicorn, Tornado; Node's ws where node and npm are.
NAMES = ["websockets", "uvicorn", "starlette", "hypercorn", "tornado", "ws"]
NPM_WITHIN = 120  # seconds: a bound on the install from the registry


@pytest.fixture(scope="session")
def node_modules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder whose node_modules holds Node's ``ws``, installed by npm;
    the Node scenarios are skipped (with the reason) where that cannot be."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"Node's ws server: {' and '.join(missing)} not on PATH")
    where = tmp_path_factory.mktemp("node")
    command = ["npm", "install", "--prefix", str(where), "--no-audit", "--no-fund"]
    try:
        done = subprocess.run(
            [*command, f"ws@{WS_VERSION}"],
            capture_output=True,
            text=True,
            timeout=NPM_WITHIN,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"Node's ws server: npm install ws@{WS_VERSION} took over {NPM_WITHIN} s")
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["no output"])[0]  # npm's error code
        pytest.skip(f"Node's ws server: npm install ws@{WS_VERSION} failed: {first}")
    return where / "node_modules"


@pytest.fixture(scope="module", params=NAMES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    name: str = request.param
    node = request.getfixturevalue("node_modules") if name == "ws" else None
    running = Server(name, tmp_path_factory.mktemp(name) / "log", node_modules=node)
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
    scenario produced (a scenario renamed or removed). A server that
    produced no row at all (Node's ws, skipped) is not judged."""
    yield
    session = request.session
    if os.environ.get(RESULTS) or session.testsfailed or not whole_tier(session.items):
        return
    ran = {server for server, _ in CHECKED}
    stale = sorted(key for key in set(committed()) - CHECKED if key[0] in ran)
    assert not stale, (
        f"docs/interop.md has rows no scenario produced: {stale}; "
        "rewrite it with: python -m tests.interop.table"
    )
