"""wsclient: a resilient async WebSocket client on aiohttp and tenacity.

Every way a connection ends becomes a ``Disconnect``; a ``ReconnectPolicy``
turns it into a decision (reconnect, hold off, fail, stop), and a
``Connection`` acts on it while the application iterates over messages.
"""

from logging import NullHandler as _NullHandler
from logging import getLogger as _getLogger

from .backoff import Doubling, Exponential, Uniform
from .budget import ReconnectBudget
from .clock import Clock, ScaledClock, SystemClock
from .connection import Connection
from .disconnect import Disconnect, DisconnectKind, Initiator
from .errors import (
    BufferFull,
    ConnectionClosed,
    ConnectionFailed,
    FatalClose,
    HandshakeRejected,
    InvalidState,
    RetriesExhausted,
    WSClientError,
)
from .events import (
    Connected,
    ConnectFailed,
    Disconnected,
    Event,
    Gap,
    GaveUp,
    HoldingOff,
    Reconnected,
    ReconnectScheduled,
    Stale,
)
from .policy import Decision, Fail, HoldOff, Reconnect, ReconnectPolicy, Refresh, Stop
from .sequence import Resync
from .session import Session, connect
from .state import State
from .stats import Stats
from .transport import ResponseHeaders

__all__ = [
    "BufferFull",
    "Clock",
    "ConnectFailed",
    "Connected",
    "Connection",
    "ConnectionClosed",
    "ConnectionFailed",
    "Decision",
    "Disconnect",
    "DisconnectKind",
    "Disconnected",
    "Doubling",
    "Event",
    "Exponential",
    "Fail",
    "FatalClose",
    "Gap",
    "GaveUp",
    "HandshakeRejected",
    "HoldOff",
    "HoldingOff",
    "Initiator",
    "InvalidState",
    "Reconnect",
    "ReconnectBudget",
    "ReconnectPolicy",
    "ReconnectScheduled",
    "Reconnected",
    "Refresh",
    "ResponseHeaders",
    "Resync",
    "RetriesExhausted",
    "ScaledClock",
    "Session",
    "Stale",
    "State",
    "Stats",
    "Stop",
    "SystemClock",
    "Uniform",
    "WSClientError",
    "connect",
]

# A library's logger gets a NullHandler (logging HOWTO, "Configuring Logging
# for a Library"): without one, an application that configures no logging
# would see wsclient's warnings on stderr through logging.lastResort.
_getLogger("wsclient").addHandler(_NullHandler())
