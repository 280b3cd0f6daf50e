"""Tier 1: secrets never shown."""

from __future__ import annotations

import pytest
from yarl import URL

from wsclient.redact import Redactor, is_secret_header, redact_url


def test_redact_url_masks_password_and_query_values() -> None:
    url = URL("wss://bob:hunter2@feed.example:8443/stream?token=abc123&symbol=BTC")
    shown = redact_url(url)
    assert shown == "wss://bob:***@feed.example:8443/stream?token=***&symbol=***"
    assert "hunter2" not in shown
    assert "abc123" not in shown
    assert redact_url(URL("ws://h/p")) == "ws://h/p"


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "PROXY-AUTHORIZATION",
        "Cookie",
        "set-cookie",
        "X-Token",
        "X-Client-Secret",
        "X-Password",
        "X-Api-Key",
        "X-ApiKey",
        "X-Auth",
        "X-Signature",
    ],
)
def test_secret_headers_each_word_on_its_own(name: str) -> None:
    """Each name matches one rule only: none of them can go unnoticed."""
    assert is_secret_header(name)


@pytest.mark.parametrize("name", ["User-Agent", "Accept", "X-Key-Id", "Cookies-Policy"])
def test_other_headers_are_shown(name: str) -> None:
    assert not is_secret_header(name)


@pytest.mark.parametrize(
    ("name", "value", "secret"),
    [
        ("X-Api-Key", "k3y-0a1b2c3d", "k3y-0a1b2c3d"),  # no "Bearer"-style prefix
        ("Authorization", "Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ("Cookie", "theme=dark; session=s3ss10n-4f9a", "s3ss10n-4f9a"),
        ("Cookie", 'session="qu0ted-v4lue"', "qu0ted-v4lue"),
        ("Set-Cookie", "id=a3fWa-77; Secure", "a3fWa-77"),
    ],
)
def test_a_secret_header_value_is_masked_alone_or_echoed_in_part(
    name: str, value: str, secret: str
) -> None:
    r = Redactor()
    r.add_headers({name: value, "Accept": "text/plain"})
    assert r.scrub(f"header {value}") == "header ***"
    assert r.scrub(f"server said: unknown {secret}.") == "server said: unknown ***."
    assert r.scrub("text/plain") == "text/plain"


def test_a_password_with_reserved_characters_is_masked_raw_and_decoded() -> None:
    url = URL("wss://bob:p%40ss%2Fw0rd%20x@feed.example/p")
    assert url.password == "p@ss/w0rd x"
    r = Redactor()
    r.add_url(url)
    for form in ("p@ss/w0rd x", "p%40ss%2Fw0rd%20x", "p%40ss%2Fw0rd+x"):
        assert r.scrub(f"<{form}>") == "<***>", form
    assert redact_url(url) == "wss://bob:***@feed.example/p"


def test_a_url_written_whole_becomes_its_redacted_form() -> None:
    """Not a URL sprinkled with masks: the one logs show everywhere else."""
    url = URL("wss://bob:hunter2@feed.example/p?token=t0k3n-1&n=42")
    r = Redactor()
    r.add_url(url)
    shown = redact_url(url)
    assert r.scrub(f"GET {url} failed") == f"GET {shown} failed"
    assert r.scrub(f"GET {url.human_repr()} failed") == f"GET {shown} failed"
    bare = url.with_user(None)  # how aiohttp shows it
    assert r.scrub(f"to {bare}") == f"to {redact_url(bare)}"
    assert r.scrub(f"to {bare.with_query(None)}!") == "to wss://feed.example/p!"


def test_a_token_as_user_name_is_masked_raw_and_decoded() -> None:
    url = URL("wss://sk_live%2F0123%40456@feed.example/p")
    assert redact_url(url) == "wss://***@feed.example/p"
    r = Redactor()
    r.add_url(url)
    assert r.scrub("key sk_live/0123@456") == "key ***"
    assert r.scrub("key sk_live%2F0123%40456") == "key ***"


def test_a_url_with_secrets_too_short_to_scrub_alone_is_still_redacted_whole() -> None:
    """A one-letter password, a three-digit pin: too short to mask in prose,
    masked wherever the URL is written, raw or decoded, with or without its query."""
    url = URL("wss://bob:%C3%A9@feed.example/p?pin=9z7")
    r = Redactor()
    r.add_url(url)
    for whole in (url, url.with_query(None)):
        for form in (str(whole), whole.human_repr()):
            assert r.scrub(f"to {form}!") == f"to {redact_url(whole)}!", form


def test_a_secret_of_four_characters_is_masked_and_a_shorter_one_is_not() -> None:
    r = Redactor()
    r.add_headers({"X-Token": "abcd", "X-Secret": "xyz"})
    assert r.scrub("abcd xyz") == "*** xyz"  # (still masked wherever a URL shows it)


def test_a_value_inside_a_longer_one_does_not_split_it() -> None:
    r = Redactor()
    r.add_headers({"Authorization": "Bearer t0k3n", "X-Token": "t0k3n-and-more"})
    assert r.scrub("t0k3n-and-more") == "***"


def test_redactor_scrubs_query_values_passwords_and_bearer_tokens() -> None:
    r = Redactor()
    r.add_url(URL("wss://u:pa55word@h/p?token=s%2Fecret-1&n=1"))
    r.add_headers({"Authorization": "Bearer eyJhbGciOi.J9", "Accept": "text/plain"})
    text = (
        "GET /p?token=s%2Fecret-1 (s/ecret-1) pa55word Bearer eyJhbGciOi.J9 "
        "eyJhbGciOi.J9 text/plain n=1"
    )
    scrubbed = r.scrub(text)
    for secret in ("s%2Fecret-1", "s/ecret-1", "pa55word", "eyJhbGciOi.J9"):
        assert secret not in scrubbed
    assert "text/plain" in scrubbed
    assert "n=1" in scrubbed  # too short to be a secret worth scrubbing from prose


def test_a_fresh_token_per_attempt_does_not_pile_up() -> None:
    """A url callable hands out a new token on every reconnect: the redactor
    keeps the latest ones (and the static URL it keeps using), not all."""
    r = Redactor()
    home = URL("wss://h/p?key=static-key-1")
    tokens = [f"tok-{n:05d}-secret" for n in range(1000)]
    for token in tokens:
        r.add_url(home)  # used before every attempt, as with callable headers
        r.add_url(URL(f"wss://h/p?token={token}"))
    r.add_headers({"Authorization": "Bearer header-token-9"})
    shown = r.scrub(" ".join([*tokens[-20:], "static-key-1", "Bearer header-token-9"]))
    assert "secret" not in shown
    assert "static-key-1" not in shown
    assert "header-token-9" not in shown
    assert r.scrub(tokens[0]) == tokens[0]  # long forgotten: bounded memory


def test_the_secrets_of_the_latest_32_urls_are_kept() -> None:
    r = Redactor()
    urls = [URL(f"wss://h/p?token=tok-{n:03d}-x") for n in range(40)]
    for url in urls:
        r.add_url(url)
    assert r.scrub("tok-008-x tok-039-x") == "*** ***"  # the 32 latest: 8-39
    assert r.scrub("tok-007-x") == "tok-007-x"


def test_a_url_used_again_counts_as_new() -> None:
    """The static URL a connection returns to after many fresh tokens stays known."""
    r = Redactor()
    home = URL("wss://h/p?key=home-key-1")
    r.add_url(home)
    for n in range(31):
        r.add_url(URL(f"wss://h/p?token=tok-{n:03d}-x"))
    r.add_url(home)  # back home: the newest again
    r.add_url(URL("wss://h/p?token=one-more-x"))  # 33 in all: the oldest goes
    assert r.scrub("home-key-1 tok-000-x") == "*** tok-000-x"


def test_a_query_value_is_masked_as_sent_decoded_and_encoded() -> None:
    """``+`` and ``%20`` mixed: the server sees (and may echo) the raw form."""
    r = Redactor()
    r.add_url(URL("wss://h/p?key=my+k3y%20v4lue"))
    for form in ("my+k3y%20v4lue", "my k3y v4lue", "my%20k3y%20v4lue", "my+k3y+v4lue"):
        assert r.scrub(f"<{form}>") == "<***>", form
