"""The pytest plugin of wsclient: ``pytest_plugins = ["wsclient.testing"]``
(installed, it also loads itself through the ``pytest11`` entry point).

Fixtures:
    fake_clock: a fresh :class:`~wsclient.testing.FakeClock`.
    ws_server: ``await ws_server(script, then=...)`` starts a
        :class:`~wsclient.testing.FaultServer` on 127.0.0.1 through
        pytest-aiohttp's ``aiohttp_server`` (closed after the test); its
        ``Hold(seconds)`` and ``Pause`` count on ``fake_clock``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import pytest

from .clock import FakeClock
from .server import FaultServer, Hold, Step

__all__ = ["StartServer", "fake_clock", "ws_server"]


class StartServer(Protocol):
    """The type of the ``ws_server`` fixture."""

    def __call__(
        self, script: Sequence[Sequence[Step]] = (), *, then: Sequence[Step] = ...
    ) -> Awaitable[FaultServer]: ...


@pytest.fixture
def fake_clock() -> FakeClock:
    """Virtual time: waits of minutes pass in milliseconds."""
    return FakeClock()


@pytest.fixture
def ws_server(aiohttp_server: Callable[..., Awaitable[Any]], fake_clock: FakeClock) -> StartServer:
    """Start scripted WebSocket servers on 127.0.0.1 (needs pytest-aiohttp)."""

    async def start(
        script: Sequence[Sequence[Step]] = (), *, then: Sequence[Step] = (Hold(),)
    ) -> FaultServer:
        fault = FaultServer(script, then=then, clock=fake_clock)
        return fault.attach(await aiohttp_server(fault.app))

    return start
