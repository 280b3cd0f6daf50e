"""Many connections, one ``aiohttp.ClientSession``.

A :class:`Session` holds the defaults its connections share and the one
``aiohttp.ClientSession`` they open their sockets with. Its connector has no
connection limit: aiohttp's default ``limit=100`` would make the 101st
WebSocket of a session wait for a free slot and time out. Connections to the
same static endpoints share one endpoint list and redactor.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import ssl as _ssl
import weakref
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from random import Random
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

import aiohttp
from yarl import URL

from .budget import ReconnectBudget
from .clock import Clock
from .connection import Connection, default_name
from .endpoints import Targets
from .errors import InvalidState
from .options import (
    Endpoint,
    HeadersSource,
    OnEvent,
    Options,
    StopStrategy,
    UrlSource,
    check_credentials,
    endpoints,
)
from .policy import ReconnectPolicy
from .redundant import Redundant
from .sequence import Key
from .transport import AiohttpTransport, Transport, refuse_redirects

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider

__all__ = ["ConnectOptions", "Session", "connect"]

logger = logging.getLogger("wsclient")


class ConnectOptions(TypedDict, total=False):
    """The keyword options of ``connect()``, ``Session()`` and ``Session.connect()``.

    :func:`wsclient.connect` lists each one with its default and meaning.
    """

    policy: ReconnectPolicy
    on_connect: Callable[[Connection], Awaitable[None] | None] | None
    on_event: OnEvent | None
    on_stale: Callable[[Connection], bool | Awaitable[bool]] | None
    heartbeat: float | None
    pong_timeout: float
    stable_after: float
    stop: StopStrategy | None
    buffer_size: int
    max_queue: int
    headers: HeadersSource | None
    stale_after: float | None
    max_age: float | None
    ping_message: Any
    send_rate: float | None
    resend_unconfirmed: bool
    sequence: Key | None
    redundancy: int
    gap_timeout: float
    clock: Clock
    rng: Random
    open_timeout: float | None
    close_timeout: float
    max_msg_size: int
    allow_unlimited_messages: bool
    compress: int
    protocols: Sequence[str]
    origin: str | None
    ssl: _ssl.SSLContext | bool
    name: str | None
    metrics: bool | MeterProvider
    proxy: str | URL | None
    proxy_headers: Mapping[str, str] | None


_DEFAULT_BUDGET: Any = object()  # "the default budget", told apart from None


class Session:
    """Connections that share defaults and one ``aiohttp.ClientSession``.

    Args:
        client: An ``aiohttp.ClientSession`` to use; wsclient never closes one
            it was given (mind its connector's ``limit``, and that it follows
            redirects unless told otherwise). Without one, the session creates
            its own, unlimited and refusing redirects, and recreates it if it
            was closed.
        budget: The reconnect budget all its connections share (storm
            protection); ``None`` for none. The default allows 6,000
            reconnects a minute, 100 in any second.
        transport: How sockets are opened, instead of ``client``: a test
            hands a scripted fake here (see ``wsclient.transport.Transport``).
        **defaults: Options every connection of this session starts from:
            any of the keyword options of :func:`wsclient.connect` (see
            ``help(wsclient.connect)``), checked now.
    """

    def __init__(
        self,
        client: aiohttp.ClientSession | None = None,
        *,
        budget: ReconnectBudget | None = _DEFAULT_BUDGET,
        transport: Transport | None = None,
        **defaults: Unpack[ConnectOptions],
    ) -> None:
        self._defaults = Options(**defaults)
        if budget is _DEFAULT_BUDGET:
            budget = ReconnectBudget()
        elif budget is not None and not isinstance(budget, ReconnectBudget):
            raise TypeError(f"budget must be a ReconnectBudget, got {type(budget).__name__}")
        if client is not None and transport is not None:
            raise TypeError("give a client or a transport, not both")
        self.budget = budget
        self._client = client
        self._owns_client = client is None
        self._transport = transport or AiohttpTransport(self.client)
        self._connections: set[Connection] = set()
        # Endpoint lists without callables, shared while a connection uses them.
        self._shared: weakref.WeakValueDictionary[Hashable, Targets]
        self._shared = weakref.WeakValueDictionary()
        self._warned = False  # that TLS verification is off
        self._closed = False
        self._ephemeral = False  # made by wsclient.connect(): ends with its connection

    def connect(
        self, url: UrlSource | Sequence[UrlSource], **options: Unpack[ConnectOptions]
    ) -> Connection:
        """A new connection; use it with ``async with``.

        Args:
            url: A ws/wss/http/https URL, a (sync or async) callable giving a
                fresh one before every attempt (a short-lived token), or a list
                of those: endpoints tried in order, the next one at once after
                a connection failure or a 1013, a hold-off only after all.
            **options: Any of the keyword options of :func:`wsclient.connect`
                (see ``help(wsclient.connect)``), over the session's defaults.

        Raises:
            ValueError, TypeError: a URL or an option is not acceptable
                (nothing has been sent).
            InvalidState: the session is closed.
        """
        if self._closed:
            raise InvalidState("this session is closed")
        sources = endpoints(url)
        settings = dataclasses.replace(self._defaults, **options) if options else self._defaults
        if not callable(settings.headers):
            for source in sources:
                if isinstance(source, URL):
                    check_credentials(source, settings.headers)
        targets = self._targets(sources, settings.headers)
        connection: Connection
        if settings.redundancy > 1:
            make_leg = functools.partial(self._leg, sources)
            settings = dataclasses.replace(settings, name=settings.name or default_name(targets))
            connection = Redundant(settings, make_leg, release=self._release)
        else:
            connection = Connection(
                targets,
                settings,
                transport=self._transport,
                budget=self.budget,
                release=self._release,
            )
        # ssl=False means nothing to a ws:// URL; a callable may give a wss:// one.
        secure = [
            shown
            for source, shown in zip(sources, targets.shown, strict=True)
            if not isinstance(source, URL) or source.scheme in ("wss", "https")
        ]
        if settings.ssl is False and secure and not self._warned:
            self._warned = True  # once per session, not per connection
            logger.warning(
                "TLS certificate verification is off for %s",
                secure[0],
                extra={"wsclient_name": connection.name},
            )
        self._connections.add(connection)
        return connection

    def _leg(
        self,
        sources: list[Endpoint],
        index: int,
        options: Options,
        release: Callable[[Connection], Awaitable[None]],
    ) -> Connection:
        """Leg ``index`` of a redundant connection: it starts at endpoint ``index``."""
        turn = index % len(sources)
        targets = self._targets(sources[turn:] + sources[:turn], options.headers)
        return Connection(
            targets, options, transport=self._transport, budget=self.budget, release=release
        )

    def _targets(self, sources: list[Endpoint], headers: HeadersSource | None) -> Targets:
        if not Targets.is_static(sources, headers):
            return Targets(sources, headers)  # fresh URLs or headers per attempt: its own
        assert headers is None or isinstance(headers, Mapping)
        key = (tuple(sources), None if headers is None else tuple(headers.items()))
        targets = self._shared.get(key)
        if targets is None:
            targets = self._shared[key] = Targets(sources, headers)
        return targets

    def client(self) -> aiohttp.ClientSession:
        """The ``aiohttp.ClientSession`` for the next handshake."""
        if self._client is None or self._client.closed:
            self._client = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, limit_per_host=0),
                timeout=aiohttp.ClientTimeout(total=None),
                trace_configs=[refuse_redirects()],
            )
            self._owns_client = True
        return self._client

    async def close(self) -> None:
        """Close every connection of the session, then the client it owns."""
        self._closed = True
        await asyncio.gather(*(c.close() for c in list(self._connections)))
        if self._owns_client and self._client is not None:
            await self._client.close()
        self._client = None
        if isinstance(self._transport, AiohttpTransport):
            await self._transport.close()  # the clients of its SOCKS proxies

    async def _release(self, connection: Connection) -> None:
        self._connections.discard(connection)
        if self._ephemeral and not self._connections and not self._closed:
            await self.close()

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def connect(url: UrlSource | Sequence[UrlSource], **options: Unpack[ConnectOptions]) -> Connection:
    """A connection that reconnects by itself; use it with ``async with``.

    ``async with wsclient.connect(url, on_connect=subscribe) as conn: ...``

    The connection gets a :class:`Session` of its own, closed with it; many
    connections share one with :meth:`Session.connect`, which takes the same
    options. Nothing is sent before ``async with`` (or ``open()``).

    Args:
        url: A ws/wss/http/https URL, a (sync or async) callable giving a
            fresh one before every attempt (a short-lived token), or a list
            of those: endpoints tried in order, the next one at once after
            a connection failure, a 1012 or a 1013, a wait only after all.
        **options: The keyword options below, each checked now.

    Keyword Args:
        policy (ReconnectPolicy): Turns every way a connection ends into a
            decision: reconnect, hold off, fail or stop. Default:
            ``ReconnectPolicy.default()``.
        on_connect (Callable[[Connection], Awaitable[None] | None]): Awaited
            after every handshake, before buffered sends flush and before
            that socket's messages are yielded: subscribe, identify,
            resume. Its sends and reads use the new socket; what it reads is
            never yielded to the application. Default: ``None``.
        on_event (Callable[[Event], object]): Called (or awaited) with every
            lifecycle event (``Connected``, ``Disconnected``,
            ``ReconnectScheduled``...); an exception in it is logged, never
            fatal. Default: ``None``.
        heartbeat (float | None): Seconds of silence before a ping; ``None``
            turns pings off. Default: ``20.0``.
        pong_timeout (float): Seconds to wait for the pong (or any data)
            before the transport counts as lost (1006). Default: ``10.0``.
        ping_message (str | bytes | object): Sent as a data message instead
            of a WebSocket ping, for servers that want a ping of their own
            (OKX ``"ping"``, Kraken ``{"event": "ping"}``); any data read
            within ``pong_timeout`` answers it. Needs a ``heartbeat``.
            Default: ``None``.
        stale_after (float | None): Seconds without a data message after
            which the feed counts as dead (1006) and reconnects; armed when
            the socket opens. Default: ``None`` (off).
        on_stale (Callable[[Connection], bool | Awaitable[bool]]): Asked when
            ``stale_after`` passes: return True to keep waiting (a channel
            quiet on purpose) instead of reconnecting. Default: ``None``.
        max_age (float | None): Seconds after which a socket is replaced,
            making before breaking (the next one is set up first; the
            overlap may repeat messages). Default: ``None`` (never).
        stable_after (float): Seconds a connection must stay up before the
            attempt count, and with it the backoff curve, starts over.
            Default: ``30.0``.
        stop (tenacity stop | None): When to give up on a retryable decision
            (``tenacity.stop_after_attempt(10)``): iteration then raises
            ``RetriesExhausted``. Default: ``None`` (never).
        buffer_size (int): How many sends the outbox holds while no socket
            is up; one more raises ``BufferFull``. Default: ``1024``.
        max_queue (int): How many received messages may wait for the
            consumer before reading pauses (backpressure). Default:
            ``1024``.
        send_rate (float | None): At most this many data messages a second,
            evenly spaced, for every send (the application's, on_connect's,
            the subscriptions' and the outbox's). Default: ``None``
            (unpaced).
        resend_unconfirmed (bool): Send again, on the next socket, what a
            dying socket took and no pong confirmed (at least once: the
            server may get it twice); else it is only reported in
            ``Connection.unconfirmed`` (at most once). Default: ``False``.
        sequence (Callable[[Any], tuple[Hashable, int] | None] | None): The
            key ``key(msg)`` giving ``(stream, seq)``, ``Resync(stream,
            seq)`` or ``None``: ``stream()`` and ``async for`` then drop
            duplicates and announce gaps. Default: ``None``.
        redundancy (int): How many connections ("legs") to open to the feed,
            leg i starting at endpoint i, merged into one stream by the
            ``sequence`` key (needed): the first copy of each message wins.
            One leg's reconnect costs the merged stream nothing while another
            delivers. Default: ``1``.
        gap_timeout (float): With ``redundancy``, seconds a hole in a stream
            waits for another leg's copy before its ``Gap`` (at once when
            every running leg has passed it; at most ``max_queue`` messages
            wait behind it). Default: ``1.0``.
        headers (Mapping[str, str] | Callable): Extra handshake headers, or a
            (sync or async) callable returning them, called before every
            attempt. The values of ``Authorization``, ``Cookie`` and
            secret-looking headers (token, API key...) are never logged.
            Default: ``None``.
        clock (Clock): The source of time: ``wsclient.testing.FakeClock`` in
            tests. Default: ``SystemClock()``.
        rng (random.Random): The randomness of every jitter (seed it in
            tests). Default: ``random.Random()``.
        open_timeout (float | None): Seconds the opening handshake, and then
            ``on_connect``, may take. Default: ``10.0``.
        close_timeout (float): Seconds to wait for the server's close frame
            on ``close()``. Default: ``10.0``.
        max_msg_size (int): The largest message accepted, in bytes (1009
            beyond); also the limit a compressed message may inflate to.
            Default: ``4194304`` (4 MiB).
        allow_unlimited_messages (bool): Let ``max_msg_size=0`` mean "no
            limit" (refused otherwise: one hostile message could exhaust
            memory). Default: ``False``.
        compress (int): permessage-deflate window bits (9-15), 0 for none.
            Default: ``0``.
        protocols (Sequence[str]): Subprotocols to offer; the server's
            choice is ``Connection.protocol``. Default: ``()``.
        origin (str | None): The ``Origin`` header. Default: ``None``.
        ssl (ssl.SSLContext | bool): An ``SSLContext``, or ``True`` for
            default verification; ``False`` turns verification off (logged
            as a warning). Default: ``True``.
        name (str | None): What the connection is called in log records
            (``record.wsclient_name``) and metrics (``wsclient.name``); the
            legs of a redundant one are ``<name>/leg<i>``. ``None``: the first
            endpoint's host (and port), never its path or query, where tokens
            live. Default: ``None``.
        metrics (bool | MeterProvider): OpenTelemetry metrics (the ``otel``
            extra): ``True`` for the global meter provider, or a
            ``MeterProvider``; see :mod:`wsclient.metrics`. Default: ``False``.
        proxy (str | URL | None): An ``http://`` proxy (tunnelled with
            CONNECT), or ``socks5://`` / ``socks4://`` (the ``socks`` extra);
            credentials go in the URL and are never shown. A ``ws://`` URL
            through an HTTP proxy also needs the ``socks`` extra. Default:
            ``None``.
        proxy_headers (Mapping[str, str] | None): Extra headers for an HTTP
            proxy, for ``wss://`` URLs only. Default: ``None``.

    Returns:
        The :class:`Connection`, not yet open.

    Raises:
        ValueError, TypeError: a URL or an option is not acceptable (the
            message names it; nothing has been sent).
    """
    session = Session()
    session._ephemeral = True
    return session.connect(url, **options)
