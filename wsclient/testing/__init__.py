"""Tools for testing code that uses wsclient: virtual time and a fault server.

``FakeClock`` runs backoffs, hold-offs, heartbeats and timeouts in virtual
time, so a test of a 5-30 s reconnect takes milliseconds; ``FaultServer`` plays a
script of closes, drops, stalls and rejections on loopback.
"""

from .clock import FakeClock
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
    "close_frame",
]
