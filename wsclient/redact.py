"""Keep secrets out of logs, reprs, events and error messages.

A URL is shown with its password and every query value replaced by ``***``
(a query value is where tokens live: ``?token=...``, ``?api_key=...``). Header
values of ``Authorization``-like headers are secrets too. :class:`Redactor`
remembers the secrets of one connection and scrubs them from any text that
came from aiohttp or the network before the text is kept anywhere.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

from yarl import URL

__all__ = ["MASK", "Redactor", "is_secret_header", "redact_url"]

MASK = "***"
# A secret shorter than this would scrub innocent text ("1", "ab"); such a
# value is still masked wherever a URL is shown, by redact_url.
_MIN_SECRET = 4
# A secret header is a cookie one, or one whose name holds a secret word
# ("auth" covers Authorization and Proxy-Authorization).
_COOKIE_HEADERS = frozenset({"cookie", "set-cookie"})
_SECRET_WORDS = ("token", "secret", "password", "api-key", "apikey", "auth", "signature")


def is_secret_header(name: str) -> bool:
    """Whether a header's value must never be shown."""
    lower = name.lower()
    return lower in _COOKIE_HEADERS or any(word in lower for word in _SECRET_WORDS)


@functools.lru_cache(maxsize=256)
def redact_url(url: URL) -> str:
    """``url`` as text with the password and all query values masked (and the
    user name, when it comes alone: then it is a token)."""
    if url.password is not None:
        url = url.with_password(MASK)
    elif url.user is not None:
        url = url.with_user(MASK)
    if url.query_string:
        url = url.with_query([(key, MASK) for key in url.query])
    return str(url)


# The secrets a Redactor keeps: the newest first. A url or headers callable
# gives fresh credentials on every attempt; weeks of reconnects must not pile
# up every token ever used (nor slow down every scrub).
_KEPT = 32


@dataclass(frozen=True)
class _Secrets:
    """What to scrub: whole texts to replace by their redacted form (URL
    forms, longest first), and values to mask."""

    forms: tuple[tuple[str, str], ...]
    values: tuple[str, ...]


def _values(found: Iterable[str]) -> tuple[str, ...]:
    # Longest first, so a token inside a header value is masked whole; a value
    # shorter than _MIN_SECRET would scrub innocent text (still masked in URLs).
    return tuple(sorted({s for s in found if len(s) >= _MIN_SECRET}, key=len, reverse=True))


@functools.lru_cache(maxsize=256)
def _url_secrets(url: URL) -> _Secrets:
    forms: dict[str, str] = {}
    bare = url.with_user(None)  # aiohttp shows URLs without their user info
    for whole in (url, url.with_query(None), bare):  # (bare without a query shows nothing)
        shown = redact_url(whole)
        for form in (str(whole), whole.human_repr()):
            if form != shown:
                forms[form] = shown
    values = [url.password or "", url.raw_password or "", *url.query.values()]
    if url.password is None:
        values += [url.user or "", url.raw_user or ""]
    values.extend(part.partition("=")[2] for part in url.raw_query_string.split("&"))
    encoded = [*values, *(quote(v, safe="") for v in values), *map(quote_plus, values)]
    longest_first = sorted(forms.items(), key=lambda item: len(item[0]), reverse=True)
    return _Secrets(tuple(longest_first), _values(encoded))


class Redactor:
    """Scrubs a connection's secrets out of arbitrary text: first each of its
    URLs, written whole, becomes its redacted form; then every secret value
    left (long enough to be one) becomes ``***``. The secrets of a URL are
    worked out once and shared by every connection to it. It keeps the
    secrets of the latest 32 URLs and header sets it was given."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: dict[_Secrets, None] = {}  # oldest first

    def add(self, secrets: Iterable[str]) -> None:
        """Remember more secret values."""
        values = _values(secrets)
        if values:
            self._keep(_Secrets((), values))

    def add_url(self, url: URL) -> None:
        """Remember the password and query values of ``url`` (as given and as
        percent-encoded: a text may show either), and its whole forms."""
        self._keep(_url_secrets(url))

    def _keep(self, secrets: _Secrets) -> None:
        parts = self._parts
        parts.pop(secrets, None)
        parts[secrets] = None  # the newest
        if len(parts) > _KEPT:
            del parts[next(iter(parts))]

    def add_headers(self, headers: Mapping[str, str]) -> None:
        """Remember the values of secret headers, and the credentials in them."""
        values: list[str] = []
        for name, value in headers.items():
            if is_secret_header(name):
                values.append(value)
                values.extend(value.split()[1:])  # "Bearer <token>"
                if name.lower() in _COOKIE_HEADERS:
                    # "session=<token>; theme=dark": a server may echo one value alone.
                    for pair in value.split(";"):
                        values.append(pair.partition("=")[2].strip().strip('"'))
        self.add(values)

    def scrub(self, text: str) -> str:
        """``text`` with every remembered secret masked."""
        for part in self._parts:
            for form, shown in part.forms:
                if form in text:
                    text = text.replace(form, shown)
        for part in self._parts:
            for secret in part.values:
                if secret in text:
                    text = text.replace(secret, MASK)
        return text
