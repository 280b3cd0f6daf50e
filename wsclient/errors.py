"""The one exception tree of wsclient.

::

    WSClientError
    ├── FatalClose           the connection ended with a close code the policy fails on
    ├── HandshakeRejected    the server answered the opening handshake with an HTTP error
    ├── ConnectionFailed     the transport failed in a way the policy fails on (TLS)
    ├── RetriesExhausted     the user's tenacity ``stop`` ended retrying
    ├── ConnectionClosed     the connection ended cleanly; there is nothing more to read
    ├── BufferFull           the outbox is full while reconnecting
    └── InvalidState         an operation the connection's state does not allow

aiohttp's own exceptions never reach the user: ``wsclient.transport`` turns
each of them into a :class:`~wsclient.disconnect.Disconnect`, and the errors
here are built from that. No message here holds a secret: every text that
came from the network or from aiohttp has been redacted before it gets here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .disconnect import Disconnect

__all__ = [
    "BufferFull",
    "ConnectionClosed",
    "ConnectionFailed",
    "FatalClose",
    "HandshakeRejected",
    "InvalidState",
    "RetriesExhausted",
    "WSClientError",
]


class WSClientError(Exception):
    """The base of every error wsclient raises on purpose."""


class FatalClose(WSClientError):
    """The connection ended in a way the policy says must not be retried.

    Attributes:
        code: The effective close code: the one the server sent, the one of a
            protocol error detected locally, or 1002 for a code that must never
            be on the wire.
        reason: The close reason the server gave (may be empty).
        received_code: The code as it was on the wire when it differs from
            ``code`` (for example 1006 or 5000 sent by a broken server).
    """

    def __init__(self, code: int, reason: str = "", received_code: int | None = None):
        self.code = code
        self.reason = reason
        self.received_code = received_code
        text = f"connection closed with code {code}"
        if received_code is not None and received_code != code:
            text += f" (received invalid code {received_code})"
        if reason:
            text += f": {reason}"
        super().__init__(text)


class HandshakeRejected(WSClientError):
    """The server refused the WebSocket upgrade.

    Attributes:
        status: The HTTP status of the answer (101 when the answer claimed an
            upgrade but was not a valid one).
        headers: The response headers that are safe to keep (``Retry-After``,
            ``Date``, ``Server``...), never cookies.
    """

    def __init__(self, status: int, headers: Mapping[str, str] | None = None):
        self.status = status
        self.headers = dict(headers or {})
        super().__init__(f"handshake rejected with HTTP status {status}")


class ConnectionFailed(WSClientError):
    """The transport failed and the policy says not to retry (a TLS failure).

    Attributes:
        kind: What failed, as a :class:`~wsclient.disconnect.DisconnectKind` value.
    """

    def __init__(self, kind: str, detail: str):
        self.kind = kind
        super().__init__(f"connection failed ({kind}): {detail}")


class RetriesExhausted(WSClientError):
    """The ``stop`` the user gave ended retrying before a connection held.

    Attributes:
        attempts: How many attempts were made in the last streak of failures.
        cause: The :class:`~wsclient.disconnect.Disconnect` of the last attempt.
    """

    def __init__(self, attempts: int, cause: Disconnect):
        self.attempts = attempts
        self.cause = cause
        tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
        super().__init__(f"gave up after {tries}; last: {cause.describe()}")


class ConnectionClosed(WSClientError):
    """The connection ended cleanly (a Stop decision or ``close()``)."""


class BufferFull(WSClientError):
    """The outbox holds ``buffer_size`` messages already; this one was not taken."""


class InvalidState(WSClientError):
    """The connection's state does not allow the operation (for example a send
    after ``close()``, or a state change the transition table forbids)."""
