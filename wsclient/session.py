"""Many connections, one ``aiohttp.ClientSession``.

A :class:`Session` holds the defaults its connections share and the one
``aiohttp.ClientSession`` they open their sockets with. Its connector has no
connection limit: aiohttp's default ``limit=100`` would make the 101st
WebSocket of a session wait for a free slot and time out.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Unpack

import aiohttp
from yarl import URL

from .connection import Connection
from .errors import InvalidState
from .options import ConnectOptions, Options, parse_url
from .transport import refuse_redirects

__all__ = ["Session", "connect"]


class Session:
    """Connections that share defaults and one ``aiohttp.ClientSession``.

    Args:
        client: An ``aiohttp.ClientSession`` to use; wsclient never closes one
            it was given (mind its connector's ``limit``, and that it follows
            redirects unless told otherwise). Without one, the session creates
            its own, unlimited and refusing redirects, and recreates it if it
            was closed.
        **defaults: Options every connection of this session starts from.
    """

    def __init__(
        self, client: aiohttp.ClientSession | None = None, **defaults: Unpack[ConnectOptions]
    ) -> None:
        self._defaults = Options(**defaults)
        self._client = client
        self._owns_client = client is None
        self._connections: set[Connection] = set()
        self._closed = False
        self._ephemeral = False  # made by wsclient.connect(): ends with its connection

    def connect(self, url: str | URL, **options: Unpack[ConnectOptions]) -> Connection:
        """A new connection to ``url``; use it with ``async with``.

        Raises:
            ValueError, TypeError: the URL or an option is not acceptable
                (nothing has been sent).
            InvalidState: the session is closed.
        """
        if self._closed:
            raise InvalidState("this session is closed")
        parsed = parse_url(url)
        settings = dataclasses.replace(self._defaults, **options)
        if parsed.user is not None and any(
            name.lower() == "authorization" for name in settings.headers or {}
        ):
            raise ValueError("credentials in the url and an Authorization header: use one")
        connection = Connection(self, parsed, settings)
        self._connections.add(connection)
        return connection

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


def connect(url: str | URL, **options: Unpack[ConnectOptions]) -> Connection:
    """A connection with a session of its own, closed with it.

    ``async with wsclient.connect(url, on_connect=subscribe) as conn: ...``
    """
    session = Session()
    session._ephemeral = True
    return session.connect(url, **options)
