"""``wsclient bridge``: publish feeds into NATS JetStream.

One feed::

    wsclient bridge URL --nats NATS_URL --subject SUBJECT [--msg-id POINTER]

Many feeds over many hosts (worker I of N runs the feeds rendezvous hashing
gives it, each feed on ``--replicas`` workers)::

    wsclient bridge --feeds FILE --worker I/N --replicas 2 --nats NATS_URL

The life of each connection (the feed's and NATS's) goes to stderr like
``wsclient URL``'s. Exit codes: those of ``wsclient URL``, and 8 no stream
captures a subject, 9 a message JetStream did not acknowledge in time (or
refused). See :mod:`wsclient.bridge` for the guarantee.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .cli import EXIT_CODES, EXIT_INTERRUPTED, EXIT_USAGE, describe
from .errors import WSClientError
from .events import Event
from .feeds import Feed, assign, check_subject, load_feeds, parse_worker
from .pointer import parse_pointer

__all__ = ["EXIT_NO_STREAM", "EXIT_PUBLISH_FAILED", "main"]

EXIT_PUBLISH_FAILED = 9
EXIT_NO_STREAM = 8


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="wsclient bridge",
        description="Publish every message of a WebSocket feed into NATS JetStream, "
        "at least once (exactly once in the stream with --msg-id).",
        epilog="exit codes: 0 the feed ended, 2 usage, 3 fatal close, 4 handshake rejected, "
        "5 gave up, 8 no stream captures the subject, "
        "9 a publish not acknowledged in time or refused, 1 unexpected error, 130 interrupted",
    )
    parser.add_argument("url", nargs="*", help="the feed: one URL, or several endpoints in order")
    parser.add_argument(
        "--nats",
        default=os.environ.get("NATS_URL"),
        metavar="NATS_URL",
        help="the NATS server (default: $NATS_URL, which keeps a password out of `ps`)",
    )
    parser.add_argument("--subject", help="the JetStream subject to publish to")
    parser.add_argument(
        "--msg-id", metavar="POINTER", help="JSON Pointer to each message's id (e.g. /seq)"
    )
    parser.add_argument(
        "--subscribe",
        action="append",
        default=[],
        metavar="TEXT",
        help="a message sent on every connect (repeatable)",
    )
    parser.add_argument("--feeds", metavar="FILE", help="a TOML feeds file ([[feed]] tables)")
    parser.add_argument("--worker", metavar="I/N", help="with --feeds: this is worker I of N")
    parser.add_argument(
        "--replicas", type=int, default=2, help="with --feeds: workers per feed (default 2)"
    )
    parser.add_argument(
        "--publish-timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="fail when a message stays unacknowledged this long, retried (default 300)",
    )
    parser.add_argument(
        "--heartbeat", type=float, default=20.0, help="ping after this many quiet seconds (0: off)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no lifecycle lines on stderr")
    return parser.parse_args(argv)


def _feeds(args: argparse.Namespace) -> list[Feed]:
    """The feeds this process runs; ValueError naming what is wrong."""
    from .bridge import check_nats_url  # noqa: PLC0415 - nats-py is an optional extra

    if not args.nats:
        raise ValueError("--nats NATS_URL (or $NATS_URL) is required")
    check_nats_url(args.nats)
    if args.publish_timeout <= 0:
        raise ValueError(f"--publish-timeout must be > 0, got {args.publish_timeout}")
    if args.feeds is not None:
        if args.url or args.subject or args.msg_id or args.subscribe:
            raise ValueError("--feeds takes the URLs, subjects and ids from the file, not here")
        if args.worker is None:
            raise ValueError("--feeds needs --worker I/N")
        worker, workers = parse_worker(args.worker)
        if args.replicas < 1:
            raise ValueError(f"--replicas must be >= 1, got {args.replicas}")
        return assign(load_feeds(args.feeds), worker, workers, args.replicas)
    if not args.url or not args.subject:
        raise ValueError("give a feed URL and --subject (or --feeds FILE --worker I/N)")
    if args.worker is not None:
        raise ValueError("--worker goes with --feeds")
    check_subject(args.subject)
    if args.msg_id is not None:
        parse_pointer(args.msg_id)
    return [Feed("", tuple(args.url), args.subject, args.msg_id, tuple(args.subscribe))]


def _say(args: argparse.Namespace, feed: str) -> Any:
    prefix = f"wsclient bridge [{feed}]: " if feed else "wsclient bridge: "

    def say(text: str) -> None:
        if not args.quiet:
            print(prefix + text, file=sys.stderr, flush=True)

    return say


async def _run(feeds: list[Feed], args: argparse.Namespace) -> int:
    from .bridge import Bridge, Nats  # noqa: PLC0415 - nats-py is an optional extra
    from .session import Session  # noqa: PLC0415

    link = await Nats.connect(args.nats, log=_say(args, ""))
    try:
        async with Session(heartbeat=args.heartbeat or None) as session:
            runs: dict[asyncio.Task[Any], str] = {}
            for feed in feeds:
                say = _say(args, feed.name)

                def on_event(event: Event, say: Any = say) -> None:
                    say(describe(event))

                try:
                    conn = session.connect(list(feed.urls), on_event=on_event, **feed.options)
                except (ValueError, TypeError) as exc:
                    say(f"error: {exc}")
                    return EXIT_USAGE
                bridge = Bridge(
                    conn,
                    link,
                    feed.subject,
                    msg_id=feed.msg_id,
                    subscribe=feed.subscribe,
                    publish_timeout=args.publish_timeout,
                    log=say,
                )
                runs[asyncio.create_task(bridge.run())] = feed.name
            return await _wait(runs, args, link.scrub)
    finally:
        await link.close()


async def _wait(
    runs: dict[asyncio.Task[Any], str], args: argparse.Namespace, scrub: Callable[[str], str]
) -> int:
    """Wait for every feed; the first that fails ends them all (a supervisor
    restarts the worker; its other replicas keep the feeds flowing)."""
    from .bridge import NoStream, PublishFailed  # noqa: PLC0415

    try:
        done, _ = await asyncio.wait(runs, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in runs:
            task.cancel()
        await asyncio.gather(*runs, return_exceptions=True)
    for task in done:
        exc = task.exception()
        if exc is None:
            continue
        if not isinstance(exc, Exception):
            raise exc  # KeyboardInterrupt and the like
        name = "" if isinstance(exc, WSClientError) else f"{type(exc).__name__}: "
        _say(args, runs[task])(f"error: {scrub(name + str(exc))}")
        if isinstance(exc, PublishFailed):
            return EXIT_PUBLISH_FAILED
        if isinstance(exc, NoStream):
            return EXIT_NO_STREAM
        return EXIT_CODES.get(type(exc), 1)
    return 0


def main(argv: Sequence[str]) -> int:
    """Run ``wsclient bridge`` with ``argv`` (after ``bridge``); return its exit code."""
    args = _parse(argv)
    try:
        feeds = _feeds(args)
    except (ValueError, TypeError, OSError, ImportError) as exc:
        print(f"wsclient bridge: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not feeds:
        print(f"wsclient bridge: worker {args.worker} has no feeds", file=sys.stderr)
        return 0
    try:
        return asyncio.run(_run(feeds, args))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
