"""Shared fixtures: virtual time, a scripted server on loopback, event capture."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

import wsclient
from wsclient.testing import FakeClock
from wsclient.testing.plugin import StartServer

E = TypeVar("E")


pytest_plugins = ["wsclient.testing", "pytester"]  # fake_clock, ws_server; pytester


@pytest.fixture
def clock(fake_clock: FakeClock) -> FakeClock:
    return fake_clock


@pytest.fixture
def fault_server(ws_server: StartServer) -> StartServer:
    """Start a FaultServer on 127.0.0.1 sharing the test's clock (the plugin's)."""
    return ws_server


class Events(list[wsclient.Event]):
    """Every event a connection reported, in order."""

    def __init__(self) -> None:
        super().__init__()
        self._changed = asyncio.Event()

    def __call__(self, event: wsclient.Event) -> None:
        self.append(event)
        self._changed.set()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Wait (idle, so virtual time can jump) until ``predicate()`` holds."""
        async with asyncio.timeout(5):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    async def wait_count(self, kind: type[Any], count: int) -> None:
        await self.wait_for(lambda: len(self.of(kind)) >= count)

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self if isinstance(e, kind)]

    def names(self) -> list[str]:
        return [type(e).__name__ for e in self]


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def options(clock: FakeClock, events: Events) -> dict[str, Any]:
    """Connection options for deterministic tests: virtual time, seeded jitter."""
    return {"clock": clock, "rng": random.Random(1234), "on_event": events}


async def drain(conn: wsclient.Connection, into: list[Any]) -> None:
    """Iterate to the end, keeping what arrives (for pytest.raises blocks)."""
    async for msg in conn:
        into.append(msg.data)


def wsclient_tasks() -> list[asyncio.Task[Any]]:
    """The tasks wsclient started that are still running."""
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("wsclient") and not t.done()]
