"""Shared fixtures and helpers: virtual time, a scripted server on loopback,
event capture. Everything here uses wsclient's public API only, so the
black-box tests may use it too."""

from __future__ import annotations

import asyncio
import os
import random
import socket
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

import wsclient
from wsclient import ReconnectPolicy, State, Stop
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
    """Every event a connection reported, in order; an ``on_event`` callback.
    Given a clock, it also notes the virtual time of each (``times``, ``when``)."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        super().__init__()
        self.clock = clock
        self.times: list[float] = []
        self._changed = asyncio.Event()

    def __call__(self, event: wsclient.Event) -> None:
        self.append(event)
        if self.clock is not None:
            self.times.append(self.clock.now())
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

    def when(self, kind: type[Any], index: int = 0) -> float:
        """The virtual time of the ``index``-th event of ``kind``."""
        return [t for t, e in zip(self.times, self, strict=True) if isinstance(e, kind)][index]


@pytest.fixture
def events(clock: FakeClock) -> Events:
    return Events(clock)


# A server's 1000 reconnects by default; in these tests a script that ends
# with Close(1000) ends the stream, as a feed that ends on purpose would say.
ENDS = ReconnectPolicy.default().with_rule(1000, Stop("the script ended"))


@pytest.fixture
def options(clock: FakeClock, events: Events) -> dict[str, Any]:
    """Connection options for deterministic tests: virtual time, seeded jitter,
    and 1000 ends the stream (``ENDS``)."""
    return {"clock": clock, "rng": random.Random(1234), "on_event": events, "policy": ENDS}


class Midpoint(random.Random):
    """A 'random' source that always lands in the middle of the range."""

    def random(self) -> float:
        return 0.5


async def drain(conn: wsclient.Connection, into: list[Any]) -> None:
    """Iterate to the end, keeping what arrives (for pytest.raises blocks)."""
    async for msg in conn:
        into.append(msg.data)


def state_of(conn: wsclient.Connection) -> State:
    """The state now (a call, so the type checker does not narrow it)."""
    return conn.state


def wsclient_tasks() -> list[asyncio.Task[Any]]:
    """The tasks wsclient started that are still running."""
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("wsclient") and not t.done()]


def unused_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (a connect is refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))
