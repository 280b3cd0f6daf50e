"""The endpoints of a connection: what each attempt dials, how each endpoint
is shown, and the secrets to scrub from anything that came back from them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from yarl import URL

from .options import Endpoint, HeadersSource, check_credentials, check_headers, parse_url
from .redact import Redactor, redact_url
from .tasks import result

__all__ = ["Targets"]


class Targets:
    """Endpoints tried in order (URLs, or callables giving a fresh one before
    every attempt), the handshake headers (or a callable giving fresh ones),
    each endpoint as it may be shown (redacted), and a redactor that knows
    their secrets.

    Built from URLs and a plain mapping, it never changes: the connections of
    a session to the same endpoints share one (:attr:`static`).
    """

    __slots__ = ("__weakref__", "headers", "redactor", "shown", "sources")

    def __init__(self, sources: Sequence[Endpoint], headers: HeadersSource | None) -> None:
        self.sources = tuple(sources)
        self.headers = headers
        self.redactor = Redactor()
        self.shown = [
            redact_url(s) if isinstance(s, URL) else "(url from a callable)" for s in sources
        ]
        for source in sources:
            if isinstance(source, URL):
                self.redactor.add_url(source)
        if headers is not None and not callable(headers):
            self.redactor.add_headers(headers)

    @staticmethod
    def is_static(sources: Sequence[Endpoint], headers: HeadersSource | None) -> bool:
        """Whether targets built from these never change (no callable anywhere)."""
        return not callable(headers) and all(isinstance(s, URL) for s in sources)

    def __len__(self) -> int:
        return len(self.sources)

    async def resolve(self, index: int) -> tuple[URL, Mapping[str, str] | None]:
        """The URL and headers of an attempt on endpoint ``index``: callables
        are called now, once, and what they give is checked and its secrets
        remembered."""
        source = self.sources[index]
        given = self.headers
        if isinstance(source, URL) and not callable(given):
            return source, given  # checked, and remembered by the redactor, up front
        url = source if isinstance(source, URL) else parse_url(await result(source()))
        self.redactor.add_url(url)
        self.shown[index] = redact_url(url)
        if callable(given):
            given = check_headers(await result(given()))
            self.redactor.add_headers(given)
        check_credentials(url, given)
        return url, given
