"""What ended a connection: one :class:`Disconnect` for every way it can end.

Pure: no I/O, no clock. ``wsclient.transport`` builds these from aiohttp's
messages and exceptions; ``wsclient.policy`` turns each into a decision.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import ConnectionFailed, FatalClose, HandshakeRejected, WSClientError

__all__ = ["Disconnect", "DisconnectKind", "Initiator", "close_code_name", "is_valid_wire_code"]

PROTOCOL_ERROR = 1002
NO_STATUS = 1005
ABNORMAL = 1006
SERVICE_RESTART = 1012


class DisconnectKind(enum.StrEnum):
    """How a connection ended (or why an attempt to open one failed)."""

    CLOSE = "close"
    """The server sent a close frame; ``code`` is its effective close code."""
    PROTOCOL = "protocol"
    """We found a protocol violation in what the server sent (1002, 1007, 1009)."""
    LOST = "lost"
    """The transport went away without a close frame (1006)."""
    HEARTBEAT = "heartbeat"
    """No pong (nor anything else) came back in time after a ping (1006)."""
    STALE = "stale"
    """No data message for ``stale_after`` seconds: the feed is dead (1006)."""
    HANDSHAKE = "handshake"
    """The server answered the upgrade request with ``status``."""
    DNS = "dns"
    REFUSED = "refused"
    RESET = "reset"
    TIMEOUT = "timeout"
    TLS = "tls"
    USER = "user"
    """The application closed the connection (``close()``, leaving ``async with``)."""
    FORCED = "forced"
    """The application asked for a fresh connection (``reconnect()``)."""
    ROTATE = "rotate"
    """The connection reached ``max_age`` and was replaced by a new one."""


class Initiator(enum.StrEnum):
    """Which side ended a connection, as reported in ``Disconnected`` events."""

    SERVER = "server"
    CLIENT = "client"
    TRANSPORT = "transport"


_INITIATORS = {
    DisconnectKind.CLOSE: Initiator.SERVER,
    DisconnectKind.HANDSHAKE: Initiator.SERVER,
    DisconnectKind.PROTOCOL: Initiator.CLIENT,
    DisconnectKind.HEARTBEAT: Initiator.CLIENT,
    DisconnectKind.STALE: Initiator.CLIENT,
    DisconnectKind.USER: Initiator.CLIENT,
    DisconnectKind.FORCED: Initiator.CLIENT,
    DisconnectKind.ROTATE: Initiator.CLIENT,
}


# The IANA registry's names for the codes RFC 6455 and its registry define.
_CODE_NAMES = {
    1000: "NORMAL_CLOSURE",
    1001: "GOING_AWAY",
    1002: "PROTOCOL_ERROR",
    1003: "UNSUPPORTED_DATA",
    1005: "NO_STATUS_RCVD",
    1006: "ABNORMAL_CLOSURE",
    1007: "INVALID_PAYLOAD_DATA",
    1008: "POLICY_VIOLATION",
    1009: "MESSAGE_TOO_BIG",
    1010: "MANDATORY_EXTENSION",
    1011: "INTERNAL_ERROR",
    1012: "SERVICE_RESTART",
    1013: "TRY_AGAIN_LATER",
    1014: "BAD_GATEWAY",
    1015: "TLS_HANDSHAKE",
}


def close_code_name(code: int) -> str:
    """``SERVICE_RESTART`` for 1012; ``APPLICATION`` for 4000-4999 and so on."""
    if code in _CODE_NAMES:
        return _CODE_NAMES[code]
    if 3000 <= code <= 3999:
        return "REGISTERED"
    if 4000 <= code <= 4999:
        return "APPLICATION"
    return "INVALID"


def is_valid_wire_code(code: int) -> bool:
    """Whether a close code may appear in a close frame (RFC 6455 §7.4, IANA).

    1004 is reserved, 1005, 1006 and 1015 are for reporting only, 1016-2999
    are unassigned protocol codes, and nothing below 1000 or from 5000 on exists.
    """
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


@dataclass(frozen=True, slots=True)
class Disconnect:
    """One end of a connection, or one failed attempt to open it.

    ``Disconnect(1012, "restart")`` is a close frame from the server;
    ``Disconnect(status=429)`` a rejected handshake; other kinds are named.

    Attributes:
        code: The effective close code (1005 for a close frame without one,
            1006 for a lost transport or missed pong, 1002 for a code that
            must never be on the wire); ``None`` when no connection was open.
        reason: The close reason the server gave.
        kind: How it ended.
        received_code: The code as it was on the wire, kept when it was invalid.
        status: The HTTP status of a rejected handshake.
        headers: The response headers of a rejected handshake that are safe to keep.
        detail: A redacted, human-readable account of the error, if any.
        retry_after: The seconds a ``Retry-After`` header asked to wait, if it
            was there and readable.
    """

    code: int | None = None
    reason: str = ""
    kind: DisconnectKind = DisconnectKind.CLOSE
    received_code: int | None = None
    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    detail: str = ""
    retry_after: float | None = None

    def __post_init__(self) -> None:
        # Disconnect(status=401) is a rejected handshake, not a close frame.
        if self.kind is DisconnectKind.CLOSE and self.code is None and self.status is not None:
            object.__setattr__(self, "kind", DisconnectKind.HANDSHAKE)

    @classmethod
    def from_close_frame(cls, code: int, reason: str = "") -> Disconnect:
        """The server's close frame; ``code`` 0 means the frame carried none."""
        if code == 0:
            return cls(NO_STATUS, reason)
        if not is_valid_wire_code(code):
            return cls(PROTOCOL_ERROR, reason, received_code=code)
        return cls(code, reason)

    @property
    def initiated_by(self) -> Initiator:
        """Which side ended the connection."""
        return _INITIATORS.get(self.kind, Initiator.TRANSPORT)

    def describe(self) -> str:
        """A one-line, secret-free account for logs and error messages."""
        parts = [str(self.kind)]
        if self.code is not None:
            parts.append(f"code {self.code}")
        if self.received_code is not None:
            parts.append(f"received {self.received_code}")
        if self.status is not None:
            parts.append(f"status {self.status}")
        if self.reason:
            parts.append(f"reason {self.reason!r}")
        if self.detail:
            parts.append(self.detail)
        return ", ".join(parts)

    def to_error(self) -> WSClientError:
        """The exception a Fail decision on this disconnect raises."""
        if self.kind is DisconnectKind.HANDSHAKE and self.status is not None:
            return HandshakeRejected(self.status, self.headers)
        if self.code is not None:
            return FatalClose(self.code, self.reason, self.received_code)
        return ConnectionFailed(str(self.kind), self.detail or self.describe())
