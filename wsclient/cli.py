"""The ``wsclient`` command.

``wsclient URL`` connects like websocat: each message on stdout, each stdin
line sent, the connection's life (connected, closed, decision, next attempt)
on stderr. ``wsclient demo`` plays a scripted story against a local server.

Exit codes tell how it ended: 0 a clean stop, 3 a fatal close code, 4 a
rejected handshake, 5 retries given up (``--max-attempts``), 6 a transport
failure not worth retrying (TLS), 1 anything unexpected, 2 bad usage,
130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import stat
import sys
from collections.abc import Sequence
from typing import TextIO

from tenacity import stop_after_attempt

from .connection import Connection
from .disconnect import close_code_name, is_valid_wire_code
from .errors import (
    ConnectionFailed,
    FatalClose,
    HandshakeRejected,
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
    ReconnectScheduled,
    Stale,
)
from .policy import ReconnectPolicy, Stop
from .session import connect

__all__ = ["EXIT_CODES", "describe", "main"]

EXIT_CODES: dict[type[BaseException] | None, int] = {
    None: 0,
    FatalClose: 3,
    HandshakeRejected: 4,
    RetriesExhausted: 5,
    ConnectionFailed: 6,
}
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


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
        return f"connect failed (attempt {event.attempt}): {event.cause.describe()}"
    if isinstance(event, ReconnectScheduled):
        return f"{event.decision}; next attempt in {event.delay:.1f} s"
    if isinstance(event, GaveUp):
        return f"giving up after {event.attempts} attempt(s): {event.cause.describe()}"
    if isinstance(event, Stale):
        then = "keeping on" if event.kept_waiting else "reconnecting"
        return f"no data for {event.idle:.1f} s: {then}"
    if isinstance(event, Gap):
        return f"gap in {event.stream!r}: expected {event.expected}, got {event.received}"
    return f"holding off {event.delay:.1f} s: {event.reason}"


def _parse_connect(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="wsclient",
        description="Connect to a WebSocket like websocat, reconnecting by the close code. "
        "'wsclient demo' plays a scripted story against a local server.",
        epilog="exit codes: 0 clean stop, 3 fatal close, 4 handshake rejected, "
        "5 gave up, 6 TLS failure, 1 unexpected error, 2 usage, 130 interrupted",
    )
    parser.add_argument("url", help="ws://, wss://, http:// or https:// URL")
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
        "--max-attempts", type=int, metavar="N", help="give up after N failed attempts in a row"
    )
    parser.add_argument("--no-stdin", action="store_true", help="do not send stdin lines")
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


async def _pump_stdin(conn: Connection) -> None:
    """Send each stdin line as a TEXT message (buffered while reconnecting)."""
    if stat.S_ISREG(os.fstat(sys.stdin.fileno()).st_mode):
        for line in sys.stdin:
            await conn.send_str(line.rstrip("\n"))
        return
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    try:
        while line := await reader.readline():
            await conn.send_str(line.decode().rstrip("\n"))
    finally:
        transport.close()


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
        if not args.quiet:
            print(f"wsclient: {describe(event)}", file=sys.stderr, flush=True)

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


async def _run_connect(conn: Connection, args: argparse.Namespace) -> int:
    async with conn:
        pump = None if args.no_stdin else asyncio.create_task(_pump_stdin(conn))
        try:
            async for msg in conn:
                _show(msg.data, args.json, sys.stdout)
        except WSClientError as exc:
            print(f"wsclient: {exc}", file=sys.stderr)
            return EXIT_CODES.get(type(exc), 1)
        finally:
            if pump is not None:
                pump.cancel()
                await asyncio.wait({pump})
    return 0


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
            print(f"wsclient: {exc}", file=sys.stderr)
            return EXIT_USAGE
        return asyncio.run(_run_connect(conn, args))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
