"""The feeds file of ``wsclient bridge --feeds``, and which worker runs which feed.

Pure: parsing and hashing only, no I/O but reading the file.

A feeds file is TOML with one ``[[feed]]`` table per feed::

    [[feed]]
    name = "btcusdt"                       # unique; names the feed in logs
    url = "wss://stream.example.com/ws"    # or urls = [...]: endpoints in order
    subject = "ticks.btcusdt"              # the JetStream subject
    msg_id = "/u"                          # JSON Pointer to a stable id (optional)
    subscribe = ['{"op": "subscribe", "args": ["btcusdt"]}']  # sent on every connect
    heartbeat = 20.0                       # optional connect options
    stale_after = 60.0
    max_queue = 10000

Workers are numbered 1..N. Rendezvous (highest-random-weight) hashing gives
each feed to the ``replicas`` workers with the highest weight
``blake2b(feed name, worker number)``: every worker computes the same answer
alone, and a change of N moves only what it must -- adding worker N+1 moves
about ``replicas/(N+1)`` of the feeds onto it, removing worker N moves only
the feeds it had. Python's ``hash()`` is salted per process, so it is not used.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yarl import URL

from .pointer import parse_pointer

__all__ = [
    "Feed",
    "assign",
    "check_subject",
    "load_feeds",
    "owners",
    "parse_feeds",
    "parse_worker",
    "weight",
]

# Connect options a feed may set, with the types they take.
_OPTIONS: dict[str, tuple[type[int | float], ...]] = {
    "heartbeat": (int, float),
    "stale_after": (int, float),
    "max_queue": (int,),
}
_FIELDS = {"name", "url", "urls", "subject", "msg_id", "subscribe", *_OPTIONS}
_SCHEMES = {"ws", "wss", "http", "https"}


@dataclass(frozen=True)
class Feed:
    """One feed to bridge: its endpoints, subject, id pointer, subscriptions."""

    name: str
    urls: tuple[str, ...]
    subject: str
    msg_id: str | None = None
    subscribe: tuple[str | dict[str, Any], ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)


def _fail(where: str, what: str) -> ValueError:
    return ValueError(f"{where}: {what}")


def _text(table: Mapping[str, Any], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, f"'{key}' must be a non-empty string, got {value!r}")
    return value


def check_subject(subject: str) -> str:
    """``subject`` if a message may be published on it.

    Raises:
        ValueError: empty, with whitespace or a wildcard, or an empty token.
    """
    if not subject or any(c.isspace() for c in subject):
        raise ValueError(f"subject {subject!r} must be non-empty, without whitespace")
    tokens = subject.split(".")
    if any(t in ("*", ">") for t in tokens):
        raise ValueError(f"subject {subject!r}: a wildcard cannot be published to")
    if "" in tokens:
        raise ValueError(f"subject {subject!r} has an empty token (a leading, trailing or '..')")
    return subject


def _urls(table: Mapping[str, Any], where: str) -> tuple[str, ...]:
    if ("url" in table) == ("urls" in table):
        raise _fail(where, "give exactly one of 'url' or 'urls'")
    urls = [table["url"]] if "url" in table else table["urls"]
    if not isinstance(urls, list) or not urls:
        raise _fail(where, f"'urls' must be a non-empty list of URLs, got {urls!r}")
    for url in urls:
        key = "url" if "url" in table else "urls"
        if not isinstance(url, str) or URL(url).scheme not in _SCHEMES or not URL(url).host:
            # The URL itself is not echoed: it may carry a token.
            raise _fail(where, f"'{key}' has an entry that is not a ws/wss/http/https URL")
    return tuple(urls)


def _feed(table: Any, index: int) -> Feed:
    where = f"feed #{index}"
    if not isinstance(table, dict):
        raise _fail(where, "each [[feed]] must be a table")
    name = _text(table, "name", where)
    where = f"feed {name!r}"
    unknown = sorted(set(table) - _FIELDS)
    if unknown:
        raise _fail(where, f"unknown field(s) {', '.join(unknown)} (known: {sorted(_FIELDS)})")
    try:
        subject = check_subject(_text(table, "subject", where))
    except ValueError as exc:
        raise _fail(where, f"'subject': {exc}") from None
    msg_id = table.get("msg_id")
    if msg_id is not None:
        try:
            parse_pointer(msg_id)
        except (ValueError, TypeError) as exc:
            raise _fail(where, f"'msg_id': {exc}") from None
    subscribe = table.get("subscribe", [])
    if not isinstance(subscribe, list) or not all(isinstance(m, str | dict) for m in subscribe):
        raise _fail(where, "'subscribe' must be a list of strings or tables (sent as JSON)")
    options: dict[str, Any] = {}
    for key, types in _OPTIONS.items():
        if key in table:
            value: Any = table[key]
            if not isinstance(value, types) or isinstance(value, bool) or not value > 0:
                raise _fail(where, f"'{key}' must be a positive number, got {value!r}")
            options[key] = value
    return Feed(name, _urls(table, where), subject, msg_id, tuple(subscribe), options)


def parse_feeds(text: str, source: str = "feeds file") -> list[Feed]:
    """The feeds of a feeds file's text.

    Raises:
        ValueError: the text is not TOML, or a feed is wrong; the message
            names the feed and the field.
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{source}: not valid TOML: {exc}") from None
    extra = sorted(set(document) - {"feed"})
    if extra:
        raise ValueError(
            f"{source}: unknown top-level key(s) {', '.join(extra)}; feeds are [[feed]]"
        )
    tables = document.get("feed", [])
    if not isinstance(tables, list) or not tables:
        raise ValueError(f"{source}: no [[feed]] tables")
    feeds = [_feed(table, i) for i, table in enumerate(tables, 1)]
    seen: set[str] = set()
    for feed in feeds:
        if feed.name in seen:
            raise ValueError(f"{source}: feed {feed.name!r}: 'name' is used twice")
        seen.add(feed.name)
    return feeds


def load_feeds(path: str | Path) -> list[Feed]:
    """The feeds of the file at ``path`` (see :func:`parse_feeds`)."""
    return parse_feeds(Path(path).read_text(encoding="utf-8"), str(path))


def parse_worker(text: str) -> tuple[int, int]:
    """``"I/N"`` as ``(I, N)``, 1 <= I <= N.

    Raises:
        ValueError: not of that form.
    """
    index, sep, count = text.partition("/")
    if not (sep and index.isdigit() and count.isdigit() and 1 <= int(index) <= int(count)):
        raise ValueError(f"--worker wants I/N with 1 <= I <= N (e.g. 1/3), got {text!r}")
    return int(index), int(count)


def weight(feed: str, worker: int) -> int:
    """The rendezvous weight of ``worker`` for ``feed``: stable across
    processes, machines and Python versions."""
    digest = hashlib.blake2b(f"{feed}\x00{worker}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owners(feed: str, workers: int, replicas: int) -> list[int]:
    """The workers (1..``workers``) that run ``feed``: the ``replicas``
    highest weights (all workers if there are fewer)."""
    if workers < 1 or replicas < 1:
        raise ValueError(f"workers and replicas must be >= 1, got {workers} and {replicas}")
    ranked = sorted(range(1, workers + 1), key=lambda w: weight(feed, w), reverse=True)
    return ranked[:replicas]


def assign(feeds: Iterable[Feed], worker: int, workers: int, replicas: int) -> list[Feed]:
    """The feeds worker ``worker`` of ``workers`` runs, in the file's order."""
    if not 1 <= worker <= workers:
        raise ValueError(f"worker must be in 1..{workers}, got {worker}")
    return [feed for feed in feeds if worker in owners(feed.name, workers, replicas)]
