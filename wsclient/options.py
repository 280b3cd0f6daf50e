"""The options of a connection, with their defaults in one place, checked
before any I/O: a bad value raises ``ValueError`` (or ``TypeError``) naming it.
"""

from __future__ import annotations

import functools
import math
import re
import ssl as _ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from random import Random
from typing import TYPE_CHECKING, Any

from tenacity.stop import stop_base
from yarl import URL

from .clock import Clock, SystemClock
from .outbox import outgoing
from .policy import ReconnectPolicy
from .redact import redact_url
from .sequence import Key

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider

    from .events import Event

__all__ = [
    "Endpoint",
    "HeadersSource",
    "Options",
    "UrlSource",
    "check_credentials",
    "check_headers",
    "endpoints",
    "parse_url",
]

# on_connect and on_stale get the Connection, which sits above this module:
# ``wsclient.session.ConnectOptions`` types them for the application.
OnConnect = Callable[[Any], Awaitable[None] | None]
OnEvent = Callable[["Event"], object]
OnStale = Callable[[Any], bool | Awaitable[bool]]
StopStrategy = stop_base | Callable[[Any], bool]
Headers = Mapping[str, str]
HeadersSource = Headers | Callable[[], Headers | Awaitable[Headers]]
UrlFactory = Callable[[], str | URL | Awaitable[str | URL]]
UrlSource = str | URL | UrlFactory
Endpoint = URL | UrlFactory

_SCHEMES = ("ws", "wss", "http", "https")
_PROXY_SCHEMES = ("http", "socks4", "socks5")
# RFC 9110 section 5.6.2: a header name (and a subprotocol, RFC 6455) is a token.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9110 section 5.5: no control character in a field value but the tab.
_FIELD_VALUE_BAD = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A registered name (IDNA already applied by yarl), an IPv4 or an IPv6 address
# (with its zone). The underscore: docker and k8s service names have them.
_HOST = re.compile(r"[A-Za-z0-9._~%:-]+")


def _positive(
    name: str, value: float | None, *, optional: bool = False, zero: bool = False
) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        bound = ">= 0" if zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")


def _whole(name: str, value: int, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value!r}")


def _bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")


def _callable(name: str, value: object) -> None:
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be callable, got {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class Options:
    """Everything a connection can be told, with the defaults.

    Attributes:
        policy: Turns every disconnect into a decision.
        on_connect: Awaited after every successful handshake, before buffered
            sends flush and before messages are yielded (resubscribe here).
        on_event: Called (or awaited) with every lifecycle event.
        heartbeat: Seconds of silence before a ping; ``None`` turns pings off.
        pong_timeout: Seconds to wait for a pong before the transport counts
            as lost (1006).
        stable_after: Seconds a connection must stay up before the attempt
            count (and with it the backoff curve) starts over.
        stop: A tenacity stop; ``None`` never gives up on a retryable decision.
        buffer_size: How many sends the outbox holds while reconnecting.
        max_queue: How many received messages wait for the consumer before
            reading pauses (backpressure).
        headers: Extra handshake headers (``Authorization`` is never logged),
            or a (sync or async) callable returning them, called before
            every attempt: fresh credentials on each reconnect.
        stale_after: Seconds without a data message after which the feed
            counts as dead (1006) and reconnects; ``None`` (the default) is off.
        on_stale: Asked when ``stale_after`` passes: return True to keep
            waiting (a quiet channel) instead of reconnecting.
        max_age: Seconds after which a connection is replaced: a new one is
            opened and set up first, then the old one closed (no gap; the
            overlap may repeat messages).
        clock: The source of time; ``wsclient.testing.FakeClock`` in tests.
        rng: The randomness of every jitter.
        open_timeout: Seconds the opening handshake may take.
        close_timeout: Seconds to wait for the server's close frame on ``close()``.
        max_msg_size: The largest message accepted, in bytes (1009 beyond);
            also what a compressed message may inflate to.
        allow_unlimited_messages: Let ``max_msg_size=0`` mean "no limit"
            (refused otherwise: one hostile message could exhaust memory).
        compress: permessage-deflate window bits (9-15), 0 for none.
        protocols: Subprotocols to offer.
        origin: The ``Origin`` header.
        ssl: An ``SSLContext``, or ``True`` for default verification; ``False``
            turns verification off (logged as a warning).
        name: What the connection is called in log records
            (``record.wsclient_name``) and metrics (``wsclient.name``); by
            default the first endpoint's host (and port), never its path or
            query, where tokens live.
        metrics: OpenTelemetry metrics (the ``otel`` extra): ``True`` for the
            global meter provider, or a ``MeterProvider``; see
            :mod:`wsclient.metrics`. Off by default: then nothing is recorded.
        proxy: An ``http://`` proxy (the socket is tunnelled with CONNECT), or
            ``socks5://`` / ``socks4://`` (the ``socks`` extra, aiohttp-socks);
            its credentials go in the URL (``http://user:password@host:3128``)
            and are never shown. A ``ws://`` URL through an HTTP proxy also
            needs the ``socks`` extra (aiohttp would send the proxy a plain
            GET, which proxies refuse; aiohttp-socks tunnels it).
        proxy_headers: Extra headers for an HTTP proxy (a
            ``Proxy-Authorization`` of another scheme than Basic), for
            ``wss://`` URLs (aiohttp's own CONNECT): aiohttp-socks, which
            tunnels the rest, sends none.
        ping_message: For servers that want a ping of their own (OKX:
            ``"ping"``; Kraken: ``{"event": "ping"}``): sent as a data message
            after ``heartbeat`` quiet seconds instead of a WebSocket ping; any
            data read within ``pong_timeout`` counts as the answer (the
            server's reply is yielded like any message).
        send_rate: At most this many data messages a second, evenly spaced:
            every send waits for its turn (the application's, on_connect's,
            the outbox's flush after a reconnect); ``None`` is unpaced.
        resend_unconfirmed: At least once: sends that a socket took and no
            pong confirmed before it died under us go again on the next
            socket, after on_connect and the subscriptions, ahead of the
            outbox (the server may get them twice). One unconfirmed on two
            sockets in a row is given up on (``Connection.unconfirmed``):
            some servers drop the connection on a message they refuse.
        sequence: ``key(msg)`` returns ``(stream, seq)`` for a sequenced
            message, ``wsclient.Resync(stream, seq)`` for one that starts its
            stream afresh, or ``None``: ``conn.stream()`` and ``async for``
            then drop duplicates and announce gaps (``key`` gets what
            ``stream(loads=...)`` decoded, if it decodes); ``receive()`` and
            ``batches()`` stay raw (on_connect reads a handshake with them).
        redundancy: How many connections ("legs") to open to the feed, each
            starting at the next endpoint of the list, merged into one stream
            by the ``sequence`` key (needed): the first copy of each message
            wins, later copies are dropped (``stats.duplicates``). One leg's
            reconnect costs the merged stream nothing while another delivers.
        gap_timeout: With ``redundancy``, how many seconds a hole in a stream
            waits for another leg's copy before its ``Gap`` is announced (at
            once when every running leg has passed the hole without it; at
            most ``max_queue`` messages wait behind it).
    """

    policy: ReconnectPolicy = field(default_factory=ReconnectPolicy.default)
    on_connect: OnConnect | None = None
    on_event: OnEvent | None = None
    heartbeat: float | None = 20.0
    pong_timeout: float = 10.0
    stable_after: float = 30.0
    stop: StopStrategy | None = None
    buffer_size: int = 1024
    max_queue: int = 1024
    headers: HeadersSource | None = None
    stale_after: float | None = None
    on_stale: OnStale | None = None
    max_age: float | None = None
    clock: Clock = field(default_factory=SystemClock)
    rng: Random = field(default_factory=Random)
    open_timeout: float | None = 10.0
    close_timeout: float = 10.0
    max_msg_size: int = 4 * 1024 * 1024
    allow_unlimited_messages: bool = False
    compress: int = 0
    protocols: Sequence[str] = ()
    origin: str | None = None
    ssl: _ssl.SSLContext | bool = True
    name: str | None = None
    metrics: bool | MeterProvider = False
    proxy: str | URL | None = field(default=None, repr=False)
    proxy_headers: Headers | None = field(default=None, repr=False)
    ping_message: Any = None
    send_rate: float | None = None
    resend_unconfirmed: bool = False
    sequence: Key | None = None
    redundancy: int = 1
    gap_timeout: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.policy, ReconnectPolicy):
            raise TypeError(f"policy must be a ReconnectPolicy, got {type(self.policy).__name__}")
        _callable("on_connect", self.on_connect)
        _callable("on_event", self.on_event)
        _callable("on_stale", self.on_stale)
        _callable("stop", self.stop)
        _bool("resend_unconfirmed", self.resend_unconfirmed)
        _bool("allow_unlimited_messages", self.allow_unlimited_messages)
        _positive("stale_after", self.stale_after, optional=True)
        _positive("max_age", self.max_age, optional=True)
        _positive("heartbeat", self.heartbeat, optional=True)
        _positive("pong_timeout", self.pong_timeout)
        _positive("stable_after", self.stable_after, zero=True)
        _positive("open_timeout", self.open_timeout, optional=True)
        _positive("close_timeout", self.close_timeout)
        _whole("buffer_size", self.buffer_size, 0)
        _whole("max_queue", self.max_queue, 1)
        _whole("max_msg_size", self.max_msg_size, 0 if self.allow_unlimited_messages else 1)
        _whole("compress", self.compress, 0)
        if self.compress and not 9 <= self.compress <= 15:
            raise ValueError(f"compress must be 0 or 9-15 (window bits), got {self.compress}")
        if not isinstance(self.clock, Clock):
            raise TypeError("clock must have now() and an async sleep()")
        if not isinstance(self.rng, Random):
            raise TypeError(f"rng must be a random.Random, got {type(self.rng).__name__}")
        self._check_stream()
        self._check_handshake()

    def _check_stream(self) -> None:
        """What is sent and how the received messages are sequenced."""
        _positive("send_rate", self.send_rate, optional=True)
        if self.ping_message is not None:
            outgoing(self.ping_message, "ping_message")
            if self.heartbeat is None:
                raise ValueError("ping_message needs a heartbeat (its interval)")
        _callable("sequence", self.sequence)
        _whole("redundancy", self.redundancy, 1)
        if self.redundancy > 1 and self.sequence is None:
            raise ValueError("redundancy needs a sequence key (sequence=...) to merge the legs by")
        _positive("gap_timeout", self.gap_timeout, zero=True)

    def _check_handshake(self) -> None:
        """What the opening handshake says, and through what."""
        if not isinstance(self.ssl, bool | _ssl.SSLContext):
            raise TypeError(f"ssl must be a bool or an SSLContext, got {type(self.ssl).__name__}")
        if self.headers is not None and not callable(self.headers):
            check_headers(self.headers)
        _check_protocols(self.protocols)
        _check_origin(self.origin)
        if self.name is not None and (not isinstance(self.name, str) or not self.name):
            raise TypeError(f"name must be a non-empty str, got {self.name!r}")
        _check_metrics(self.metrics)
        if self.proxy is not None:
            object.__setattr__(self, "proxy", _proxy_url(self.proxy, self.proxy_headers))
        if self.proxy_headers is not None:
            check_headers(self.proxy_headers)


def _check_metrics(metrics: object) -> None:
    if metrics is False:
        return
    if metrics is not True and not callable(getattr(metrics, "get_meter", None)):
        raise TypeError(
            f"metrics must be a bool or an OpenTelemetry MeterProvider, "
            f"got {type(metrics).__name__}"
        )
    try:
        import opentelemetry.metrics  # noqa: F401, PLC0415 - only when metrics are on
    except ImportError:
        raise ImportError(
            "metrics needs opentelemetry-api: pip install 'aiohttp-wsclient[otel]'"
        ) from None


def _proxy_url(proxy: object, headers: object) -> URL:
    """The proxy as a URL, checked (shown redacted in errors: it may hold
    credentials)."""
    if not isinstance(proxy, str | URL):
        raise TypeError(f"proxy must be a str or a yarl.URL, got {type(proxy).__name__}")
    url = URL(proxy)
    if url.scheme not in _PROXY_SCHEMES or not url.host or url.port is None:
        raise ValueError(
            f"proxy {redact_url(url)!r}: give a URL with host and port whose scheme is one of "
            + ", ".join(_PROXY_SCHEMES)
        )
    if url.scheme.startswith("socks"):
        if headers is not None:
            raise ValueError("proxy_headers are for HTTP proxies, not SOCKS")
        try:
            import aiohttp_socks  # noqa: F401, PLC0415 - an optional extra
        except ImportError:
            raise ImportError(
                f"a {url.scheme} proxy needs aiohttp-socks: pip install 'aiohttp-wsclient[socks]'"
            ) from None
    return url


def check_headers(headers: object) -> Headers:
    """``headers`` if it maps header names (RFC 9110 tokens) to values
    without control characters; else ``TypeError``/``ValueError`` naming the
    header, never showing its value (it may be a credential)."""
    if not isinstance(headers, Mapping):
        raise TypeError(f"headers must be a mapping, got {type(headers).__name__}")
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"headers must map str to str; the header {name!r} does not")
        if not _TOKEN.fullmatch(name):
            raise ValueError(
                f"headers: {name!r} is not a header name (letters, digits and !#$%&'*+-.^_`|~)"
            )
        # A CR or LF would end the header early and smuggle in one of the
        # caller's choosing (header injection); aiohttp would only refuse it
        # at the handshake, on every attempt.
        bad = _FIELD_VALUE_BAD.search(value)
        if bad:
            raise ValueError(
                f"headers: the value of {name!r} contains {_describe_char(bad.group())}, "
                "which a header value cannot hold (the value is not shown)"
            )
    return headers


def _check_protocols(protocols: object) -> None:
    """Subprotocols are distinct, non-empty tokens (RFC 6455 section 4.1)."""
    if isinstance(protocols, str | bytes):
        raise TypeError(f"protocols must be a sequence of str, not one {type(protocols).__name__}")
    if not isinstance(protocols, Sequence):
        raise TypeError(f"protocols must be a sequence of str, got {type(protocols).__name__}")
    for index, protocol in enumerate(protocols):
        if not isinstance(protocol, str):
            kind = type(protocol).__name__
            raise TypeError(f"protocols must be a sequence of str; protocols[{index}] is {kind}")
        if not _TOKEN.fullmatch(protocol):
            raise ValueError(
                f"protocols[{index}] {protocol!r} is not a subprotocol name (a non-empty token: "
                "no spaces, commas or other separators; RFC 6455 section 4.1)"
            )
    if len(set(protocols)) != len(protocols):
        raise ValueError(f"protocols must be unique (RFC 6455 section 4.1), got {protocols!r}")


def _check_origin(origin: object) -> None:
    if origin is None:
        return
    if not isinstance(origin, str):
        raise TypeError(f"origin must be a str or None, got {type(origin).__name__}")
    bad = _FIELD_VALUE_BAD.search(origin)
    if bad is not None:
        raise ValueError(f"origin contains {_describe_char(bad.group())}: a header cannot")
    if not origin:
        raise ValueError("origin is empty: give one such as 'https://example.com', or None")


def check_credentials(url: URL, headers: Headers | None) -> None:
    """aiohttp refuses a URL's user info next to an Authorization header."""
    if url.user is not None and any(n.lower() == "authorization" for n in headers or ()):
        raise ValueError("credentials in the url and an Authorization header: use one")


def endpoints(url: UrlSource | Sequence[UrlSource]) -> list[Endpoint]:
    """One or several endpoints, URLs checked now (callables when called)."""
    given: object = url  # checked as what it is, whatever it was typed as
    if isinstance(given, str | URL) or callable(given):
        return [given if callable(given) else parse_url(given)]
    if not isinstance(given, Sequence) or isinstance(given, bytes | bytearray):
        raise TypeError(
            "url must be a str, a yarl.URL or a callable giving one, or a list of those; "
            f"got {_kind(given)}"
        )
    if not given:
        raise ValueError("url: give at least one endpoint")
    return [u if callable(u) else parse_url(u, f"url[{i}]") for i, u in enumerate(given)]


def parse_url(url: str | URL, what: str = "url") -> URL:
    """``url`` as a ``URL`` after checking that a WebSocket can be opened on
    it; ``what`` names it in the error (``url[1]`` in a list)."""
    if not isinstance(url, str | URL):
        raise TypeError(f"{what} must be a str or a yarl.URL, got {_kind(url)}")
    return _parse(url, what)


@functools.lru_cache(maxsize=256)  # a thousand connections to one URL share it
def _parse(url: str | URL, what: str) -> URL:
    text = str(url)
    # Checked on the text: yarl silently drops a tab, CR or LF (even inside
    # the host) and percent-encodes a NUL, so the URL dialled would not be
    # the one written. The URL is not shown: it may hold a token.
    bad = _CONTROL.search(text)
    if bad:
        raise ValueError(
            f"{what} contains {_describe_char(bad.group())} at index {bad.start()}: "
            "percent-encode it, or remove it"
        )
    if not text.strip():
        raise ValueError(f"{what} is empty")
    if "://" not in text and text.partition(":")[0].lower() not in _SCHEMES:
        guess = _shown("ws://" + text.removeprefix("//"))
        raise ValueError(
            f"{what} {_shown('//' + text, drop='//')!r} has no scheme (ws://, wss://, http:// "
            "or https://)" + (f": did you mean {guess!r}?" if guess != "..." else "")
        )
    try:
        parsed = URL(url)
    except ValueError as exc:  # a bad port, an unclosed IPv6 bracket: yarl's words
        raise ValueError(f"{what} is not a valid URL: {exc}") from None
    shown = redact_url(parsed.with_fragment(None))
    if parsed.scheme not in _SCHEMES:
        raise ValueError(
            f"{what} {shown!r}: scheme {parsed.scheme!r} is not one of " + ", ".join(_SCHEMES)
        )
    host = parsed.raw_host
    if not host:
        raise ValueError(f"{what} {shown!r} has no host")
    if not _HOST.fullmatch(host):
        raise ValueError(
            f"{what} {shown!r}: the host {host!r} has a character a host name cannot have"
        )
    if parsed.explicit_port == 0:
        raise ValueError(f"{what} {shown!r}: port 0 cannot be connected to")
    if parsed.raw_fragment or text.endswith("#"):
        # The fragment is not shown: it can carry a token (OAuth's implicit flow).
        raise ValueError(
            f"{what} {shown!r} has a fragment ('#...'), which a WebSocket URI must not "
            "have (RFC 6455 section 3)"
        )
    return parsed


def _shown(text: str, *, drop: str = "") -> str:
    """``text`` as a URL that may be shown (password and query values
    masked), without the prefix ``drop``."""
    try:
        return redact_url(URL(text)).removeprefix(drop)
    except ValueError:
        return "..."


def _describe_char(char: str) -> str:
    names = {"\0": "a NUL", "\r": "a CR", "\n": "an LF", "\t": "a tab"}
    return names.get(char, f"the control character U+{ord(char):04X}")


def _kind(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return f"{type(value).__name__} (decode it to a str first)"
    return type(value).__name__
