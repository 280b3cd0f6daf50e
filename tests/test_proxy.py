"""``proxy=``: through real proxy servers installed from PyPI, each started
in a subprocess on a free loopback port and stopped by its PID: proxy.py
(HTTP CONNECT, with Basic credentials) and pproxy (SOCKS5).

Each proxy logs every tunnel it made: that is how a test knows the socket
went through it (and not straight to the server)."""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import aiohttp_socks
import pytest
import trustme
from aiohttp.test_utils import TestServer
from yarl import URL

import wsclient
from wsclient import Connected, ConnectFailed, DisconnectKind, HandshakeRejected
from wsclient.options import Options
from wsclient.redact import Redactor
from wsclient.testing import Close, Drop, FakeClock, FaultServer, Receive, Send, Step
from wsclient.testing.plugin import StartServer
from wsclient.transport import from_exception, response_headers

from .conftest import Events, unused_port
from .fakes import FakeSocket

USER, PASSWORD = "proxyuser", "S3cretProxyPw"
WRONG = "Wr0ngProxyPw"


@dataclass
class Proxy:
    """A proxy server running in a subprocess, and the log of its tunnels."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path
    pattern: str  # how its log names a tunnel to a port ({port})

    def url(self, scheme: str = "http", password: str | None = None) -> URL:
        url = URL.build(scheme=scheme, host="127.0.0.1", port=self.port)
        return url if password is None else url.with_user(USER).with_password(password)

    def tunnels_to(self, port: int) -> int:
        text = self.log.read_text() if self.log.exists() else ""
        return len(re.findall(self.pattern.format(port=port), text))

    async def wait_tunnels(self, port: int, count: int) -> int:
        """The tunnels made to ``port``, once ``count`` are logged (a proxy
        may log a tunnel when it ends, a moment after the client closed)."""
        for _ in range(500):
            if self.tunnels_to(port) >= count:
                break
            await asyncio.sleep(0.01)
        return self.tunnels_to(port)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung proxy
            self.process.kill()
            self.process.wait()


def _start(command: list[str], log: Path, ready: Path | None, port: int, pattern: str) -> Proxy:
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    proxy = Proxy(process, port, log, pattern)
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the proxy exited: {log.read_text()}")
        if time.monotonic() > deadline:  # pragma: no cover - a machine far too slow
            proxy.stop()
            raise TimeoutError("the proxy did not start within 30 s")
        if ready is not None and ready.exists() and ready.read_text().strip():
            proxy.port = int(ready.read_text().split()[0])
            return proxy
        if ready is None:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    return proxy
        time.sleep(0.05)


@pytest.fixture(scope="module")
def http_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    """proxy.py on a free port (it writes the port it got), asking for Basic
    credentials; it logs ``CONNECT host:port`` for every tunnel, as it ends."""
    where = tmp_path_factory.mktemp("proxy.py")
    ready = where / "port"
    command = [
        *(sys.executable, "-m", "proxy", "--hostname", "127.0.0.1", "--port", "0"),
        *("--port-file", str(ready), "--num-workers", "1", "--num-acceptors", "1"),
        *("--basic-auth", f"{USER}:{PASSWORD}", "--log-level", "INFO"),
    ]
    proxy = _start(command, where / "log", ready, 0, r"CONNECT 127\.0\.0\.1:{port} ")
    yield proxy
    proxy.stop()


# pproxy picks uvloop when it can and then asks for a loop the uvloop policy
# will not make: run it on asyncio's own loop.
_PPROXY = (
    "import asyncio, sys\n"
    "sys.modules['uvloop'] = None\n"
    "from pproxy import server\n"
    "asyncio.set_event_loop(asyncio.new_event_loop())\n"
    "sys.argv = ['pproxy', *sys.argv[1:]]\n"
    "server.main()\n"
)


@pytest.fixture(scope="module")
def socks_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    """pproxy as a SOCKS5 server; ``-v`` logs ``-> host:port`` per tunnel."""
    port = unused_port()
    listen = f"socks5://127.0.0.1:{port}"
    command = [sys.executable, "-u", "-c", _PPROXY, "-l", listen, "-v"]
    log = tmp_path_factory.mktemp("pproxy") / "log"
    proxy = _start(command, log, None, port, r"-> 127\.0\.0\.1:{port}\b")
    yield proxy
    proxy.stop()


@pytest.fixture
def fake_clock() -> FakeClock:
    # The proxy is another process: the loop may sit idle for a while as it
    # answers; virtual time must not take that for the end of a wait.
    return FakeClock(idle=0.2)


@pytest.fixture
def proxied(options: dict[str, Any]) -> dict[str, Any]:
    """No timers during a handshake through the proxy (see fake_clock)."""
    return {**options, "open_timeout": None, "heartbeat": None}


class TlsServer(Protocol):
    def __call__(self, script: list[list[Step]]) -> Awaitable[FaultServer]: ...


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def tls_server(ca: trustme.CA, fake_clock: FakeClock) -> AsyncIterator[TlsServer]:
    started: list[FaultServer] = []

    async def start(script: list[list[Step]]) -> FaultServer:
        fault = FaultServer(script, clock=fake_clock)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        server = TestServer(fault.app, host="127.0.0.1", scheme="https")
        await server.start_server(ssl=context)
        started.append(fault.attach(server))
        return fault

    yield start
    for fault in started:
        await fault.close()


def trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


ECHO: list[list[Step]] = [
    [Receive(), Send("echo 1"), Drop()],
    [Receive(), Send("echo 2"), Close(1000)],
]


async def hello(conn: wsclient.Connection) -> None:
    await conn.send_str("hello")


async def run_echo(url: URL, options: dict[str, Any]) -> list[Any]:
    async with wsclient.connect(url, on_connect=hello, **options) as conn:
        return [msg.data async for msg in conn]


async def test_ws_through_an_http_proxy_echoes_and_reconnects(
    http_proxy: Proxy, fault_server: StartServer, proxied: dict[str, Any], events: Events
) -> None:
    server = await fault_server(ECHO)
    options = {**proxied, "proxy": http_proxy.url(password=PASSWORD)}
    assert await run_echo(server.url, options) == ["echo 1", "echo 2"]
    assert server.received == [["hello"], ["hello"]]
    assert len(events.of(Connected)) == 2
    assert await http_proxy.wait_tunnels(server.url.port or 0, 2) == 2


@pytest.mark.parametrize("credentials", ["in the url", "proxy_headers"])
async def test_wss_through_an_http_proxy_uses_aiohttps_connect(
    *,
    http_proxy: Proxy,
    tls_server: TlsServer,
    ca: trustme.CA,
    proxied: dict[str, Any],
    events: Events,
    credentials: str,
) -> None:
    server = await tls_server(ECHO)
    url = server.url.with_scheme("wss")
    if credentials == "in the url":
        proxy: dict[str, Any] = {"proxy": http_proxy.url(password=PASSWORD)}
    else:
        basic = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        proxy = {"proxy": http_proxy.url(), "proxy_headers": {"Proxy-Authorization": basic}}
    options = {**proxied, **proxy, "ssl": trusting(ca)}
    assert await run_echo(url, options) == ["echo 1", "echo 2"]
    assert len(events.of(Connected)) == 2
    assert await http_proxy.wait_tunnels(url.port or 0, 2) == 2


@pytest.mark.parametrize("scheme", ["ws", "wss"])
async def test_a_proxy_refusing_the_credentials_fails_without_retry(
    *,
    http_proxy: Proxy,
    fault_server: StartServer,
    tls_server: TlsServer,
    ca: trustme.CA,
    proxied: dict[str, Any],
    events: Events,
    caplog: pytest.LogCaptureFixture,
    scheme: str,
) -> None:
    caplog.set_level(logging.DEBUG, logger="wsclient")
    server = await (fault_server(ECHO) if scheme == "ws" else tls_server(ECHO))
    url = server.url.with_scheme(scheme)
    options = {**proxied, "proxy": http_proxy.url(password=WRONG), "ssl": trusting(ca)}
    async with wsclient.connect(url, **options) as conn:
        with pytest.raises(HandshakeRejected) as info:
            await conn.receive()
    assert info.value.status == 407  # like a 401: the same credentials would fail again
    assert events.names() == ["ConnectFailed", "GaveUp"]
    assert server.connections == 0
    shown = f"{info.value} {info.value!r} {events!r} {caplog.text}"
    assert "407" in shown
    basic = base64.b64encode(f"{USER}:{WRONG}".encode()).decode()
    assert WRONG not in shown
    assert basic not in shown


async def test_a_proxy_that_is_down_is_retried(
    fault_server: StartServer, proxied: dict[str, Any], events: Events
) -> None:
    server = await fault_server(ECHO)
    down = URL.build(scheme="http", host="127.0.0.1", port=unused_port())
    proxy = down.with_user(USER).with_password(PASSWORD)
    async with wsclient.connect(server.url, proxy=proxy, **proxied) as conn:
        await events.wait_count(wsclient.ReconnectScheduled, 2)
        await conn.close()
    failure = events.of(ConnectFailed)[0].cause
    assert failure.kind is DisconnectKind.REFUSED
    assert PASSWORD not in repr(events)
    assert server.connections == 0


async def test_ws_through_a_socks5_proxy_echoes_and_reconnects(
    socks_proxy: Proxy, fault_server: StartServer, proxied: dict[str, Any], events: Events
) -> None:
    server = await fault_server(ECHO)
    options = {**proxied, "proxy": socks_proxy.url("socks5")}
    assert await run_echo(server.url, options) == ["echo 1", "echo 2"]
    assert server.received == [["hello"], ["hello"]]
    assert await socks_proxy.wait_tunnels(server.url.port or 0, 2) == 2


async def test_connections_through_one_proxy_share_its_client_session(
    socks_proxy: Proxy, fault_server: StartServer, proxied: dict[str, Any]
) -> None:
    server = await fault_server(then=[Send("x"), Close(1000)])
    proxy = socks_proxy.url("socks5")
    async with wsclient.Session(**proxied) as session:
        first = session.connect(server.url, proxy=proxy)
        second = session.connect(server.url, proxy=proxy)
        for conn in (first, second):
            async with conn:
                assert [msg.data async for msg in conn] == ["x"]
        transport = session._transport
        assert isinstance(transport, wsclient.transport.AiohttpTransport)
        assert len(transport._tunnels) == 1
    assert transport._tunnels == {}  # closed with the session


async def test_proxy_headers_for_a_tunnelled_socket_are_refused(
    http_proxy: Proxy, fault_server: StartServer, proxied: dict[str, Any]
) -> None:
    server = await fault_server(ECHO)
    headers = {"Proxy-Authorization": "Bearer x"}
    async with wsclient.connect(
        server.url, proxy=http_proxy.url(), proxy_headers=headers, **proxied
    ) as conn:
        with pytest.raises(ValueError, match="put Basic credentials in the proxy URL"):
            await conn.receive()
    assert server.connections == 0


async def test_ws_through_an_http_proxy_without_aiohttp_socks_says_what_to_install(
    http_proxy: Proxy,
    fault_server: StartServer,
    proxied: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "aiohttp_socks", None)  # as if not installed
    server = await fault_server(ECHO)
    async with wsclient.connect(server.url, proxy=http_proxy.url(), **proxied) as conn:
        with pytest.raises(ImportError, match=r"aiohttp-wsclient\[socks\]"):
            await conn.receive()


@pytest.mark.parametrize(
    ("error", "kind", "status"),
    [
        (aiohttp_socks.ProxyError("407 Proxy Authentication Required", 407), "handshake", 407),
        (
            aiohttp_socks.ProxyError("Username and password authentication failure"),
            "handshake",
            407,
        ),
        (aiohttp_socks.ProxyError("502 Bad Gateway", 502), "handshake", 502),
        (aiohttp_socks.ProxyError("Host unreachable", 4), "reset", None),  # a SOCKS reply
        (aiohttp_socks.ProxyConnectionError("Couldn't connect to proxy"), "refused", None),
        (aiohttp_socks.ProxyTimeoutError("Proxy connection timed out"), "timeout", None),
    ],
)
def test_what_aiohttp_socks_raises_becomes_a_disconnect(
    error: Exception, kind: str, status: int | None
) -> None:
    disconnect = from_exception(error, Redactor())
    assert disconnect is not None
    assert (disconnect.kind, disconnect.status) == (kind, status)


def test_a_scripted_socket_has_no_response_headers() -> None:
    assert dict(response_headers(FakeSocket())) == {}


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"proxy": 5}, TypeError, "proxy must be a str or a yarl.URL, got int"),
        ({"proxy": "ftp://127.0.0.1:21"}, ValueError, "scheme is one of http, socks4, socks5"),
        ({"proxy": "socks5://127.0.0.1"}, ValueError, "give a URL with host and port"),
        (
            {"proxy": "socks5://127.0.0.1:1080", "proxy_headers": {"X": "y"}},
            ValueError,
            "proxy_headers are for HTTP proxies",
        ),
        ({"proxy": "http://127.0.0.1:3128", "proxy_headers": {"X": 1}}, TypeError, "'X'"),
    ],
)
def test_a_bad_proxy_option_is_refused_up_front(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)) as info:
        Options(**options)
    assert PASSWORD not in str(info.value)


def test_a_socks_proxy_without_aiohttp_socks_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "aiohttp_socks", None)  # as if not installed
    with pytest.raises(ImportError, match=r"aiohttp-wsclient\[socks\]"):
        Options(proxy="socks5://127.0.0.1:1080")


def test_a_bad_proxy_url_is_shown_redacted() -> None:
    with pytest.raises(ValueError, match=r"\*\*\*") as info:
        Options(proxy=f"https://u:{PASSWORD}@127.0.0.1:3128")
    assert PASSWORD not in str(info.value)


def test_proxy_credentials_stay_out_of_the_options_repr() -> None:
    options = Options(
        proxy=f"http://{USER}:{PASSWORD}@127.0.0.1:3128",
        proxy_headers={"Proxy-Authorization": f"Bearer {WRONG}"},
    )
    assert PASSWORD not in repr(options)
    assert WRONG not in repr(options)
