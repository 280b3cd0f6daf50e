"""Tier 1: secrets never shown."""

from __future__ import annotations

from yarl import URL

from wsclient.redact import Redactor, is_secret_header, redact_url


def test_redact_url_masks_password_and_query_values() -> None:
    url = URL("wss://bob:hunter2@feed.example:8443/stream?token=abc123&symbol=BTC")
    shown = redact_url(url)
    assert shown == "wss://bob:***@feed.example:8443/stream?token=***&symbol=***"
    assert "hunter2" not in shown
    assert "abc123" not in shown
    assert redact_url(URL("ws://h/p")) == "ws://h/p"


def test_secret_headers() -> None:
    for name in ("Authorization", "proxy-authorization", "Cookie", "X-Api-Key", "X-Auth-Token"):
        assert is_secret_header(name), name
    assert not is_secret_header("User-Agent")


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
