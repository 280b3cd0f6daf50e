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
import logging
import ssl as _ssl
import weakref
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from random import Random
from typing import Any, TypedDict, Unpack

import aiohttp
from yarl import URL

from .budget import ReconnectBudget
from .clock import Clock
from .connection import Connection
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
from .sequence import Key
from .transport import AiohttpTransport, Transport, refuse_redirects

__all__ = ["ConnectOptions", "Session", "connect"]

logger = logging.getLogger("wsclient")


class ConnectOptions(TypedDict, total=False):
    """The keyword options of ``connect()``, ``Session()`` and ``Session.connect()``.

    See :class:`wsclient.options.Options` for what each one means.
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
        **defaults: Options every connection of this session starts from.
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
        # ssl=False means nothing to a ws:// URL; a callable may give a wss:// one.
        secure = [
            shown
            for source, shown in zip(sources, targets.shown, strict=True)
            if not isinstance(source, URL) or source.scheme in ("wss", "https")
        ]
        if settings.ssl is False and secure and not self._warned:
            self._warned = True  # once per session, not per connection
            logger.warning("TLS certificate verification is off for %s", secure[0])
        connection = Connection(
            targets, settings, transport=self._transport, budget=self.budget, release=self._release
        )
        self._connections.add(connection)
        return connection

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

    async def _release(self, connection: Connection) -> None:
        self._connections.discard(connection)
        if self._ephemeral and not self._connections and not self._closed:
            await self.close()

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def connect(url: UrlSource | Sequence[UrlSource], **options: Unpack[ConnectOptions]) -> Connection:
    """A connection with a session of its own, closed with it.

    ``async with wsclient.connect(url, on_connect=subscribe) as conn: ...``
    """
    session = Session()
    session._ephemeral = True
    return session.connect(url, **options)
