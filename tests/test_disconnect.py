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
from wsclient.disconnect import is_valid_wire_code


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


def test_initiated_by() -> None:
    assert Disconnect(1000, kind=DisconnectKind.CLOSE).initiated_by is Initiator.SERVER
    assert Disconnect(1006, kind=DisconnectKind.HEARTBEAT).initiated_by is Initiator.CLIENT
    assert Disconnect(1006, kind=DisconnectKind.LOST).initiated_by is Initiator.TRANSPORT


def test_describe() -> None:
    d = Disconnect(1002, "x", received_code=1006, kind=DisconnectKind.CLOSE)
    assert d.describe() == "close, code 1002, received 1006, reason 'x'"
    assert (
        Disconnect(status=429, kind=DisconnectKind.HANDSHAKE).describe() == "handshake, status 429"
    )
