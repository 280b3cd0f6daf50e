"""Bad input is refused by connect() before any I/O, with an error that names
the option and what was wrong, and never shows a secret."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from yarl import URL

import wsclient

OK = "ws://127.0.0.1:1/"


@pytest.mark.parametrize(
    ("url", "error", "message"),
    [
        (b"ws://127.0.0.1:1/", TypeError, r"url must be a str.*got bytes \(decode it"),
        (None, TypeError, "url must be a str, a yarl.URL or a callable.*got NoneType"),
        (8765, TypeError, "url must be .*got int"),
        ({"ws://h/": 1}, TypeError, "url must be .*got dict"),
        ([OK, None], TypeError, r"url\[1\] must be a str"),
        ([OK, "ftp://h/"], ValueError, r"url\[1\] 'ftp://h/': scheme 'ftp'"),
        ("ws://exa mple.com/", ValueError, "the host 'exa mple.com' has a character"),
        ("ws://a\tb/", ValueError, "url contains a tab at index 6"),
        ("ws://127.0.0.1:1/a\x00b", ValueError, "url contains a NUL at index 18"),
        ("ws://127.0.0.1:1/\r\nHost: evil", ValueError, "url contains a CR at index 17"),
        ("ws://127.0.0.1:1/feed#top", ValueError, r"has a fragment .*RFC 6455 section 3"),
        ("ws://127.0.0.1:1/feed#", ValueError, "has a fragment"),
        ("ws://127.0.0.1:0/", ValueError, "port 0 cannot be connected to"),
        ("ws://127.0.0.1:99999/", ValueError, "url is not a valid URL: Port out of range"),
        ("127.0.0.1:8765/ws", ValueError, "no scheme .*did you mean 'ws://127.0.0.1:8765/ws'"),
        (
            "h:99999/x",
            ValueError,
            r"url '...' has no scheme \(ws://, wss://, http:// or https://\)$",
        ),
        ("", ValueError, "url is empty"),
    ],
)
def test_a_bad_url_is_refused_up_front(url: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        wsclient.connect(url)


def test_a_url_error_shows_no_token_nor_fragment() -> None:
    for url in (
        "wss://h/feed?token=SECRET1#access_token=SECRET2",
        "h:8765/feed?token=SECRET1",
        "ws://u:SECRET1@exa mple.com/",
    ):
        with pytest.raises(ValueError, match="url") as info:
            wsclient.connect(url)
        assert "SECRET" not in str(info.value)


def test_a_yarl_url_is_checked_too() -> None:
    with pytest.raises(ValueError, match="has a fragment"):
        wsclient.connect(URL("ws://127.0.0.1:1/").with_fragment("x"))


@pytest.mark.parametrize(
    ("option", "value", "error", "message"),
    [
        ("origin", 5, TypeError, "origin must be a str or None, got int"),
        ("origin", "https://a\r\nX-Evil: 1", ValueError, "origin contains a CR"),
        ("origin", "", ValueError, "origin is empty"),
        ("protocols", [1], TypeError, r"protocols\[0\] is int"),
        ("protocols", 5, TypeError, "protocols must be a sequence of str, got int"),
        ("protocols", b"chat", TypeError, "not one bytes"),
        ("protocols", ["chat", "a b"], ValueError, r"protocols\[1\] 'a b' is not a subprotocol"),
        ("protocols", [""], ValueError, "is not a subprotocol name"),
        ("protocols", ["v1", "v1"], ValueError, "protocols must be unique"),
        ("headers", {"X Y": "1"}, ValueError, "'X Y' is not a header name"),
        ("headers", {"": "1"}, ValueError, "'' is not a header name"),
        ("headers", {"X-A\r\nX-B": "1"}, ValueError, "is not a header name"),
        ("allow_unlimited_messages", "yes", TypeError, "allow_unlimited_messages must be a bool"),
    ],
)
def test_a_bad_option_is_refused_by_name(
    option: str, value: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        wsclient.connect(OK, **{option: value})


@pytest.mark.parametrize("bad", ["\r\nX-Evil: 1", "\n", "a\x00b", "\x7f"])
def test_a_header_value_that_would_inject_is_named_not_shown(bad: str) -> None:
    with pytest.raises(ValueError, match="the value of 'X-Api-Key' contains") as info:
        wsclient.connect(OK, headers={"X-Api-Key": f"SECRET{bad}"})
    assert "SECRET" not in str(info.value)


async def test_fresh_headers_from_a_callable_are_checked_before_the_handshake(
    fault_server: Any,
) -> None:
    server = await fault_server()
    conn = wsclient.connect(server.url, headers=lambda: {"Cookie": "SECRET\r\nX: 1"})
    with pytest.raises(ValueError, match="the value of 'Cookie' contains a CR") as info:
        async with conn:
            await conn.receive()
    assert "SECRET" not in str(info.value)
    assert server.connections == 0


def test_good_values_pass() -> None:
    wsclient.connect(
        "ws://my_service:8080/a b?q=1",
        origin="https://example.com",
        protocols=["graphql-transport-ws", "v1.chat"],
        headers={"X-Api-Key": "k\tv", "Cookie": "a=1; b=2"},
    )
    wsclient.connect(["ws://[::1]:8080/", "wss://bücher.example/", lambda: OK])


def test_ssl_off_on_a_plain_ws_url_says_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="wsclient")
    wsclient.connect("ws://127.0.0.1:1/", ssl=False)
    wsclient.connect(["ws://127.0.0.1:1/", "http://127.0.0.1:2/"], ssl=False)
    assert "verification is off" not in caplog.text
    wsclient.connect(["ws://127.0.0.1:1/", "wss://127.0.0.1:2/?token=SECRET"], ssl=False)
    assert "verification is off for wss://127.0.0.1:2/?token=***" in caplog.text
