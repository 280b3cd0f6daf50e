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
    rejected = Disconnect(DisconnectKind.HANDSHAKE, status=403, headers={"Server": "x"}).to_error()
    assert isinstance(rejected, HandshakeRejected)
    assert (rejected.status, rejected.headers) == (403, {"Server": "x"})
    tls = Disconnect(DisconnectKind.TLS, detail="certificate verify failed").to_error()
    assert isinstance(tls, ConnectionFailed)
    assert tls.kind == "tls"
    assert "certificate verify failed" in str(tls)
    assert isinstance(Disconnect(DisconnectKind.PROTOCOL, 1009).to_error(), FatalClose)


def test_initiated_by() -> None:
    assert Disconnect(DisconnectKind.CLOSE, 1000).initiated_by is Initiator.SERVER
    assert Disconnect(DisconnectKind.HEARTBEAT, 1006).initiated_by is Initiator.CLIENT
    assert Disconnect(DisconnectKind.LOST, 1006).initiated_by is Initiator.TRANSPORT


def test_describe() -> None:
    d = Disconnect(DisconnectKind.CLOSE, 1002, "x", received_code=1006)
    assert d.describe() == "close, code 1002, received 1006, reason 'x'"
    assert Disconnect(DisconnectKind.HANDSHAKE, status=429).describe() == "handshake, status 429"
