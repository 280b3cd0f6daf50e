"""Tier 3: each close code from a real server on 127.0.0.1 -- the decision taken,
the delay scheduled, and what `async for` does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

import wsclient
from wsclient import Fail, FatalClose, HoldOff, Reconnect, Stop
from wsclient.testing import Close, CloseFrame, Drop, Send, Step
from wsclient.testing.plugin import StartServer

from .conftest import Events, drain, wsclient_tasks


@dataclass(frozen=True)
class Case:
    name: str
    ending: Step
    effective: int  # Disconnected.code
    decision: type
    delay: tuple[float, float] | None = None  # bounds of the scheduled delay
    received: int | None = None  # FatalClose.received_code


CASES = [
    Case("1000", Close(1000, "done"), 1000, Stop),
    Case("1001", Close(1001, "going away"), 1001, Reconnect, (0, 5)),
    Case("1002", Close(1002), 1002, Fail),
    Case("1003", Close(1003), 1003, Fail),
    Case("1005 no code", CloseFrame(None), 1005, Reconnect, (0, 5)),
    Case("1006 dropped socket", Drop(), 1006, Reconnect, (0, 5)),
    Case("1008", Close(1008, "policy"), 1008, Fail),
    Case("1011", Close(1011), 1011, Reconnect, (0, 5)),
    Case("1012", Close(1012, "restart"), 1012, Reconnect, (5, 30)),
    Case("1013", Close(1013, "busy"), 1013, HoldOff, (30, 120)),
    Case("1014", Close(1014), 1014, Reconnect, (0, 5)),
    Case("4000", Close(4000, "app"), 4000, Reconnect, (0, 5)),
    Case("raw 1006", CloseFrame(1006), 1002, Fail, received=1006),
    Case("raw 5000", CloseFrame(5000), 1002, Fail, received=5000),
    Case("raw 65535", CloseFrame(65535), 1002, Fail, received=65535),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
async def test_close_code(
    case: Case, fault_server: StartServer, options: dict[str, Any], events: Events
) -> None:
    server = await fault_server([[Send("first"), case.ending], [Send("second"), Close(1000)]])
    got: list[str] = []
    async with wsclient.connect(server.url, **options) as conn:
        if case.decision is Fail:
            with pytest.raises(FatalClose) as info:
                await drain(conn, got)
            assert info.value.code == case.effective
            assert info.value.received_code == case.received
            assert conn.state is wsclient.State.FAILED
        else:
            got = [msg.data async for msg in conn]
            assert conn.state is wsclient.State.CLOSED

    first = events.of(wsclient.Disconnected)[0]
    assert first.code == case.effective
    if case.decision in (Stop, Fail):
        assert got == ["first"]
        assert server.connections == 1
        assert events.of(wsclient.ReconnectScheduled) == []
        assert len(events.of(wsclient.GaveUp)) == (case.decision is Fail)
    else:
        assert got == ["first", "second"]
        assert server.connections == 2
        [scheduled] = events.of(wsclient.ReconnectScheduled)
        assert isinstance(scheduled.decision, case.decision)
        assert case.delay is not None
        low, high = case.delay
        assert low <= scheduled.delay <= high
        assert scheduled.attempt == 1
        assert len(events.of(wsclient.HoldingOff)) == (case.decision is HoldOff)
    assert wsclient_tasks() == []


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1015, 1016, 2999])
async def test_codes_aiohttp_rejects_itself_fail_as_protocol_errors(
    code: int, fault_server: StartServer, options: dict[str, Any]
) -> None:
    server = await fault_server([[CloseFrame(code)]])
    async with wsclient.connect(server.url, **options) as conn:
        with pytest.raises(FatalClose) as info:
            await conn.receive()
    assert info.value.code == 1002
    assert server.connections == 1


async def test_a_close_reason_of_124_bytes_is_a_protocol_error(
    fault_server: StartServer, options: dict[str, Any]
) -> None:
    server = await fault_server([[CloseFrame(1000, b"x" * 124)]])
    async with wsclient.connect(server.url, **options) as conn:
        with pytest.raises(FatalClose) as info:
            await conn.receive()
    assert info.value.code == 1002


async def test_a_close_reason_of_invalid_utf8_fails_with_1007(
    fault_server: StartServer, options: dict[str, Any]
) -> None:
    server = await fault_server([[CloseFrame(1000, b"\xff\xfe")]])
    async with wsclient.connect(server.url, **options) as conn:
        with pytest.raises(FatalClose) as info:
            await conn.receive()
    assert info.value.code == 1007
