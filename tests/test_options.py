"""Bad input is refused before any I/O, with an error naming what was wrong."""

from __future__ import annotations

from typing import Any

import pytest

import wsclient
from wsclient.options import Options, parse_url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/x", "scheme 'ftp' is not one of ws, wss, http, https"),
        ("example.com", "has no scheme .*did you mean 'ws://example.com'"),
        ("ws:///path", "has no host"),
    ],
)
def test_bad_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_url(url)


def test_a_bad_url_error_does_not_show_its_token() -> None:
    with pytest.raises(ValueError, match="scheme") as info:
        wsclient.connect("ftp://h/?token=TOPSECRET")
    assert "TOPSECRET" not in str(info.value)


def test_url_must_be_a_string_or_url() -> None:
    with pytest.raises(TypeError, match=r"url must be a str or a yarl\.URL"):
        parse_url(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("option", "value", "error", "message"),
    [
        ("heartbeat", 0, ValueError, "heartbeat must be a finite number > 0"),
        ("heartbeat", float("nan"), ValueError, "heartbeat"),
        ("heartbeat", "20", TypeError, "heartbeat must be a number"),
        ("pong_timeout", -1, ValueError, "pong_timeout"),
        ("stable_after", -0.5, ValueError, "stable_after must be a finite number >= 0"),
        ("open_timeout", 0, ValueError, "open_timeout"),
        ("close_timeout", float("inf"), ValueError, "close_timeout"),
        ("buffer_size", -1, ValueError, "buffer_size must be >= 0"),
        ("buffer_size", 1.5, TypeError, "buffer_size must be an int"),
        ("max_queue", 0, ValueError, "max_queue must be >= 1"),
        ("max_msg_size", -1, ValueError, "max_msg_size"),
        ("max_msg_size", 0, ValueError, "max_msg_size must be >= 1"),
        ("compress", 8, ValueError, "compress must be 0 or 9-15"),
        ("policy", "default", TypeError, "policy must be a ReconnectPolicy"),
        ("on_connect", 3, TypeError, "on_connect must be callable"),
        ("on_event", "x", TypeError, "on_event must be callable"),
        ("stop", 5, TypeError, "stop must be callable"),
        ("clock", object(), TypeError, "clock must have now"),
        ("rng", 7, TypeError, "rng must be a random.Random"),
        ("ssl", "yes", TypeError, "ssl must be a bool or an SSLContext"),
        ("headers", {"X-Num": 1}, TypeError, "headers must map str to str"),
        ("protocols", "chat", TypeError, "protocols must be a sequence of str"),
        ("send_rate", 0, ValueError, "send_rate must be a finite number > 0"),
        ("send_rate", float("inf"), ValueError, "send_rate"),
        ("send_rate", "10", TypeError, "send_rate must be a number"),
        ("sequence", "seq", TypeError, "sequence must be callable"),
        ("ping_message", object(), TypeError, "ping_message must be str, bytes or JSON"),
        ("ping_message", "bad \udcff", ValueError, "cannot be sent"),
    ],
)
def test_bad_options_are_refused_by_name(
    option: str, value: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        wsclient.connect("ws://127.0.0.1:1/", **{option: value})


def test_a_ping_message_needs_a_heartbeat() -> None:
    with pytest.raises(ValueError, match="ping_message needs a heartbeat"):
        wsclient.connect("ws://127.0.0.1:1/", ping_message="ping", heartbeat=None)


def test_an_unknown_option_is_named() -> None:
    with pytest.raises(TypeError, match="heartbeet"):
        wsclient.Session(heartbeet=5)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="heartbeet"):
        wsclient.Session().connect("ws://127.0.0.1:1/", heartbeet=5)  # type: ignore[call-arg]


def test_unlimited_messages_must_be_asked_for() -> None:
    assert Options(max_msg_size=0, allow_unlimited_messages=True).max_msg_size == 0


def test_defaults() -> None:
    options = Options()
    assert (options.heartbeat, options.pong_timeout, options.stable_after) == (20.0, 10.0, 30.0)
    assert (options.buffer_size, options.open_timeout) == (1024, 10.0)
    assert options.stop is None
    assert options.ssl is True
