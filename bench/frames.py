"""The WebSocket wire format, as far as the benchmark server needs it.

The server is hand-written so that it costs next to nothing per message: it
answers the opening handshake itself (RFC 6455 §4.2.2), writes frames built
once in advance (server frames are never masked, §5.1), and parses the few
frames a client sends (masked: pings, pongs, the close frame).
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass

__all__ = [
    "CLOSE",
    "PING",
    "PONG",
    "TEXT",
    "ClientFrames",
    "Request",
    "accept_key",
    "close_frame",
    "frame",
    "handshake_response",
    "parse_request",
    "payload",
    "text_frame",
]

TEXT = 0x1
CLOSE = 0x8
PING = 0x9
PONG = 0xA

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` value answering a ``Sec-WebSocket-Key``."""
    digest = hashlib.sha1(key.strip().encode() + _GUID, usedforsecurity=False).digest()
    return base64.b64encode(digest).decode()


def frame(opcode: int, data: bytes) -> bytes:
    """One unmasked, final frame (what a server sends)."""
    size = len(data)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return header + data


def text_frame(text: str) -> bytes:
    """One TEXT frame."""
    return frame(TEXT, text.encode())


def close_frame(code: int, reason: str = "") -> bytes:
    """A CLOSE frame with a status code and a (short) reason."""
    return frame(CLOSE, struct.pack("!H", code) + reason.encode()[:123])


def payload(size: int) -> str:
    """An ASCII text of exactly ``size`` bytes that looks like a market-data
    message (JSON), padded with a filler field; just the filler if too small."""
    head = '{"ch":"trades","sym":"BTC-USD","px":"64123.5","qty":"0.0125","pad":"'
    tail = '"}'
    filler = size - len(head) - len(tail)
    if filler < 0:
        return "x" * size
    return head + "x" * filler + tail


@dataclass(frozen=True, slots=True)
class Request:
    """What the server needs from an opening handshake request."""

    path: str
    query: dict[str, str]
    key: str


def parse_request(head: bytes) -> Request:
    """Read the request line and ``Sec-WebSocket-Key`` of a handshake.

    Raises:
        ValueError: not a WebSocket upgrade request.
    """
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    if method != "GET":
        raise ValueError(f"not a GET: {method}")
    path, _, query_string = target.partition("?")
    query = dict(part.partition("=")[::2] for part in query_string.split("&") if part)
    key = ""
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "sec-websocket-key":
            key = value.strip()
    if not key:
        raise ValueError("no Sec-WebSocket-Key")
    return Request(path, query, key)


def handshake_response(key: str) -> bytes:
    """``101 Switching Protocols``, with no extension and no subprotocol (so
    every client receives the same uncompressed frames)."""
    return (
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_key(key)}\r\n"
        "\r\n"
    ).encode()


class ClientFrames:
    """An incremental parser of the (masked) frames a client sends.

    Feed it bytes; it returns the complete frames as ``(opcode, payload)``.
    Fragmented data messages are not reassembled: the benchmark's clients
    only send control frames.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Add ``data``; return the frames it completed."""
        self._buffer += data
        frames: list[tuple[int, bytes]] = []
        while (parsed := self._next()) is not None:
            frames.append(parsed)
        return frames

    def _next(self) -> tuple[int, bytes] | None:
        buf = self._buffer
        if len(buf) < 2:
            return None
        opcode, masked, size = buf[0] & 0x0F, bool(buf[1] & 0x80), buf[1] & 0x7F
        offset = 2
        if size >= 126:  # the length follows, in 2 or 8 bytes
            length = "!H" if size == 126 else "!Q"
            offset += struct.calcsize(length)
            if len(buf) < offset:
                return None
            (size,) = struct.unpack_from(length, buf, 2)
        mask = b""
        if masked:
            mask = bytes(buf[offset : offset + 4])
            offset += 4
        if len(buf) < offset + size:
            return None
        data = bytes(buf[offset : offset + size])
        del buf[: offset + size]
        if masked and data:
            data = _unmask(data, mask)
        return opcode, data


def _unmask(data: bytes, mask: bytes) -> bytes:
    """Undo a client's masking (§5.3), XOR-ing the payload as one integer."""
    size = len(data)
    key = int.from_bytes((mask * (size // 4 + 1))[:size], "big")
    return (int.from_bytes(data, "big") ^ key).to_bytes(size, "big")
