"""JSON Pointer (RFC 6901): the examples of section 5, escapes, and errors."""

from __future__ import annotations

from typing import Any

import pytest

from wsclient.pointer import parse_pointer, resolve

# RFC 6901 section 5.
DOCUMENT: dict[str, Any] = {
    "foo": ["bar", "baz"],
    "": 0,
    "a/b": 1,
    "c%d": 2,
    "e^f": 3,
    "g|h": 4,
    "i\\j": 5,
    'k"l': 6,
    " ": 7,
    "m~n": 8,
}


@pytest.mark.parametrize(
    ("pointer", "value"),
    [
        ("", DOCUMENT),
        ("/foo", ["bar", "baz"]),
        ("/foo/0", "bar"),
        ("/", 0),
        ("/a~1b", 1),
        ("/c%d", 2),
        ("/e^f", 3),
        ("/g|h", 4),
        ("/i\\j", 5),
        ('/k"l', 6),
        ("/ ", 7),
        ("/m~0n", 8),
    ],
)
def test_the_examples_of_rfc_6901_resolve_as_the_rfc_says(pointer: str, value: Any) -> None:
    assert resolve(DOCUMENT, parse_pointer(pointer)) == value


def test_tilde_one_is_unescaped_before_tilde_zero() -> None:
    """'~01' is the text '~1' (RFC 6901 section 4), not '/'."""
    assert parse_pointer("/~01") == ("~1",)
    assert resolve({"~1": "right", "/": "wrong"}, parse_pointer("/~01")) == "right"


def test_a_deep_pointer_goes_through_objects_and_arrays() -> None:
    message = {"data": {"trades": [{"id": 7}, {"id": 8}]}}
    assert resolve(message, parse_pointer("/data/trades/1/id")) == 8


@pytest.mark.parametrize(
    ("pointer", "words"),
    [("seq", "must start with '/'"), ("/a~2b", "'~' must be followed by 0 or 1"), ("/a~", "~")],
)
def test_a_malformed_pointer_is_a_value_error_that_says_why(pointer: str, words: str) -> None:
    with pytest.raises(ValueError, match=words) as caught:
        parse_pointer(pointer)
    assert repr(pointer) in str(caught.value)


@pytest.mark.parametrize(
    ("pointer", "words"),
    [
        ("/bar", "no member 'bar' at token 1"),
        ("/foo/2", "no index '2' in an array of 2 at token 2"),
        ("/foo/01", "no index '01'"),  # leading zeros are not indices
        ("/foo/-", "no index '-'"),  # the element after the last: never a value
        ("/foo/0/x", "token 3 ('x') goes into a str"),
    ],
)
def test_a_pointer_to_nothing_is_a_lookup_error_naming_the_token(pointer: str, words: str) -> None:
    with pytest.raises(LookupError, match=words.replace("(", r"\(").replace(")", r"\)")):
        resolve(DOCUMENT, parse_pointer(pointer))


def test_a_pointer_is_text() -> None:
    with pytest.raises(TypeError, match="a JSON Pointer is a str, got int"):
        parse_pointer(3)  # type: ignore[arg-type]
