"""The wsclient command, run as a real subprocess against servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import IO, Any

import pytest
from aiohttp import web

from wsclient.cli import describe
from wsclient.disconnect import Disconnect, DisconnectKind, Initiator
from wsclient.events import ConnectFailed, Disconnected, Gap, GaveUp, ReconnectScheduled
from wsclient.policy import Reconnect
from wsclient.testing import Close, FaultServer, Receive, Reject, Send
from wsclient.testing.plugin import StartServer

from .conftest import unused_port

LIMIT = 20  # seconds any one run of the command may take


async def wsclient_cli(
    *args: str, stdin: bytes | IO[bytes] | int = b"", python: tuple[str, ...] = ("-m", "wsclient")
) -> tuple[int, str, str]:
    """Run the command to its end: exit code, stdout, stderr."""
    given = stdin if isinstance(stdin, bytes) else None
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *python,
        *args,
        stdin=asyncio.subprocess.PIPE if isinstance(stdin, bytes) else stdin,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(LIMIT):
            out, err = await process.communicate(given)
    finally:
        if process.returncode is None:  # timed out: never leave it running
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


class Running:
    """The command running in the background; its stderr read line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.err: list[str] = []

    @classmethod
    async def start(cls, *args: str, **streams: Any) -> Running:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "wsclient",
            *args,
            stdin=streams.get("stdin", asyncio.subprocess.DEVNULL),
            stdout=streams.get("stdout", asyncio.subprocess.DEVNULL),
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def said(self, text: str) -> None:
        """Wait until a stderr line contains ``text``."""
        assert self.process.stderr is not None
        async with asyncio.timeout(LIMIT):
            while not any(text in line for line in self.err):
                line = await self.process.stderr.readline()
                assert line, f"exited before saying {text!r}: {self.err}"
                self.err.append(line.decode())

    async def exit_code(self) -> int:
        assert self.process.stderr is not None
        try:
            async with asyncio.timeout(LIMIT):
                rest = await self.process.stderr.read()
                self.err += rest.decode().splitlines(keepends=True)
                return await self.process.wait()
        finally:
            if self.process.returncode is None:
                self.process.kill()
                await self.process.wait()


async def closed_with(server: FaultServer) -> list[int | None]:
    """The close codes of the server's connections, once all have ended (the
    client may exit a moment before the server's handler has finished)."""
    async with asyncio.timeout(5):
        while None in server.closes:  # noqa: ASYNC110 - the server has no event for it
            await asyncio.sleep(0.01)
    return server.closes


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


async def test_gave_up_exits_5_says_so_once_and_a_header_is_never_echoed() -> None:
    url = f"ws://127.0.0.1:{unused_port()}/?token=SECRET123"
    args = (url, "--max-attempts", "1", "-H", "Authorization: Bearer SECRET456", "--no-stdin")
    code, out, err = await wsclient_cli(*args)
    assert code == 5
    assert "SECRET" not in out + err
    lines = err.splitlines()
    assert [line for line in lines if "gave up" in line or "giving up" in line] == [
        next(line for line in lines if line.startswith("wsclient: gave up after 1 attempt: "))
    ]
    assert all(line.startswith("wsclient: ") for line in lines), err  # no raw log record


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["ftp://x/"], "scheme 'ftp' is not one of"),
        (
            ["127.0.0.1:8765/ws"],
            "has no scheme (ws://, wss://, http:// or https://): did you "
            "mean 'ws://127.0.0.1:8765/ws'?",
        ),
        (["ws://127.0.0.1:1/", "-H", "no colon"], "--header wants 'Name: value'"),
        (["ws://127.0.0.1:1/", "-H", "X-Key: a\rb"], "the value of 'X-Key' contains a CR"),
        (["ws://127.0.0.1:1/", "--max-attempts", "0"], "--max-attempts must be >= 1"),
        (["ws://127.0.0.1:1/", "--heartbeat", "-3"], "heartbeat must be"),
    ],
)
async def test_bad_usage_exits_2(args: list[str], said: str) -> None:
    code, _, err = await wsclient_cli(*args)
    assert code == 2
    assert said in err


async def test_version_and_help() -> None:
    code, out, _ = await wsclient_cli("--version")
    assert code == 0
    assert out.startswith(f"wsclient {metadata.version('aiohttp-wsclient')} (aiohttp ")
    code, out, _ = await wsclient_cli("--help")
    assert code == 0
    assert "wsclient demo" in out
    assert "--exit-on-eof" in out
    assert "ended within 30 s" in " ".join(out.split())  # what --max-attempts counts


async def test_a_plain_http_endpoint_is_said_to_be_no_websocket(
    aiohttp_server: Any,
) -> None:
    app = web.Application()

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    app.router.add_get("/", hello)
    server = await aiohttp_server(app)
    code, _, err = await wsclient_cli(str(server.make_url("/")), "--no-stdin")
    assert code == 4
    assert "HTTP 200 and did not upgrade: not a WebSocket endpoint" in err
    assert "rejected" not in err


async def test_a_hold_off_is_said_once(fault_server: StartServer) -> None:
    server = await fault_server([[Close(1013, "busy")]])
    running = await Running.start(str(server.url), "--no-stdin")
    await running.said("next attempt in")
    running.process.send_signal(signal.SIGTERM)
    assert await running.exit_code() == 143
    assert sum("1013" in line for line in running.err) == 2  # the close, the decision
    assert sum("hold" in line for line in running.err) == 1, running.err


# -- ending from outside: signals and a closed pipe ------------------------------------


@pytest.mark.parametrize(
    ("sent", "exit_code", "close_code"),
    [(signal.SIGTERM, 143, 1001), (signal.SIGINT, 130, 1000)],
)
async def test_a_signal_closes_cleanly_then_exits_with_its_code(
    fault_server: StartServer, sent: signal.Signals, exit_code: int, close_code: int
) -> None:
    server = await fault_server()
    running = await Running.start(str(server.url), "--no-stdin")
    await running.said("connected to")
    running.process.send_signal(sent)
    assert await running.exit_code() == exit_code
    assert await closed_with(server) == [close_code]
    assert "Traceback" not in "".join(running.err)


async def test_a_reader_that_leaves_the_pipe_ends_it_quietly(fault_server: StartServer) -> None:
    server = await fault_server([[Send("first"), Receive(1), Send("second")]])
    read_end, write_end = os.pipe()
    running = await Running.start(str(server.url), stdin=asyncio.subprocess.PIPE, stdout=write_end)
    os.close(write_end)
    reader = asyncio.StreamReader()
    transport, _ = await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_end, "rb")
    )
    assert await reader.readline() == b"first\n"
    transport.close()  # the reader leaves, like `| head -1`
    assert running.process.stdin is not None
    running.process.stdin.write(b"go\n")  # the server sends "second" into the closed pipe
    await running.process.stdin.drain()
    assert await running.exit_code() == 141
    assert "Traceback" not in "".join(running.err), running.err
    assert "BrokenPipe" not in "".join(running.err)
    assert await closed_with(server) == [1000]


# -- stdin --------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["pipe", "file"])
async def test_a_stdin_line_that_is_not_utf8_stops_loudly_after_the_lines_before_it(
    fault_server: StartServer, tmp_path: Path, source: str
) -> None:
    server = await fault_server()
    data = b"one\nab\xffc\ntwo\n"
    path = tmp_path / "in.txt"
    path.write_bytes(data)
    with path.open("rb") as file:
        code, _, err = await wsclient_cli(
            str(server.url), stdin=data if source == "pipe" else file
        )
    assert code == 7
    assert "stdin line 2 is not UTF-8 (0xff at its byte 3)" in err
    assert "--binary" in err
    assert server.received == [["one"]]
    assert await closed_with(server) == [1000]


async def test_binary_sends_lines_as_they_are(fault_server: StartServer) -> None:
    server = await fault_server()
    code, _, err = await wsclient_cli(
        str(server.url), "--binary", "--exit-on-eof", stdin=b"one\n\xff\xfe\ntwo"
    )
    assert code == 0, err
    assert server.received == [[b"one", b"\xff\xfe", b"two"]]


async def test_exit_on_eof_closes_with_1000_once_every_line_was_sent(
    fault_server: StartServer,
) -> None:
    server = await fault_server([[Send("hello")]])
    code, _, err = await wsclient_cli(str(server.url), "-E", stdin=b"one\ntwo\n")
    assert code == 0, err
    assert server.received == [["one", "two"]]
    assert await closed_with(server) == [1000]


async def test_stdin_from_dev_null_is_an_empty_file_and_the_feed_goes_on(
    fault_server: StartServer,
) -> None:
    server = await fault_server()
    running = await Running.start(str(server.url), stdin=subprocess.DEVNULL)
    await running.said("connected to")
    running.process.send_signal(signal.SIGTERM)
    assert await running.exit_code() == 143
    assert "Traceback" not in "".join(running.err), running.err
    assert await closed_with(server) == [1001]


# -- the demo ---------------------------------------------------------------------------------


async def test_the_demo_without_rich_says_what_to_install_on_stderr() -> None:
    no_rich = "import sys; sys.modules['rich'] = None; from wsclient.cli import main; "
    no_rich += "sys.exit(main(['demo']))"
    code, out, err = await wsclient_cli(python=("-c", no_rich))
    assert code == 1
    assert out == ""
    assert "pip install 'aiohttp-wsclient[cli]'" in err


async def test_the_demo_help_is_plain_text() -> None:
    code, out, _ = await wsclient_cli("demo", "--help")
    assert code == 0
    assert "--speed" in out
    assert "``" not in out
    assert ":class:" not in out


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


def test_describe_counts_attempts_in_english() -> None:
    refused = Disconnect(kind=DisconnectKind.REFUSED)
    assert describe(GaveUp(1, refused)) == "giving up after 1 attempt: refused"
    assert describe(GaveUp(3, refused)) == "giving up after 3 attempts: refused"
    not_ws = Disconnect(kind=DisconnectKind.HANDSHAKE, status=200)
    assert describe(ConnectFailed("ws://h/", 1, not_ws)).endswith(
        ": not a WebSocket endpoint (check the URL's path)"
    )
