"""A connection's state, and the telling of its life.

Every state change is checked against the transition table (an illegal one
raises ``InvalidState`` and changes nothing); every event goes to
``on_event`` (whose errors are logged, never raised into the connection);
the log gets one line per step of the connection's life.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .disconnect import Disconnect, Initiator
from .events import (
    Connected,
    ConnectFailed,
    Disconnected,
    Event,
    HoldingOff,
    ReconnectScheduled,
)
from .options import OnEvent
from .plan import state_after
from .policy import Decision
from .retry import Retry
from .state import State, check_transition
from .tasks import result

__all__ = ["Lifecycle", "notify"]

logger = logging.getLogger("wsclient")


async def notify(
    on_event: OnEvent | None, event: Event, extra: Mapping[str, object] | None = None
) -> None:
    """Tell ``on_event``; what it raises is logged (with ``extra``), never raised here."""
    if on_event is None:
        return
    try:
        await result(on_event(event))
    except Exception:
        logger.exception(
            "on_event raised on %s; the connection carries on", type(event).__name__, extra=extra
        )


@dataclass(frozen=True, slots=True)
class Leftovers:
    """What a socket that ended left behind, for its ``Disconnected`` event."""

    paused: float = 0.0  # seconds its reader waited for a slow consumer
    unconfirmed: int = 0  # sends it took without confirming them
    given_up: int = 0  # of those, not to be sent again


# Seconds of paused reading worth a warning when the peer or the transport
# ended the socket: a burst pauses the reader for moments; a server's
# keepalive drops a client that stopped reading after many seconds.
_LONG_PAUSE = 5.0


class Lifecycle:
    """The state of one connection and what it tells about itself.

    Args:
        on_event: The application's callback, if any.
        url: Gives the current endpoint, redacted (it changes on failover).
        name: The connection's name, a field of its log records
            (``record.wsclient_name``): a handler can tell connections apart.
    """

    __slots__ = ("_on_event", "_url", "_warned", "extra", "state")

    def __init__(self, on_event: OnEvent | None, url: Callable[[], str], name: str) -> None:
        self._on_event = on_event
        self._url = url
        self.extra = {"wsclient_name": name}
        self._warned = False  # about a malformed Retry-After
        self.state = State.IDLE

    def set_state(self, new: State) -> None:
        """Enter ``new``; ``InvalidState`` if the transition table forbids it."""
        old = self.state
        if new is not old:
            check_transition(old, new)
            self.state = new
            logger.debug("%s: %s -> %s", self._url(), old, new, extra=self.extra)

    async def emit(self, event: Event) -> None:
        """Tell ``on_event`` (see :func:`notify`)."""
        await notify(self._on_event, event, self.extra)

    async def connected(self, attempt: int) -> None:
        """A socket is open."""
        self.set_state(State.CONNECTED)
        url = self._url()
        logger.info("connected to %s (attempt %d)", url, attempt, extra=self.extra)
        await self.emit(Connected(url, attempt))

    async def ended(
        self,
        disconnect: Disconnect,
        decision: Decision,
        attempt: int,
        connected: bool,
        left: Leftovers | None = None,
    ) -> None:
        """A socket ended (``connected``, with what it ``left``), or an attempt
        failed, and this is what was decided."""
        left = left or Leftovers()
        self.set_state(state_after(decision))
        url = self._url()
        if logger.isEnabledFor(logging.INFO):
            logger.info("%s: %s -> %s", url, disconnect.describe(), decision, extra=self.extra)
        if left.paused >= _LONG_PAUSE and disconnect.initiated_by is not Initiator.CLIENT:
            logger.warning(
                "%s: the reader was paused %.1f s before this end: the consumer fell "
                "max_queue behind, and servers drop clients that stop reading",
                url,
                left.paused,
                extra=self.extra,
            )
        if left.given_up:
            logger.warning(
                "%s: %d send(s) may not have reached the server (no pong confirmed them "
                "before the socket ended); see Connection.unconfirmed",
                url,
                left.given_up,
                extra=self.extra,
            )
        elif left.unconfirmed:
            logger.info(
                "%s: %d unconfirmed send(s) go again", url, left.unconfirmed, extra=self.extra
            )
        value = disconnect.headers.get("Retry-After")
        if value is not None and disconnect.retry_after is None and not self._warned:
            self._warned = True
            logger.warning(
                "%s: ignoring a malformed Retry-After: %r", url, value, extra=self.extra
            )
        if connected:
            code, reason, by = disconnect.code, disconnect.reason, disconnect.initiated_by
            event = Disconnected(code, reason, by, disconnect, left.paused, left.unconfirmed)
            await self.emit(event)
        else:
            await self.emit(ConnectFailed(url, attempt, disconnect))

    async def scheduled(self, attempt: int, delay: float, retry: Retry, *, holding: bool) -> None:
        """The next attempt comes after ``delay`` seconds."""
        decision, url = retry.decision, self._url()
        logger.info("%s: next attempt in %.3f s (%s)", url, delay, decision, extra=self.extra)
        await self.emit(ReconnectScheduled(attempt, delay, decision, retry.disconnect, url))
        if holding:
            await self.emit(HoldingOff(delay, decision.reason, attempt))
