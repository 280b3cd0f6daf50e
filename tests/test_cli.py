"""The wsclient command, run as a real subprocess against servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest

from wsclient.cli import describe
from wsclient.disconnect import Disconnect, Initiator
from wsclient.events import Disconnected, Gap, ReconnectScheduled
from wsclient.policy import Reconnect
from wsclient.testing import Close, Receive, Reject, Send
from wsclient.testing.plugin import StartServer

from .conftest import unused_port


async def wsclient_cli(*args: str, stdin: bytes = b"") -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wsclient",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(20):
            out, err = await process.communicate(stdin)
    finally:
        if process.returncode is None:  # timed out: never leave it running
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_prints_messages_sends_stdin_lines_and_exits_0_on_a_stop_code(
    fault_server: StartServer,
) -> None:
    server = await fault_server([[Receive(2), Send("one"), Send(b"two"), Close(1000, "bye")]])
    args = (str(server.url), "--stop-on", "1000")
    code, out, err = await wsclient_cli(*args, stdin=b"hello\nworld\n")
    assert code == 0, err
    assert out.splitlines() == ["one", "two"]
    assert server.received[0] == ["hello", "world"]
    assert "connected to" in err
    assert "closed by server: 1000 NORMAL_CLOSURE 'bye'" in err


async def test_json_is_pretty_printed(fault_server: StartServer) -> None:
    server = await fault_server([[Send('{"a":1,"b":[2]}'), Send("not json"), Close(4000)]])
    code, out, _ = await wsclient_cli(str(server.url), "--json", "--no-stdin", "--stop-on", "4000")
    assert code == 0
    assert out.startswith(json.dumps({"a": 1, "b": [2]}, indent=2))
    assert out.rstrip().endswith("not json")


@pytest.mark.parametrize(
    ("script", "exit_code", "said"),
    [
        ([Close(1002, "bad")], 3, "closed with code 1002"),
        ([Reject(401)], 4, "handshake rejected with HTTP status 401"),
    ],
)
async def test_exit_codes_tell_how_it_ended(
    fault_server: StartServer, script: list[object], exit_code: int, said: str
) -> None:
    server = await fault_server([script])  # type: ignore[list-item]
    code, _, err = await wsclient_cli(str(server.url), "--no-stdin")
    assert code == exit_code
    assert said in err


async def test_gave_up_exits_5_and_a_header_is_never_echoed() -> None:
    url = f"ws://127.0.0.1:{unused_port()}/?token=SECRET123"
    args = (url, "--max-attempts", "1", "-H", "Authorization: Bearer SECRET456", "--no-stdin")
    code, out, err = await wsclient_cli(*args)
    assert code == 5
    assert "gave up after 1 attempts" in err
    assert "SECRET" not in out + err


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["ftp://x/"], "scheme 'ftp' is not one of"),
        (["ws://127.0.0.1:1/", "-H", "no colon"], "--header wants 'Name: value'"),
        (["ws://127.0.0.1:1/", "--max-attempts", "0"], "--max-attempts must be >= 1"),
        (["ws://127.0.0.1:1/", "--heartbeat", "-3"], "heartbeat must be"),
    ],
)
async def test_bad_usage_exits_2(args: list[str], said: str) -> None:
    code, _, err = await wsclient_cli(*args)
    assert code == 2
    assert said in err


async def test_the_demo_tells_the_whole_story_fast() -> None:
    code, out, err = await wsclient_cli("demo", "--speed", "200", "--no-color")
    assert code == 0, err
    for line in (
        "Time runs 200x faster",
        "1012 SERVICE_RESTART",
        "1013 TRY_AGAIN_LATER",
        "1006 ABNORMAL_CLOSURE",
        "1002 PROTOCOL_ERROR",
        "FatalClose(1002) raised",
        "4 connections, 14 ticks, 1 order delivered",
    ):
        assert line in out, line


def test_describe_events() -> None:
    lost = Disconnect(1006)
    assert describe(Disconnected(1006, "", Initiator.TRANSPORT, lost)) == (
        "closed by transport: 1006 ABNORMAL_CLOSURE"
    )
    assert describe(Disconnected(1006, "", Initiator.TRANSPORT, lost, paused=12.34)) == (
        "closed by transport: 1006 ABNORMAL_CLOSURE (reading paused 12.3 s: a slow consumer)"
    )
    assert describe(Gap("book", 6, 9)) == "gap in 'book': expected 6, got 9"
    line = describe(ReconnectScheduled(2, 3.25, Reconnect(reason="why"), lost))
    assert line == "reconnect: why; next attempt in 3.2 s"
