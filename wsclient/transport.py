"""The one place that speaks aiohttp: opening a WebSocket, and turning what
aiohttp reports (CLOSE / CLOSED / ERROR messages, exceptions) into exactly one
:class:`~wsclient.disconnect.Disconnect`.

It is also the seam below a connection: a :class:`Transport` opens a
:class:`Socket`; :class:`AiohttpTransport` is the real one, and a test may
hand a session a scripted fake instead (``Session(transport=...)``).

Known pitfalls handled here, each with a loopback test:

- a close frame without a code arrives as ``msg.data == 0``: it is 1005;
- aiohttp lets 1006 and codes >= 5000 through from the wire: they are
  protocol errors (1002, with the received code kept);
- a bad frame detected locally carries its code in ``WebSocketError``
  (1002, 1007 invalid UTF-8, 1009 too big);
- a corrupt compressed stream raises ``zlib.error``, which aiohttp reports
  as 1006: it is a protocol error, never a lost transport to retry forever;
- a TCP EOF without a close frame makes aiohttp report close code 1000:
  it is a lost transport, 1006;
- aiohttp's autoclose answers every close frame with 1000, even one whose
  code is illegal on the wire: wsclient answers close frames itself
  (:func:`close_reply`), with 1002 for such a code (RFC 6455 §7.4.1);
- through an HTTP proxy, aiohttp tunnels only TLS with CONNECT: for ws:// it
  sends the proxy a plain ``GET ws://...``, which proxies refuse (proxy.py
  answers 400). Such a socket, and every SOCKS one, is opened through
  aiohttp-socks, which always tunnels (:func:`tunnelled`).
"""

from __future__ import annotations

import asyncio
import base64
import re
import ssl
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import aiohttp
from aiohttp import ClientWebSocketResponse, WSMessage, WSMsgType
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .disconnect import ABNORMAL, PROTOCOL_ERROR, Disconnect, DisconnectKind
from .options import Options
from .redact import MASK, Redactor, is_secret_header, redact_url

__all__ = [
    "AiohttpTransport",
    "RedirectRefused",
    "ResponseHeaders",
    "Socket",
    "Transport",
    "close_reply",
    "discard",
    "from_exception",
    "from_message",
    "on_read",
    "open_websocket",
    "proxy_credentials",
    "refuse_redirects",
    "response_headers",
    "retry_after",
    "safe_headers",
    "tunnelled",
]

_Kind = DisconnectKind
# aiohttp's reader words its refusal of an invalid close code so (3.14); the
# fault matrix tests that ``received_code`` still finds the code.
_REFUSED_CODE = re.compile(r"Invalid close code: (\d+)")
# Response headers of a rejected handshake worth keeping; never cookies.
_SAFE_HEADERS = (
    "Retry-After",
    "Date",
    "Server",
    "Content-Type",
    "Content-Length",
    "WWW-Authenticate",
    "Location",
    "Via",
    "Sec-WebSocket-Version",
)


class Socket(Protocol):
    """One open WebSocket, as a connection uses it (aiohttp's
    ``ClientWebSocketResponse`` is one)."""

    async def receive(self) -> WSMessage:
        """The next message: data, a control frame, or how the socket ended."""
        ...

    async def send_str(self, data: str) -> None:
        """Write a TEXT frame; ``ConnectionError`` if the socket is closing."""
        ...

    async def send_bytes(self, data: bytes) -> None:
        """Write a BINARY frame; ``ConnectionError`` if the socket is closing."""
        ...

    async def ping(self, message: bytes = b"") -> None:
        """Write a PING frame."""
        ...

    async def pong(self, message: bytes = b"") -> None:
        """Write a PONG frame."""
        ...

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        """The closing handshake: write a close frame, then wait for the peer's
        (unless it came already)."""
        ...

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """Transport details; ``peername`` is ``None`` once the transport is gone."""
        ...

    @property
    def protocol(self) -> str | None:
        """The subprotocol the server chose, if any."""
        ...


class Transport(Protocol):
    """How a connection opens sockets and reaches behind them."""

    async def open(self, url: URL, headers: Mapping[str, str] | None, options: Options) -> Socket:
        """The opening handshake. Raises what it raises; :func:`from_exception`
        must know it (an ``OSError`` is a reset, an ``aiohttp.ClientError`` too)."""
        ...

    def abort(self, ws: Socket) -> None:
        """Drop the socket at once, without a closing handshake; a reader
        blocked in ``receive()`` then gets CLOSED."""
        ...

    def on_read(self, ws: Socket, heard: Callable[[], None]) -> None:
        """Call ``heard()`` whenever the socket reads bytes, even part of a frame."""
        ...

    def answered(self, ws: Socket) -> bool:
        """Whether the peer's close frame came (so it read all we wrote
        before ours, when we closed first)."""
        ...


class AiohttpTransport:
    """Sockets opened by an ``aiohttp.ClientSession``.

    A connector belongs to a whole ``ClientSession``, so the sockets that go
    through aiohttp-socks (:func:`tunnelled`) get a client session per proxy,
    made at its first use and shared by every connection through that proxy
    (a per-connection ``proxy=`` works, and a thousand connections through
    one proxy share one pool); :meth:`close` closes them.

    Args:
        client: Gives the client session for the next handshake (a session's
            own is recreated if it was closed underneath).
    """

    __slots__ = ("_client", "_tunnels")

    def __init__(self, client: Callable[[], aiohttp.ClientSession]) -> None:
        self._client = client
        self._tunnels: dict[str, aiohttp.ClientSession] = {}

    async def open(self, url: URL, headers: Mapping[str, str] | None, options: Options) -> Socket:
        """The opening handshake with the connection's options."""
        proxy = None if options.proxy is None else URL(options.proxy)
        if proxy is not None and tunnelled(url, proxy):
            if options.proxy_headers:
                raise ValueError(
                    f"proxy_headers cannot be sent to a tunnelling proxy ({url.scheme}:// "
                    f"through {proxy.scheme}://, by aiohttp-socks): put Basic credentials "
                    "in the proxy URL"
                )
            client = self._tunnel(proxy)
            ws: Socket = await open_websocket(client, url, options, headers, via_proxy=False)
        else:
            ws = await open_websocket(self._client(), url, options, headers)
        return ws

    def _tunnel(self, proxy: URL) -> aiohttp.ClientSession:
        key = str(proxy)
        client = self._tunnels.get(key)
        if client is None or client.closed:
            try:
                from aiohttp_socks import ProxyConnector  # noqa: PLC0415 - the socks extra
            except ImportError:  # (Options checked it for a SOCKS proxy)
                raise ImportError(
                    "a ws:// URL through an HTTP proxy needs aiohttp-socks to tunnel it: "
                    "pip install 'aiohttp-wsclient[socks]' (or use wss://)"
                ) from None
            connector = ProxyConnector.from_url(str(proxy), limit=0, limit_per_host=0)
            client = self._tunnels[key] = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None),
                trace_configs=[refuse_redirects()],
            )
        return client

    async def close(self) -> None:
        """Close the client sessions of the proxies tunnelled through."""
        tunnels, self._tunnels = self._tunnels, {}
        for client in tunnels.values():
            await client.close()

    def abort(self, ws: Socket) -> None:
        """See :func:`discard`."""
        assert isinstance(ws, ClientWebSocketResponse)
        discard(ws)

    def on_read(self, ws: Socket, heard: Callable[[], None]) -> None:
        """See :func:`on_read`."""
        assert isinstance(ws, ClientWebSocketResponse)
        on_read(ws, heard)

    def answered(self, ws: Socket) -> bool:
        """aiohttp keeps the peer's code; 1006 if none came (a timeout, an EOF)."""
        assert isinstance(ws, ClientWebSocketResponse)
        return ws.close_code not in (None, 1006)


def proxy_credentials(proxy: URL, headers: Mapping[str, str] | None) -> tuple[URL, dict[str, str]]:
    """The proxy URL without its credentials, and the headers for the proxy
    with them as ``Proxy-Authorization: Basic`` (what aiohttp would make of
    them, without its deprecated ``BasicAuth``)."""
    headers = dict(headers or {})
    if proxy.user is not None:
        pair = f"{proxy.user}:{proxy.password or ''}".encode()
        headers["Proxy-Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        proxy = proxy.with_user(None)
    return proxy, headers


def tunnelled(url: URL, proxy: URL) -> bool:
    """Whether a socket to ``url`` goes through ``proxy`` by aiohttp-socks (a
    SOCKS proxy; an HTTP proxy for a socket without TLS) rather than by
    aiohttp's own ``proxy=`` (an HTTP proxy, tunnelled with CONNECT for TLS)."""
    return proxy.scheme != "http" or url.scheme not in ("wss", "https")


async def open_websocket(
    client: aiohttp.ClientSession,
    url: URL,
    options: Options,
    headers: Mapping[str, str] | None,
    *,
    via_proxy: bool = True,
) -> ClientWebSocketResponse:
    """Perform the opening handshake; aiohttp's exceptions propagate.

    aiohttp's own heartbeat is off: wsclient pings on the injected clock and
    needs to see pongs, so ``autoping`` is off too and pings are answered by
    the reader. ``autoclose`` is off: the reader answers a close frame
    itself (:func:`close_reply`).
    """
    proxy = None
    proxy_headers = None
    if via_proxy and options.proxy is not None:
        proxy, proxy_headers = proxy_credentials(URL(options.proxy), options.proxy_headers)
    return await client.ws_connect(
        url,
        proxy=proxy,
        proxy_headers=proxy_headers,
        headers=headers,
        protocols=tuple(options.protocols),
        origin=options.origin,
        ssl=options.ssl,
        heartbeat=None,
        autoping=False,
        autoclose=False,
        max_msg_size=options.max_msg_size,
        compress=options.compress,
        timeout=aiohttp.ClientWSTimeout(ws_close=options.close_timeout),
    )


class RedirectRefused(Exception):
    """The server answered the upgrade with a redirect, which is not followed."""

    def __init__(self, status: int, headers: Mapping[str, str]) -> None:
        super().__init__(f"redirect ({status}) not followed")
        self.status = status
        self.headers = headers


def refuse_redirects() -> aiohttp.TraceConfig:
    """A trace config that stops aiohttp from following a redirect (ws_connect
    has no ``allow_redirects``): a redirect could take a handshake, and its
    credentials, elsewhere, or from wss down to ws."""

    async def refuse(
        session: aiohttp.ClientSession,
        context: object,
        params: aiohttp.TraceRequestRedirectParams,
    ) -> None:
        response = params.response
        response.close()
        raise RedirectRefused(response.status, response.headers)

    trace = aiohttp.TraceConfig()
    trace.on_request_redirect.append(refuse)
    return trace


def from_message(msg: WSMessage, redactor: Redactor) -> Disconnect:
    """The Disconnect a CLOSE, CLOSED, CLOSING or ERROR message stands for (a
    close reason that echoes a secret is scrubbed)."""
    if msg.type is WSMsgType.CLOSE:
        return Disconnect.from_close_frame(msg.data, redactor.scrub(msg.extra or ""))
    if msg.type is WSMsgType.ERROR:
        exc = msg.data
        if isinstance(exc, aiohttp.WebSocketError):
            # aiohttp refuses some invalid codes itself: keep the one received.
            refused = _REFUSED_CODE.fullmatch(str(exc))
            received = int(refused[1]) if refused else None
            return Disconnect(
                int(exc.code),
                detail=redactor.scrub(str(exc)),
                kind=_Kind.PROTOCOL,
                received_code=received,
            )
        # Anything else the frame parser raised (zlib.error for a corrupt
        # compressed stream): the server's bytes are broken, not the network.
        return Disconnect(
            PROTOCOL_ERROR, detail=f"{type(exc).__name__}: {exc}", kind=_Kind.PROTOCOL
        )
    return Disconnect(ABNORMAL, detail="connection lost without a close frame", kind=_Kind.LOST)


def close_reply(end: Disconnect) -> int:
    """The code to answer a server's close frame with: 1002 when the code it
    carried must never be on the wire (RFC 6455 §7.4.1: "close the connection
    with a protocol error"), else 1000."""
    return PROTOCOL_ERROR if end.received_code is not None else 1000


def safe_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """The response headers worth keeping, with a ``Location`` URL redacted."""
    kept: dict[str, str] = {}
    for name in _SAFE_HEADERS:
        value = headers.get(name) if headers is not None else None
        if value is not None:
            kept[name] = redact_url(URL(value)) if name == "Location" else value
    return kept


def from_exception(exc: BaseException, redactor: Redactor) -> Disconnect | None:
    """The Disconnect a failed opening handshake stands for; ``None`` for an
    exception that is not about the network (a bug, a cancellation: raise it)."""
    detail = redactor.scrub(f"{type(exc).__name__}: {exc}")
    refused = _proxy_status(exc)
    if refused is not None:  # 407: the proxy's credentials are wrong (fail, as for 401)
        return Disconnect(status=refused, headers={}, detail=detail, kind=_Kind.HANDSHAKE)
    if isinstance(
        exc, aiohttp.WSServerHandshakeError | RedirectRefused | aiohttp.ClientHttpProxyError
    ):
        headers = safe_headers(exc.headers)
        return Disconnect(
            status=exc.status,
            headers=headers,
            detail=detail,
            kind=_Kind.HANDSHAKE,
            retry_after=retry_after(headers),
        )
    kind = _kind_of(exc)
    return None if kind is None else Disconnect(detail=detail, kind=kind)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """The seconds a ``Retry-After`` header asks to wait (RFC 9110 §10.2.3):
    delta-seconds, or an HTTP-date measured against the response's ``Date``
    (else the wall clock). ``None`` if absent or unreadable."""
    value = headers.get("Retry-After", "").strip()
    if value.isdigit():
        return float(value)
    when = _http_date(value)
    if when is None:
        return None
    date = _http_date(headers.get("Date", ""))
    return max(0.0, when - (date if date is not None else time.time()))


def _http_date(value: str) -> float | None:
    try:
        return parsedate_to_datetime(value).timestamp()
    except (ValueError, OverflowError):  # unreadable; or a year past any clock
        return None


def _proxy_status(exc: BaseException) -> int | None:
    """The HTTP status with which aiohttp-socks' proxy refused the tunnel; a
    SOCKS proxy that refused the credentials counts as 407. (aiohttp-socks
    is looked for among the imported modules: if it is not imported, the
    exception is not one of its own.)"""
    socks = sys.modules.get("aiohttp_socks")
    if socks is None or not isinstance(exc, socks.ProxyError):
        return None
    code = exc.error_code
    if isinstance(code, int) and 400 <= code <= 599:
        return code
    return 407 if "authentication" in str(exc).lower() else None


def _kind_of(exc: BaseException) -> DisconnectKind | None:
    # Order matters: the certificate and DNS errors are connector errors too.
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        return _Kind.TLS
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return _Kind.DNS
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return _Kind.TIMEOUT
    if isinstance(exc, aiohttp.ClientConnectorError):
        return _Kind.REFUSED
    if isinstance(exc, aiohttp.ClientError | OSError):
        return _Kind.RESET
    socks = sys.modules.get("aiohttp_socks")
    if socks is not None:  # the proxy could not be reached, or failed the tunnel
        if isinstance(exc, socks.ProxyTimeoutError):
            return _Kind.TIMEOUT
        if isinstance(exc, socks.ProxyConnectionError):
            return _Kind.REFUSED
        if isinstance(exc, socks.ProxyError):
            return _Kind.RESET
    return None


class ResponseHeaders(Mapping[str, str]):
    """The response headers of a socket's opening handshake, read-only and
    case-insensitive; ``getall(name)`` gives every value of a repeated one.

    Every value is there (a ``Set-Cookie`` a sticky load balancer wants back
    included): the application asked for them. Its ``repr`` masks the
    values of secret headers (cookies, credentials), so that logging the
    mapping whole does not leak them.
    """

    __slots__ = ("_headers",)

    def __init__(self, headers: Mapping[str, str] | None = None) -> None:
        self._headers = CIMultiDictProxy(CIMultiDict(headers or {}))

    def __getitem__(self, name: str) -> str:
        return self._headers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(self._headers))  # each name once

    def __len__(self) -> int:
        return len(dict.fromkeys(self._headers))

    def getall(self, name: str) -> list[str]:
        """Every value of header ``name``, in order (``[]`` if absent)."""
        return self._headers.getall(name, [])

    def __repr__(self) -> str:
        shown = [
            f"{name!r}: {MASK if is_secret_header(name) else value!r}"
            for name, value in self._headers.items()
        ]
        return "<ResponseHeaders {" + ", ".join(shown) + "}>"


def response_headers(ws: Socket) -> ResponseHeaders:
    """The response headers of ``ws``'s handshake (aiohttp keeps them on the
    response behind the WebSocket; a scripted socket has none)."""
    if isinstance(ws, ClientWebSocketResponse):
        return ResponseHeaders(ws._response.headers)
    return ResponseHeaders()


def on_read(ws: ClientWebSocketResponse, heard: Callable[[], None]) -> None:
    """Call ``heard()`` whenever the socket reads bytes, even part of a frame:
    the heartbeat's evidence that the peer is alive, at the cost of one call
    per read rather than per message. Like :func:`discard`, it reaches behind
    the WebSocket: to the callback its protocol calls on every read (the one
    aiohttp's own heartbeat would use; :func:`open_websocket` turns that off),
    which any event loop reaches, uvloop too. Without a protocol, pongs alone
    are the evidence."""
    connection = ws._response.connection
    protocol = connection.protocol if connection is not None else None
    if protocol is not None:
        protocol._data_received_cb = heard


def discard(ws: ClientWebSocketResponse) -> None:
    """Drop the TCP connection at once, without a closing handshake, and hand
    it back to aiohttp; a reader blocked in ``receive()`` then gets CLOSED.

    For a peer that stopped answering: a graceful close would wait on it.
    aiohttp has no public abort, so this reaches for the response behind the
    WebSocket (aiohttp's own heartbeat does the same).
    """
    response = ws._response
    connection = response.connection
    if connection is not None and connection.transport is not None:
        connection.transport.abort()
    response.close()
