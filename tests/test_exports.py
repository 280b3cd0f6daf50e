"""The public API is explicit: __init__ only re-exports, with a sorted __all__."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import wsclient
import wsclient.testing

PACKAGE = Path(wsclient.__file__).parent


def test_all_is_sorted_and_complete() -> None:
    assert wsclient.__all__ == sorted(wsclient.__all__)
    for name in wsclient.__all__:
        assert getattr(wsclient, name) is not None, name
    public = {n for n in vars(wsclient) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(wsclient, n)).__name__ == "module"}
    assert public - modules == set(wsclient.__all__)


def test_init_only_reexports() -> None:
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    for node in tree.body:
        assert isinstance(node, ast.ImportFrom | ast.Assign | ast.Expr), ast.dump(node)


def test_the_contract_names_exist() -> None:
    for name in (
        "connect", "Session", "Connection", "ReconnectPolicy", "Reconnect", "HoldOff", "Fail",
        "Stop", "Connected", "Disconnected", "ReconnectScheduled", "HoldingOff", "GaveUp",
        "WSClientError", "FatalClose", "HandshakeRejected", "RetriesExhausted", "BufferFull",
        "InvalidState",
    ):  # fmt: skip
        assert name in wsclient.__all__, name
    assert issubclass(wsclient.FatalClose, wsclient.WSClientError)
    assert wsclient.testing.FakeClock is not None


def test_every_public_name_and_method_has_a_docstring() -> None:
    missing = []
    for module in (wsclient, wsclient.testing):
        for name in module.__all__:
            obj = getattr(module, name)
            if not (inspect.getdoc(obj) or "").strip():
                missing.append(name)
            if inspect.isclass(obj):
                for attr, value in vars(obj).items():
                    function = value.fget if isinstance(value, property) else value
                    function = getattr(function, "__func__", function)
                    if not attr.startswith("_") and callable(function) and not function.__doc__:
                        missing.append(f"{name}.{attr}")
    assert missing == []


def test_py_typed_is_shipped() -> None:
    assert (PACKAGE / "py.typed").exists()


def test_events_are_frozen_and_slotted() -> None:
    event = wsclient.Connected("ws://h/", 1)
    assert not hasattr(event, "__dict__")
    try:
        event.attempt = 2  # type: ignore[misc]
    except AttributeError:
        pass
    else:  # pragma: no cover
        raise AssertionError("events must be frozen")
