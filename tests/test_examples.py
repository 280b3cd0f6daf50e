"""The examples are part of the contract: each runs against the local server
it starts itself, and tells its story."""

from __future__ import annotations

import asyncio
import re
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


async def test_market_feed_keeps_its_book_through_a_gap_a_restart_and_a_silent_feed() -> None:
    out = await run("market_feed.py")
    for line in (
        "gap: expected #6, got #7: resyncing",
        "disconnected: 1000 'rotation requested' (rotate)",
        "--- connection 2 (after 1000 'rotation requested')",
        "disconnected: 1012 'deploying' (close)",
        "--- connection 3 (after 1012 'deploying'): 210 deltas of connection 2 came first",
        "no data for",
        "disconnected: 1006 '' (stale)",
        "--- connection 4 (after 1006 '')",
        "4 connections, 1 gap(s), 0 duplicate(s)",
    ):
        assert line in out, line
    assert "done: the book matches the exchange's" in out
    # The restart came while the consumer was far behind: it was announced
    # before connection 2's deltas were all applied, and they still came first.
    lines = out.splitlines()
    restart = lines.index("  disconnected: 1012 'deploying' (close)")
    assert restart < next(i for i, line in enumerate(lines) if line.startswith("--- connection 3"))


async def test_bot_gateway_resumes_handles_no_event_twice_then_gives_up_cleanly() -> None:
    out = await run("bot_gateway.py")
    for line in (
        "ready: session s-1",
        "disconnected: 1012 'restarting'",
        "connection 2: the old socket's events came first",
        "giving up cleanly: connection closed with code 4004: authentication failed",
    ):
        assert line in out, line
    events = [line for line in out.splitlines() if line.startswith("event #")]
    assert events == [f"event #{n}: message {n}" for n in range(1, 13)]  # each once, in order
    # The old socket delivered 1-5 (6 was lost in the restart). The bot
    # resumed from the last event handed to it while later ones were queued;
    # the gateway replayed from there, and the queued ones' replays were dropped.
    resumed = re.search(r"resumed session s-1 from #(\d+): (\d+) event\(s\)", out)
    assert resumed is not None
    position, replayed = int(resumed[1]), int(resumed[2])
    assert position < 5
    assert replayed == 6 - position
    assert f"2 connections, {5 - position} replayed event(s) dropped" in out


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.py")), ids=lambda p: p.name)
def test_every_example_is_tested(path: Path) -> None:
    assert path.name in {"echo_chat.py", "market_feed.py", "bot_gateway.py"}
