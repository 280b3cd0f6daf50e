"""JSON Pointer (RFC 6901): the path to one value inside a JSON document.

Pure: the bridge uses it to take each message's id (``/seq``, ``/data/u``)
out of the message. ``~1`` stands for ``/`` and ``~0`` for ``~`` inside a
reference token; a token into an array is an index without leading zeros.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["parse_pointer", "resolve"]

_INDEX = re.compile(r"0|[1-9][0-9]*")
_BAD_ESCAPE = re.compile(r"~(?![01])")


def parse_pointer(pointer: str) -> tuple[str, ...]:
    """The reference tokens of ``pointer``, unescaped.

    Raises:
        ValueError: ``pointer`` is not a JSON Pointer (it does not start with
            ``/``, or has a ``~`` not followed by ``0`` or ``1``).
    """
    if not isinstance(pointer, str):
        raise TypeError(f"a JSON Pointer is a str, got {type(pointer).__name__}")
    if pointer == "":
        return ()
    if not pointer.startswith("/"):
        raise ValueError(f"JSON Pointer {pointer!r} must start with '/' (e.g. '/{pointer}')")
    if _BAD_ESCAPE.search(pointer):
        raise ValueError(f"JSON Pointer {pointer!r}: '~' must be followed by 0 or 1 (~0, ~1)")
    # ~1 first, then ~0: "~01" is the text "~1", not "/" (RFC 6901 section 4).
    return tuple(t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/"))


def resolve(document: Any, tokens: tuple[str, ...]) -> Any:
    """The value ``tokens`` (from :func:`parse_pointer`) point at in ``document``.

    Raises:
        LookupError: no such value; the message says which token failed.
    """
    value = document
    for depth, token in enumerate(tokens):
        if isinstance(value, dict):
            if token not in value:
                raise LookupError(f"no member {token!r} at token {depth + 1}")
            value = value[token]
        elif isinstance(value, list):
            if not _INDEX.fullmatch(token) or int(token) >= len(value):
                raise LookupError(
                    f"no index {token!r} in an array of {len(value)} at token {depth + 1}"
                )
            value = value[int(token)]
        else:
            raise LookupError(f"token {depth + 1} ({token!r}) goes into a {type(value).__name__}")
    return value
