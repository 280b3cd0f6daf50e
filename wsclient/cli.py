"""The ``wsclient`` command.

``wsclient URL`` connects like websocat: each message on stdout, each stdin
line sent, the connection's life (connected, closed, decision, next attempt)
on stderr. ``wsclient demo`` plays a scripted story against a local server.

Exit codes tell how it ended: 0 a clean stop (a ``--stop-on`` code, or the end
of stdin with ``--exit-on-eof``), 3 a fatal close code, 4 a rejected
handshake, 5 retries given up (``--max-attempts``), 6 a transport failure not
worth retrying (TLS), 7 a stdin line that cannot be sent as text, 1 anything
unexpected, 2 bad usage. Ended from outside, it closes the WebSocket cleanly
first and exits as a shell reports a process killed by the signal: 130
interrupted (SIGINT, 1000 sent), 141 stdout's reader gone (``| head``, 1000
sent), 143 terminated (SIGTERM, 1001 sent).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import signal
import stat
import sys
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, TextIO

import aiohttp
from tenacity import stop_after_attempt

from .connection import Connection
from .disconnect import Disconnect, DisconnectKind, close_code_name, is_valid_wire_code
from .errors import (
    BufferFull,
    ConnectionFailed,
    FatalClose,
    HandshakeRejected,
    InvalidState,
    RetriesExhausted,
    WSClientError,
)
from .events import (
    Connected,
    ConnectFailed,
    Disconnected,
    Event,
    Gap,
    GaveUp,
    HoldingOff,
    ReconnectScheduled,
    Stale,
)
from .policy import ReconnectPolicy, Stop
from .session import connect

__all__ = ["EXIT_CODES", "EXIT_INTERRUPTED", "EXIT_USAGE", "describe", "main"]

EXIT_CODES: dict[type[BaseException] | None, int] = {
    None: 0,
    FatalClose: 3,
    HandshakeRejected: 4,
    RetriesExhausted: 5,
    ConnectionFailed: 6,
}
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2
EXIT_INPUT = 7
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_PIPE = 141  # 128 + SIGPIPE: what a shell reports for `cat` writing to a gone `head`
EXIT_TERMINATED = 143  # 128 + SIGTERM

# The longest stdin line read from a pipe (asyncio's default is 64 KiB).
LINE_LIMIT = 64 * 1024 * 1024
# How often --exit-on-eof looks whether the outbox has drained.
DRAIN_POLL = 0.05


def _attempts(count: int) -> str:
    return f"{count} attempt" if count == 1 else f"{count} attempts"


def _cause(cause: Disconnect) -> str:
    """``cause`` in a line, saying plainly when the URL is no WebSocket endpoint."""
    status = cause.status
    if cause.kind is DisconnectKind.HANDSHAKE and status is not None and 200 <= status < 300:
        return (
            f"the server answered HTTP {status} and did not upgrade: "
            "not a WebSocket endpoint (check the URL's path)"
        )
    return cause.describe()


def describe(event: Event) -> str:
    """One line about ``event`` for a human (no secrets: events carry none)."""
    if isinstance(event, Connected):
        return f"connected to {event.url} (attempt {event.attempt})"
    if isinstance(event, Disconnected):
        code = "no code" if event.code is None else f"{event.code} {close_code_name(event.code)}"
        reason = f" {event.reason!r}" if event.reason else ""
        paused = f" (reading paused {event.paused:.1f} s: a slow consumer)" if event.paused else ""
        return f"closed by {event.initiated_by}: {code}{reason}{paused}"
    if isinstance(event, ConnectFailed):
        return f"connect failed (attempt {event.attempt}): {_cause(event.cause)}"
    if isinstance(event, ReconnectScheduled):
        return f"{event.decision}; next attempt in {event.delay:.1f} s"
    if isinstance(event, GaveUp):
        return f"giving up after {_attempts(event.attempts)}: {_cause(event.cause)}"
    if isinstance(event, Stale):
        then = "keeping on" if event.kept_waiting else "reconnecting"
        return f"no data for {event.idle:.1f} s: {then}"
    if isinstance(event, Gap):
        return f"gap in {event.stream!r}: expected {event.expected}, got {event.received}"
    return f"holding off {event.delay:.1f} s: {event.reason}"


def _ending(exc: WSClientError) -> str:
    """The last line of a run that ended in ``exc``."""
    if isinstance(exc, RetriesExhausted):
        return f"gave up after {_attempts(exc.attempts)}: {_cause(exc.cause)}"
    if isinstance(exc, HandshakeRejected) and 200 <= exc.status < 300:
        return _cause(Disconnect(kind=DisconnectKind.HANDSHAKE, status=exc.status))
    return str(exc)


def _say(text: str) -> None:
    print(f"wsclient: {text}", file=sys.stderr, flush=True)


def _version() -> str:
    try:
        version = metadata.version("aiohttp-wsclient")
    except metadata.PackageNotFoundError:  # run from a source tree, not installed
        version = "(not installed)"
    return (
        f"wsclient {version} (aiohttp {aiohttp.__version__}, Python {platform.python_version()})"
    )


def _parse_connect(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="wsclient",
        usage="%(prog)s [options] URL\n       %(prog)s demo [--speed X] [--no-color]",
        description="Connect to a WebSocket like websocat, reconnecting by the close code: "
        "messages on stdout, stdin lines sent, the connection's life on stderr. "
        "'wsclient demo' plays a scripted story against a local server (see "
        "'wsclient demo --help').",
        epilog="exit codes: 0 clean stop, 3 fatal close, 4 handshake rejected, 5 gave up, "
        "6 TLS failure, 7 stdin line not UTF-8, 1 unexpected error, 2 usage; "
        "130 SIGINT (1000 sent), 141 stdout closed (1000 sent), 143 SIGTERM (1001 sent)",
    )
    parser.add_argument("url", help="ws://, wss://, http:// or https:// URL")
    parser.add_argument("-V", "--version", action="version", version=_version())
    parser.add_argument("--json", action="store_true", help="pretty-print JSON messages")
    parser.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="a handshake header (repeatable); never echoed",
    )
    parser.add_argument(
        "--heartbeat", type=float, default=20.0, help="ping after this many quiet seconds (0: off)"
    )
    parser.add_argument(
        "--stop-on",
        type=int,
        action="append",
        default=[],
        metavar="CODE",
        help="end cleanly when the server closes with CODE (repeatable; "
        "by default every code but a fatal one reconnects, 1000 too)",
    )
    parser.add_argument(
        "--max-attempts",
        type=int,
        metavar="N",
        help="give up after N attempts in a row, where an attempt is a connect that failed "
        "or a connection that ended within 30 s (a server that accepts and soon closes "
        "counts too); by default it never gives up",
    )
    parser.add_argument("--no-stdin", action="store_true", help="do not send stdin lines")
    parser.add_argument(
        "-b",
        "--binary",
        action="store_true",
        help="send stdin lines as BINARY messages (by default TEXT, which must be UTF-8)",
    )
    parser.add_argument(
        "-E",
        "--exit-on-eof",
        action="store_true",
        help="at the end of stdin, once every line read was sent, close with 1000 and exit 0 "
        "(by default the session outlives stdin)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no lifecycle lines on stderr")
    return parser.parse_args(argv)


def _headers(lines: Sequence[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise ValueError(f"--header wants 'Name: value', got one without a colon: {name!r}")
        headers[name.strip()] = value.strip()
    return headers


def _show(data: str | bytes, pretty: bool, out: TextIO) -> None:
    if isinstance(data, bytes):
        out.flush()
        out.buffer.write(data + b"\n")
        out.buffer.flush()
        return
    if pretty:
        with contextlib.suppress(ValueError):
            data = json.dumps(json.loads(data), indent=2, ensure_ascii=False)
    print(data, file=out, flush=True)


def _stdout_gone() -> None:
    """Point stdout at /dev/null: its reader left, and the interpreter's last
    flush must not fail again (the Python docs' advice for SIGPIPE)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


async def _stdin_lines() -> AsyncGenerator[bytes]:
    """stdin's lines, as bytes.

    A pipe, socket or terminal is read on the event loop. Anything else (a
    file, /dev/null) is read directly: epoll refuses those, and reading them
    never waits for long.
    """
    mode = os.fstat(sys.stdin.fileno()).st_mode
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or sys.stdin.isatty()):
        for line in sys.stdin.buffer:
            yield line
        return
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    transport, _ = await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    try:
        while line := await reader.readline():
            yield line
    finally:
        transport.close()


async def _pump_stdin(conn: Connection, binary: bool) -> int | None:
    """Send each stdin line as a message (buffered while reconnecting).

    Returns:
        ``None`` at the end of stdin; an exit code when a line could not be
        sent: it and the lines after it are not sent, and the session ends
        (loudly: a text message must be UTF-8, RFC 6455 section 5.6, and
        skipping a line would reorder what the server sees).
    """
    number = 0
    lines = _stdin_lines()
    try:
        async for line in lines:
            number += 1
            payload = line.removesuffix(b"\n")
            if binary:
                await conn.send_bytes(payload)
                continue
            try:
                text = payload.decode()
            except UnicodeDecodeError as exc:
                _say(
                    f"stdin line {number} is not UTF-8 (0x{payload[exc.start]:02x} at its "
                    f"byte {exc.start + 1}); it and what follows were not sent: a text "
                    "message must be UTF-8 (--binary sends lines as binary messages)"
                )
                return EXIT_INPUT
            await conn.send_str(text)
    except ValueError:  # the StreamReader's LINE_LIMIT (nothing else here raises it)
        _say(f"stdin line {number + 1} is longer than {LINE_LIMIT} bytes; not sent")
        return EXIT_INPUT
    except BufferFull:
        _say(f"stdin line {number} not sent: the outbox is full while reconnecting")
        return EXIT_UNEXPECTED
    finally:
        await lines.aclose()
    return None


@dataclass
class _Ending:
    """How the run ends when something other than the server ends it: the
    first one to decide wins (SIGTERM during --exit-on-eof's drain...)."""

    code: int | None = None
    closing: set[asyncio.Task[None]] = field(default_factory=set)

    def close(self, conn: Connection, code: int, close_code: int, reason: str = "") -> None:
        if self.code is None:
            self.code = code
        self.closing.add(asyncio.ensure_future(conn.close(close_code, reason)))


async def _feed(conn: Connection, args: argparse.Namespace, ending: _Ending) -> None:
    """Pump stdin; after it, end the session if a line failed or --exit-on-eof."""
    with contextlib.suppress(InvalidState):  # the connection ended first
        code = await _pump_stdin(conn, args.binary)
        if code is None and not args.exit_on_eof:
            return  # the session outlives stdin: a feed is read on
        # Close only once every line read has left: the closing handshake
        # follows them on the same socket. The outbox drains after a
        # reconnect, so this may wait out a backoff; there is no event for
        # "drained", hence a short poll (it runs once per session).
        while conn.unsent:  # noqa: ASYNC110 - no event to wait on
            await asyncio.sleep(DRAIN_POLL)
        ending.close(conn, 0 if code is None else code, 1000)


def _on_sigterm(conn: Connection, ending: _Ending) -> None:
    """SIGTERM closes with 1001 GOING_AWAY (RFC 6455 section 7.4.1: an
    endpoint going away, as a service being stopped does); a second SIGTERM
    during that closing handshake kills at once."""
    loop = asyncio.get_running_loop()

    def terminate() -> None:
        loop.remove_signal_handler(signal.SIGTERM)
        ending.close(conn, EXIT_TERMINATED, 1001, "terminated")

    with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows' loop
        loop.add_signal_handler(signal.SIGTERM, terminate)


def _policy(stop_on: Sequence[int]) -> ReconnectPolicy:
    policy = ReconnectPolicy.default()
    for code in stop_on:
        if not is_valid_wire_code(code):
            raise ValueError(f"--stop-on {code}: not a close code a server may send")
        policy = policy.with_rule(code, Stop(f"{code}: --stop-on"))
    return policy


def _connection(args: argparse.Namespace) -> Connection:
    """The connection the arguments ask for; ValueError/TypeError if they are bad."""

    def on_event(event: Event) -> None:
        # GaveUp is said by the last line (even with -q), HoldingOff by the
        # ReconnectScheduled just before it: each said once.
        if not args.quiet and not isinstance(event, GaveUp | HoldingOff):
            _say(describe(event))

    if args.max_attempts is not None and args.max_attempts < 1:
        raise ValueError(f"--max-attempts must be >= 1, got {args.max_attempts}")
    return connect(
        args.url,
        headers=_headers(args.header) or None,
        heartbeat=args.heartbeat or None,
        policy=_policy(args.stop_on),
        stop=stop_after_attempt(args.max_attempts) if args.max_attempts else None,
        on_event=on_event,
    )


class _Warnings(logging.Handler):
    """The library's warnings on stderr, but not the record of the error
    that ends the run: the last line says that, once."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.setFormatter(logging.Formatter("wsclient: %(message)s"))

    def filter(self, record: logging.LogRecord) -> bool:
        args: Any = record.args
        return not (isinstance(args, tuple) and any(isinstance(a, WSClientError) for a in args))

    def emit(self, record: logging.LogRecord) -> None:
        print(self.format(record), file=sys.stderr, flush=True)


def _route_warnings() -> None:
    logger = logging.getLogger("wsclient")
    if not any(isinstance(handler, _Warnings) for handler in logger.handlers):
        logger.addHandler(_Warnings())


async def _run_connect(conn: Connection, args: argparse.Namespace) -> int:
    ending = _Ending()
    async with conn:
        _on_sigterm(conn, ending)
        feed = None if args.no_stdin else asyncio.create_task(_feed(conn, args, ending))
        try:
            async for msg in conn:
                _show(msg.data, args.json, sys.stdout)
        except BrokenPipeError:
            _stdout_gone()
            return EXIT_PIPE  # leaving ``async with`` closes with 1000
        except WSClientError as exc:
            _say(_ending(exc))
            return EXIT_CODES.get(type(exc), EXIT_UNEXPECTED)
        finally:
            with contextlib.suppress(NotImplementedError):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGTERM)
            if feed is not None:
                feed.cancel()
                await asyncio.wait({feed})
                if not feed.cancelled():
                    feed.result()  # an unexpected error: let it be seen
            if ending.closing:
                await asyncio.wait(ending.closing)
    return 0 if ending.code is None else ending.code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["demo"]:
            from .demo import run_demo  # noqa: PLC0415 - imports rich, for the demo only

            return run_demo(argv[1:])
        if argv[:1] == ["bridge"]:
            from .bridge_cli import main as run_bridge  # noqa: PLC0415 - nats-py, an extra

            return run_bridge(argv[1:])
        args = _parse_connect(argv)
        try:
            conn = _connection(args)
        except (ValueError, TypeError) as exc:
            _say(str(exc))
            return EXIT_USAGE
        _route_warnings()
        return asyncio.run(_run_connect(conn, args))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
