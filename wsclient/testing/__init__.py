"""Tools for testing code that uses wsclient: virtual time and a fault server.

``FakeClock`` runs backoffs, hold-offs, heartbeats and timeouts in virtual
time, so a test of a 5-30 s reconnect takes milliseconds; ``FaultServer`` plays a
script of closes, drops, stalls and rejections on loopback. This module is also
a pytest plugin (``pytest_plugins = ["wsclient.testing"]``) with the fixtures
``fake_clock`` and ``ws_server``: see ``wsclient.testing.plugin``.
"""

import contextlib

from .clock import FakeClock, VirtualTimeExceeded
from .server import (
    Close,
    CloseFrame,
    Drop,
    FaultServer,
    Hold,
    Pause,
    Raw,
    Receive,
    Reject,
    Reset,
    Send,
    Stall,
    Step,
    close_frame,
)

with contextlib.suppress(ImportError):  # the pytest plugin; absent without pytest
    from .plugin import fake_clock as fake_clock
    from .plugin import ws_server as ws_server

__all__ = [
    "Close",
    "CloseFrame",
    "Drop",
    "FakeClock",
    "FaultServer",
    "Hold",
    "Pause",
    "Raw",
    "Receive",
    "Reject",
    "Reset",
    "Send",
    "Stall",
    "Step",
    "VirtualTimeExceeded",
    "close_frame",
]
