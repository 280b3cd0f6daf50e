"""The examples are part of the contract: each runs against the local server
it starts itself, and tells its story."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"


async def run(name: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLES / name),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(25):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:  # timed out: never leave it running
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()
    assert not err, err.decode()  # no traceback, no warning
    return out.decode()


async def test_echo_chat() -> None:
    assert (await run("echo_chat.py")).splitlines() == [
        "echo: hello",
        "echo: how are you?",
        "echo: bye",
    ]


async def test_market_feed_rides_through_a_gap_a_restart_and_a_silent_feed() -> None:
    out = await run("market_feed.py")
    for line in (
        "gap: expected #6, got #7: resubscribing",
        "disconnected: 1000 'reconnect requested' (forced)",
        "disconnected: 1012 'deploying' (close)",
        "no data for",
        "disconnected: 1006 '' (stale)",
        "done: 40 ticks over 4 connections (3 reconnects)",
    ):
        assert line in out, line


async def test_bot_gateway_resumes_then_gives_up_cleanly() -> None:
    out = await run("bot_gateway.py")
    for line in (
        "ready: session s-1",
        "disconnected: 1012 'restarting'",
        "resumed session s-1: 1 missed event(s)",
        "event #4: message 4",
        "giving up cleanly: connection closed with code 4004: authentication failed",
    ):
        assert line in out, line
    events = [line for line in out.splitlines() if line.startswith("event #")]
    assert events == [f"event #{n}: message {n}" for n in range(1, len(events) + 1)]


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.py")), ids=lambda p: p.name)
def test_every_example_is_tested(path: Path) -> None:
    assert path.name in {"echo_chat.py", "market_feed.py", "bot_gateway.py"}
