"""Publish a WebSocket feed into NATS JetStream (``wsclient bridge``).

The bridge takes one message at a time from a :class:`~wsclient.Connection`
and publishes it to a JetStream subject, waiting for JetStream's
acknowledgement before it takes the next: order holds, and while a publish
is retried the bridge reads nothing, so the connection's backpressure
(``max_queue``) applies instead of a growing buffer.

What is guaranteed:

- **At least once** into JetStream for every message the bridge took from
  the WebSocket. A publish that fails (a timeout, no responders while
  nats-server restarts, a lost connection) is retried with backoff until it
  is acknowledged; one that is not acknowledged within ``publish_timeout``
  ends the bridge with :class:`PublishFailed`, which says how many messages
  were taken but not published. Nothing is dropped silently.
- **Exactly once** in the stream when ``msg_id`` (a JSON Pointer, RFC 6901)
  gives each message a stable id: it becomes the ``Nats-Msg-Id`` header, and
  JetStream drops a second copy that arrives within the stream's duplicate
  window (2 minutes by default) -- a retried publish, or the same message
  from another bridge of the same feed on another host.
- **Not covered**: what the feed sent while no bridge was connected to it.
  That is what two bridges of one feed (on two hosts, ``--replicas 2``) or
  ``redundancy=N`` are for. Without ``msg_id``, a retried publish whose first
  attempt was stored after all is stored twice.

A message without a value at the pointer (a subscription acknowledgement, a
heartbeat, or text that is not JSON) is still published, without
``Nats-Msg-Id``, and counted in ``stats.without_id`` with a line naming the
pointer and the message number. Failing the bridge on it instead would stop
every feed that sends such control messages, on the first one; publishing it
loses nothing, and the count shows what may be stored twice.

Needs nats-py: ``pip install 'aiohttp-wsclient[nats]'``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Unpack

from yarl import URL

from .clock import Clock, SystemClock
from .connection import Connection
from .errors import WSClientError
from .feeds import check_subject
from .options import UrlSource
from .pointer import parse_pointer, resolve
from .redact import Redactor, redact_url
from .session import ConnectOptions, Session

try:
    import nats
    import nats.errors
    import nats.js.errors
    from nats.aio.client import Client as NatsClient
    from nats.js import JetStreamContext
except ImportError as exc:  # pragma: no cover - the extra is installed in dev
    raise ImportError(
        "wsclient.bridge needs nats-py: pip install 'aiohttp-wsclient[nats]'"
    ) from exc

__all__ = [
    "Bridge",
    "BridgeError",
    "BridgeStats",
    "Nats",
    "NoStream",
    "PublishFailed",
    "bridge",
    "check_nats_url",
]

logger = logging.getLogger("wsclient.bridge")
Log = Callable[[str], None]

# Failures a retry can cure: the server is restarting, the link is down, the
# stream's leader is being elected (JetStream answers 503; so does a full
# stream that discards new messages, which may drain: retried too). Anything
# else JetStream refuses (a message over the stream's size limit, a bad
# header) would be refused again: it fails the bridge at once.
_RETRY = (
    nats.errors.TimeoutError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.StaleConnectionError,
    nats.errors.NoRespondersError,
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
)
_FIRST_RETRY = 0.05  # seconds; doubling, jittered, up to _MAX_RETRY
_MAX_RETRY = 2.0


class BridgeError(WSClientError):
    """The bridge cannot go on."""


class NoStream(BridgeError):
    """No JetStream stream captures the subject: publishing would never succeed."""

    def __init__(self, subject: str) -> None:
        self.subject = subject
        super().__init__(
            f"no JetStream stream captures subject {subject!r}: create one, e.g. "
            f"`nats stream add FEED --subjects '{subject}' --defaults`"
        )


class PublishFailed(BridgeError):
    """A message was not acknowledged by JetStream in time, or was refused.

    Attributes:
        subject: Where it was published.
        taken: Messages the bridge took from the WebSocket.
        published: Of those, how many JetStream acknowledged.
        cause: What the last attempt failed with (secrets masked).
    """

    def __init__(self, subject: str, taken: int, published: int, why: str, cause: str) -> None:
        self.subject, self.taken, self.published, self.cause = subject, taken, published, cause
        super().__init__(
            f"message {taken} to {subject!r} {why} ({cause}): {taken - published} message(s) "
            f"taken from the feed but not published ({taken} taken, {published} published)"
        )


@dataclass(slots=True)
class BridgeStats:
    """What a bridge has done.

    Attributes:
        taken: Messages taken from the WebSocket.
        published: Messages JetStream acknowledged (``taken - published`` is
            0, or 1 while a publish is under way).
        duplicates: Acknowledged as duplicates: another copy with the same
            ``Nats-Msg-Id`` was already in the stream (another bridge's).
        without_id: Published without ``Nats-Msg-Id``: no value at the pointer.
        retries: Publish attempts that failed (each retried until
            ``publish_timeout``).
    """

    taken: int = 0
    published: int = 0
    duplicates: int = 0
    without_id: int = 0
    retries: int = 0

    def __str__(self) -> str:
        return (
            f"{self.taken} taken, {self.published} published, {self.duplicates} duplicate(s) "
            f"dropped by JetStream, {self.without_id} without id, {self.retries} retries"
        )


_NATS_SCHEMES = frozenset({"nats", "tls", "ws", "wss"})


def check_nats_url(url: str) -> list[str]:
    """The servers ``url`` names: ``nats://[user:pass@]host[:port]``, or
    several joined by commas (the seeds of a cluster), as the nats CLI takes.

    Raises:
        ValueError: one does not name a server (it is not echoed: it may
            hold a password).
    """
    servers = [part.strip() for part in url.split(",")]
    for server in servers:
        try:
            parsed = URL(server)
        except (ValueError, TypeError):
            parsed = URL()
        if parsed.scheme not in _NATS_SCHEMES or not parsed.host:
            raise ValueError(
                "the NATS URL must look like nats://[user:password@]host[:port], several "
                f"joined by commas (schemes {', '.join(sorted(_NATS_SCHEMES))})"
            )
    return servers


def _describe(exc: BaseException) -> str:
    text = str(exc)
    name = type(exc).__name__
    return f"{name}: {text}" if text and text != name else name


class Nats:
    """One NATS connection, shared by the bridges of a process.

    It reconnects for ever (nats-py's own reconnect loop), tells its life
    through ``log`` (disconnected, reconnected, errors), and masks the URL's
    credentials in everything it says.
    """

    def __init__(self, client: NatsClient, servers: Sequence[str], log: Log) -> None:
        self.client = client
        self.js: JetStreamContext = client.jetstream()
        self.shown = ",".join(redact_url(URL(server)) for server in servers)
        self._redactor = Redactor()
        for server in servers:
            self._redactor.add_url(URL(server))
        self._log = log

    def __repr__(self) -> str:
        return f"<Nats {self.shown}>"

    def scrub(self, text: str) -> str:
        """``text`` with the NATS URL's secrets masked."""
        return self._redactor.scrub(text)

    def say(self, text: str) -> None:
        """Log ``text``, secrets masked."""
        self._log(self.scrub(text))

    @classmethod
    async def connect(
        cls, url: str, *, log: Log | None = None, reconnect_wait: float = 1.0
    ) -> Nats:
        """Connect to ``url`` (``nats://user:pass@host:4222``), retrying for ever.

        Args:
            url: The NATS server, or several joined by commas; credentials
                are never shown.
            log: Where the connection's life is told (default: the
                ``wsclient.bridge`` logger at INFO).
            reconnect_wait: Seconds between attempts at one server.
        """
        servers = check_nats_url(url)
        client = NatsClient()
        link = cls(client, servers, log or logger.info)

        async def on_error(exc: Exception) -> None:
            link.say(f"nats: {_describe(exc)} ({link.shown})")

        async def on_disconnected() -> None:
            link.say(f"nats: disconnected from {link.shown}")

        async def on_reconnected() -> None:
            link.say(f"nats: reconnected to {link.shown}")

        await client.connect(
            servers,
            error_cb=on_error,
            disconnected_cb=on_disconnected,
            reconnected_cb=on_reconnected,
            max_reconnect_attempts=-1,  # for ever: the bridge outlives a NATS restart
            reconnect_time_wait=reconnect_wait,  # type: ignore[arg-type]  # typed int, takes float
            connect_timeout=2,
        )
        link.say(f"nats: connected to {link.shown}")
        return link

    async def close(self) -> None:
        """Flush and close the connection."""
        try:
            await self.client.close()
        except OSError:
            # nats-py flushes what it buffered while reconnecting into the
            # dead socket, and raises before closing it: close it here.
            transport = getattr(self.client, "_transport", None)
            if transport is not None:
                transport.close()


class Bridge:
    """Publishes the messages of one connection to one JetStream subject.

    Kept small on purpose: a connection in (made with any options, by
    :func:`wsclient.connect` or a :class:`~wsclient.Session` shared by many
    feeds), a :class:`Nats` link (shared too), and :meth:`run`.

    Args:
        conn: The feed, not yet opened: :meth:`run` opens and closes it.
        nats: The NATS link to publish on.
        subject: The JetStream subject (no wildcards).
        msg_id: A JSON Pointer to each message's stable id (``/seq``).
        subscribe: Messages sent on every connect (``conn.subscribe``).
        publish_timeout: Seconds of retrying one message, from its first
            failed attempt, before the bridge fails with :class:`PublishFailed`
            (and the bound on finding the stream at the start).
        ack_timeout: Seconds one publish attempt waits for its acknowledgement.
        clock: Where retries wait (the connection's clock in tests).
        rng: The jitter of retry waits.
        log: Where the bridge's own life is told (default: ``nats``'s).
    """

    def __init__(
        self,
        conn: Connection,
        nats: Nats,
        subject: str,
        *,
        msg_id: str | None = None,
        subscribe: Sequence[Any] = (),
        publish_timeout: float = 300.0,
        ack_timeout: float = 5.0,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        log: Log | None = None,
    ) -> None:
        if not publish_timeout > 0 or not ack_timeout > 0:
            raise ValueError(
                f"publish_timeout and ack_timeout must be > 0, "
                f"got {publish_timeout} and {ack_timeout}"
            )
        self.subject = check_subject(subject)
        self.msg_id = msg_id
        self._pointer = None if msg_id is None else parse_pointer(msg_id)
        self._conn = conn
        self._nats = nats
        self._subscribe = list(subscribe)
        self._publish_timeout = publish_timeout
        self._ack_timeout = ack_timeout
        self._clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self._log = log
        self.stats = BridgeStats()

    def __repr__(self) -> str:
        return f"<Bridge to {self.subject!r} on {self._nats.shown}: {self.stats}>"

    def _say(self, text: str) -> None:
        text = self._nats.scrub(text)
        (self._log or self._nats.say)(text)

    async def check_stream(self) -> str:
        """The name of the stream that captures the subject.

        Raises:
            NoStream: none does.
        """
        try:
            return await self._nats.js.find_stream_name_by_subject(self.subject)
        except nats.js.errors.NotFoundError:
            raise NoStream(self.subject) from None

    async def run(self) -> BridgeStats:
        """Check the stream, open the feed, publish every message until the
        feed ends; return the counts.

        Raises:
            NoStream: no stream captures the subject (before the feed is opened).
            PublishFailed: a message could not be published.
            WSClientError: the feed failed (a fatal close, retries given up).
        """
        stream = await self._find_stream()
        self._say(f"publishing to {self.subject!r} (stream {stream})")
        async with self._conn as conn:
            for index, message in enumerate(self._subscribe):
                await conn.subscribe(index, message)
            async for msg in conn:
                self.stats.taken += 1
                data = msg.data
                payload = data.encode() if isinstance(data, str) else bytes(data)
                await self._publish(payload, self._id(payload))
        self._say(f"feed ended: {self.stats}")
        return self.stats

    def _id(self, payload: bytes) -> str | None:
        """The message's ``Nats-Msg-Id`` from the pointer, or None (counted)."""
        if self._pointer is None:
            return None
        try:
            value = resolve(json.loads(payload), self._pointer)
        except ValueError:
            why = "not JSON"
        except LookupError as exc:
            why = str(exc)
        else:
            if isinstance(value, str) and value:
                return value
            if isinstance(value, int | float) and not isinstance(value, bool):
                return json.dumps(value)
            why = f"its value is a {type(value).__name__}, not a string or number"
        self.stats.without_id += 1
        count = self.stats.without_id
        if count & (count - 1) == 0:  # the 1st, 2nd, 4th, 8th...: visible, not a flood
            self._say(
                f"message {self.stats.taken} has no id at --msg-id {self.msg_id!r} ({why}): "
                f"published without Nats-Msg-Id ({count} so far)"
            )
        return None

    async def _publish(self, payload: bytes, msg_id: str | None) -> None:
        """Publish until acknowledged, retrying what a retry can cure."""
        headers = None if msg_id is None else {"Nats-Msg-Id": msg_id}
        number = self.stats.taken
        retry = self._retry(
            f"publish of message {number}",
            lambda cause: self._failed(
                f"not acknowledged within {self._publish_timeout:g} s", cause
            ),
        )
        while True:
            try:
                ack = await self._nats.js.publish(
                    self.subject, payload, timeout=self._ack_timeout, headers=headers
                )
            except _RETRY as exc:
                no_responders = (
                    nats.js.errors.NoStreamResponseError,
                    nats.errors.NoRespondersError,
                )
                if isinstance(exc, no_responders) and self._nats.client.is_connected:
                    await self._recheck_stream()
                self.stats.retries += 1
                await retry.wait(self._nats.scrub(_describe(exc)))
            except nats.js.errors.APIError as exc:
                cause = self._nats.scrub(_describe(exc))
                raise self._failed("was refused by JetStream", cause) from None
            else:
                self.stats.published += 1
                self.stats.duplicates += bool(ack.duplicate)
                return

    async def _find_stream(self) -> str:
        """:meth:`check_stream`, retried while NATS cannot answer (restarting)."""
        retry = self._retry(
            f"finding the stream of {self.subject!r}",
            lambda cause: BridgeError(
                f"no answer from JetStream about subject {self.subject!r} within "
                f"{self._publish_timeout:g} s ({cause})"
            ),
        )
        while True:
            try:
                return await self.check_stream()
            except _RETRY as exc:
                await retry.wait(self._nats.scrub(_describe(exc)))

    def _retry(self, what: str, fail: Callable[[str], Exception]) -> _Retry:
        return _Retry(
            what,
            limit=self._publish_timeout,
            fail=fail,
            clock=self._clock,
            rng=self._rng,
            say=self._say,
        )

    async def _recheck_stream(self) -> None:
        # No responders while connected: either JetStream is still starting
        # (retry) or the stream is gone (fail now, not after publish_timeout).
        with contextlib.suppress(nats.errors.Error, OSError):
            await self.check_stream()

    def _failed(self, why: str, cause: str) -> PublishFailed:
        return PublishFailed(self.subject, self.stats.taken, self.stats.published, why, cause)


class _Retry:
    """The waits between attempts at one thing: doubling from 50 ms to 2 s,
    jittered, until ``limit`` seconds after the first failure; then
    ``fail(cause)`` is raised."""

    def __init__(
        self,
        what: str,
        *,
        limit: float,
        fail: Callable[[str], Exception],
        clock: Clock,
        rng: random.Random,
        say: Log,
    ) -> None:
        self._what, self._limit, self._fail = what, limit, fail
        self._clock, self._rng, self._say = clock, rng, say
        self.attempts = 0
        self._deadline: float | None = None

    async def wait(self, cause: str) -> None:
        """Wait before the next attempt, or raise ``fail(cause)``."""
        now = self._clock.now()
        if self._deadline is None:
            self._deadline = now + self._limit
        if now >= self._deadline:
            raise self._fail(cause) from None
        self.attempts += 1
        delay = min(_FIRST_RETRY * 2 ** (self.attempts - 1), _MAX_RETRY)
        delay = min(delay * (0.5 + self._rng.random() / 2), self._deadline - now)
        self._say(f"{self._what} failed ({cause}): retry {self.attempts} in {delay:.2f} s")
        await self._clock.sleep(delay)


async def bridge(
    url: UrlSource | Sequence[UrlSource],
    *,
    nats: str,
    subject: str,
    msg_id: str | None = None,
    subscribe: Sequence[Any] = (),
    publish_timeout: float = 300.0,
    log: Log | None = None,
    **connect_options: Unpack[ConnectOptions],
) -> BridgeStats:
    """Publish every message of the feed at ``url`` to JetStream ``subject``
    until the feed ends; return the counts. See the module's docstring for
    the guarantee.

    Args:
        url: The feed (one URL or several endpoints), as for ``connect()``.
        nats: The NATS server URL (credentials are never shown).
        subject: The JetStream subject; a stream must capture it.
        msg_id: A JSON Pointer (``/seq``) to each message's stable id.
        subscribe: Messages sent on every connect.
        publish_timeout: Seconds a message may stay unacknowledged.
        log: Where the bridge tells its life (default: ``wsclient.bridge`` logger).
        **connect_options: Options of the connection (``heartbeat``, ...).

    Raises:
        NoStream, PublishFailed, WSClientError: see :meth:`Bridge.run`.
    """
    link = await Nats.connect(nats, log=log)
    try:
        async with Session() as session:
            conn = session.connect(url, **connect_options)
            return await Bridge(
                conn,
                link,
                subject,
                msg_id=msg_id,
                subscribe=subscribe,
                publish_timeout=publish_timeout,
                clock=connect_options.get("clock"),
                log=log,
            ).run()
    finally:
        await link.close()
