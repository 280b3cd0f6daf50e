"""The ``wsclient`` logger: silent unless the application configures logging,
and every record names its connection (``record.wsclient_name``)."""

from __future__ import annotations

import logging
import subprocess
import sys
from typing import Any

import pytest

import wsclient
from wsclient import Disconnected
from wsclient.testing import Close, Drop, Reject, Send
from wsclient.testing.plugin import StartServer

from .conftest import Events

# An application that configures no logging and opens a connection whose
# TLS verification is off: wsclient warns about it.
_APP = """
import asyncio, logging, sys
import wsclient

if sys.argv[1] == "bare":
    logging.getLogger("wsclient").handlers.clear()  # as before the NullHandler

async def main() -> None:
    async with wsclient.Session(ssl=False) as session:
        session.connect("wss://127.0.0.1:9/")

asyncio.run(main())
print("opentelemetry" in sys.modules, "wsclient.metrics" in sys.modules)
"""


def run_app(mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _APP, mode], capture_output=True, text=True, timeout=60, check=True
    )


def test_an_application_without_logging_config_sees_no_warning_on_stderr() -> None:
    app = run_app("as shipped")
    assert app.stderr == ""
    assert app.stdout == "False False\n"  # metrics off: OpenTelemetry is never imported


def test_without_the_null_handler_the_warning_would_reach_stderr() -> None:
    # The control: what the NullHandler prevents (logging.lastResort).
    assert "TLS certificate verification is off" in run_app("bare").stderr


def test_the_null_handler_is_the_only_handler() -> None:
    handlers = logging.getLogger("wsclient").handlers
    assert [type(h) for h in handlers] == [logging.NullHandler]


async def test_every_record_names_its_connection(
    fault_server: StartServer,
    options: dict[str, Any],
    events: Events,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = await fault_server(
        [[Send("a"), Close(1012)], [Reject(503)], [Send("b"), Drop()], [Send("c"), Close(1000)]]
    )
    caplog.set_level(logging.DEBUG, logger="wsclient")
    async with wsclient.connect(server.url, name="feed-a", **options) as conn:
        assert [msg.data async for msg in conn] == ["a", "b", "c"]
    assert len(events.of(Disconnected)) == 3
    records = [r for r in caplog.records if r.name == "wsclient"]
    assert len(records) > 10  # connected, decided, waited, states...
    assert {getattr(r, "wsclient_name", None) for r in records} == {"feed-a"}


async def test_the_default_name_is_the_host_and_port(
    fault_server: StartServer, options: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    server = await fault_server([[Send("a"), Close(1000)]])
    url = server.url.with_path("/ws/secretListenKey").with_query(token="t0ken")
    caplog.set_level(logging.INFO, logger="wsclient")
    async with wsclient.connect(url, **options) as conn:
        assert conn.name == f"127.0.0.1:{server.url.port}"
        assert [msg.data async for msg in conn] == ["a"]
    records = [r for r in caplog.records if r.name == "wsclient"]
    assert records
    assert {getattr(r, "wsclient_name", None) for r in records} == {conn.name}


async def test_a_session_warning_names_the_connection(caplog: pytest.LogCaptureFixture) -> None:
    async with wsclient.Session(ssl=False) as session:
        session.connect("wss://127.0.0.1:9/", name="insecure")
    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert record.wsclient_name == "insecure"  # type: ignore[attr-defined]


def test_a_url_callable_is_named_generically() -> None:
    session = wsclient.Session()
    conn = session.connect(lambda: "ws://127.0.0.1:9/")
    assert conn.name == "wsclient"


@pytest.mark.parametrize("name", ["", 5, b"feed"])
def test_a_bad_name_is_refused(name: Any) -> None:
    with pytest.raises(TypeError, match="name must be a non-empty str"):
        wsclient.Session(name=name)
