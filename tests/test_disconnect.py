"""Tier 1: Disconnect, and the errors a Fail decision raises."""

from __future__ import annotations

import pytest

from wsclient import (
    ConnectionFailed,
    Disconnect,
    DisconnectKind,
    FatalClose,
    HandshakeRejected,
    Initiator,
)
from wsclient.disconnect import close_code_name, is_valid_wire_code

DNS = DisconnectKind.DNS


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        (0, False),
        (999, False),
        (1000, True),
        (1003, True),
        (1004, False),
        (1005, False),
        (1006, False),
        (1007, True),
        (1014, True),
        (1015, False),
        (1016, False),
        (2999, False),
        (3000, True),
        (4999, True),
        (5000, False),
        (65535, False),
    ],
)
def test_wire_codes(code: int, valid: bool) -> None:
    assert is_valid_wire_code(code) is valid


def test_a_plain_disconnect_is_a_close_frame_and_one_with_a_status_a_handshake() -> None:
    assert Disconnect(1012, "restart").kind is DisconnectKind.CLOSE
    assert Disconnect(status=401).kind is DisconnectKind.HANDSHAKE
    assert Disconnect(kind=DisconnectKind.DNS).kind is DisconnectKind.DNS


def test_close_frame_without_a_code_is_1005() -> None:
    d = Disconnect.from_close_frame(0)
    assert (d.kind, d.code, d.received_code) == (DisconnectKind.CLOSE, 1005, None)


def test_an_invalid_code_on_the_wire_is_a_protocol_error_keeping_the_code() -> None:
    d = Disconnect.from_close_frame(5000, "bye")
    assert (d.code, d.received_code, d.reason) == (1002, 5000, "bye")
    error = d.to_error()
    assert isinstance(error, FatalClose)
    assert (error.code, error.received_code, error.reason) == (1002, 5000, "bye")
    assert "received invalid code 5000" in str(error)


def test_errors_by_kind() -> None:
    rejected = Disconnect(
        status=403, headers={"Server": "x"}, kind=DisconnectKind.HANDSHAKE
    ).to_error()
    assert isinstance(rejected, HandshakeRejected)
    assert (rejected.status, rejected.headers) == (403, {"Server": "x"})
    tls = Disconnect(detail="certificate verify failed", kind=DisconnectKind.TLS).to_error()
    assert isinstance(tls, ConnectionFailed)
    assert tls.kind == "tls"
    assert "certificate verify failed" in str(tls)
    assert isinstance(Disconnect(1009, kind=DisconnectKind.PROTOCOL).to_error(), FatalClose)


def test_describe() -> None:
    d = Disconnect(1002, "x", received_code=1006, kind=DisconnectKind.CLOSE)
    assert d.describe() == "close, code 1002, received 1006, reason 'x'"
    assert (
        Disconnect(status=429, kind=DisconnectKind.HANDSHAKE).describe() == "handshake, status 429"
    )


def test_describe_keeps_the_detail_that_says_what_failed() -> None:
    """The CLI and RetriesExhausted show it: a DNS failure names the host error."""
    dns = Disconnect(detail="ClientConnectorDNSError: Name or service not known", kind=DNS)
    assert dns.describe() == "dns, ClientConnectorDNSError: Name or service not known"
    assert Disconnect(kind=DNS).describe() == "dns"
    full = Disconnect(4001, "bye", detail="d", status=None, kind=DisconnectKind.CLOSE)
    assert full.describe() == "close, code 4001, reason 'bye', d"


def test_a_failure_without_a_code_raises_connection_failed_with_its_detail() -> None:
    error = Disconnect(detail="ClientConnectorDNSError: no such host", kind=DNS).to_error()
    assert isinstance(error, ConnectionFailed)
    assert str(error) == "connection failed (dns): ClientConnectorDNSError: no such host"
    assert str(Disconnect(kind=DNS).to_error()) == "connection failed (dns): dns"


def test_a_close_frame_code_is_kept_as_sent() -> None:
    for code in (1000, 1003, 1007, 1014, 3000, 4999):
        assert Disconnect.from_close_frame(code, "r") == Disconnect(code, "r")


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (1000, "NORMAL_CLOSURE"),
        (1001, "GOING_AWAY"),
        (1002, "PROTOCOL_ERROR"),
        (1003, "UNSUPPORTED_DATA"),
        (1004, "INVALID"),
        (1005, "NO_STATUS_RCVD"),
        (1006, "ABNORMAL_CLOSURE"),
        (1007, "INVALID_PAYLOAD_DATA"),
        (1008, "POLICY_VIOLATION"),
        (1009, "MESSAGE_TOO_BIG"),
        (1010, "MANDATORY_EXTENSION"),
        (1011, "INTERNAL_ERROR"),
        (1012, "SERVICE_RESTART"),
        (1013, "TRY_AGAIN_LATER"),
        (1014, "BAD_GATEWAY"),
        (1015, "TLS_HANDSHAKE"),
        (1016, "INVALID"),
        (2999, "INVALID"),
        (3000, "REGISTERED"),
        (3999, "REGISTERED"),
        (4000, "APPLICATION"),
        (4999, "APPLICATION"),
        (5000, "INVALID"),
    ],
)
def test_close_code_names_follow_the_iana_registry(code: int, name: str) -> None:
    """What the CLI prints beside a code."""
    assert close_code_name(code) == name


@pytest.mark.parametrize(
    ("kind", "by"),
    [
        (DisconnectKind.CLOSE, Initiator.SERVER),
        (DisconnectKind.HANDSHAKE, Initiator.SERVER),
        (DisconnectKind.PROTOCOL, Initiator.CLIENT),
        (DisconnectKind.HEARTBEAT, Initiator.CLIENT),
        (DisconnectKind.STALE, Initiator.CLIENT),
        (DisconnectKind.USER, Initiator.CLIENT),
        (DisconnectKind.FORCED, Initiator.CLIENT),
        (DisconnectKind.ROTATE, Initiator.CLIENT),
        (DisconnectKind.LOST, Initiator.TRANSPORT),
        (DisconnectKind.DNS, Initiator.TRANSPORT),
        (DisconnectKind.TLS, Initiator.TRANSPORT),
    ],
)
def test_who_ended_it(kind: DisconnectKind, by: Initiator) -> None:
    """The ``initiated_by`` of every Disconnected event."""
    assert Disconnect(1000, kind=kind).initiated_by is by


def test_a_handshake_failure_without_a_status_is_not_a_rejection() -> None:
    """HandshakeRejected always carries the status the server sent."""
    error = Disconnect(kind=DisconnectKind.HANDSHAKE, detail="no response").to_error()
    assert isinstance(error, ConnectionFailed)
    frame = Disconnect(1011, status=None).to_error()
    assert isinstance(frame, FatalClose)
