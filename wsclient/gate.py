"""The gate of a socket: what happens between its handshake and its going live.

Until ``on_connect`` has returned, the messages the socket receives wait in
``early``, where only ``on_connect`` reads them, and only its sends go
straight to the socket. Then the subscriptions are sent. Once the link is
adopted (at once, except for a rotation's successor), it is ``live``: what
it reads goes to the application. Sends made elsewhere keep going to the
outbox until the outbox (the unconfirmed sends to resend first) has been
flushed onto the socket (``sending``), so none overtakes one made while the
connection was down.

:class:`Gate` is the base of :class:`~wsclient.link.Link`: the gate's state
and steps, kept apart from the socket's reading, writing and ending, at no
cost of an object per socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections import deque
from collections.abc import Coroutine, Hashable
from typing import TYPE_CHECKING, Any, cast

from aiohttp import WSMessage

from .clock import DeadlineExceeded, deadline
from .disconnect import Disconnect, DisconnectKind
from .errors import ConnectionClosed, InvalidState
from .tasks import result, settle

if TYPE_CHECKING:
    from .link import Link, Parts
    from .outbox import Outgoing

__all__ = ["Gate", "current_hook", "hook_of"]

# The link whose on_connect runs in this context: set for the gate task and so
# for whatever it spawns (such as the inner task of wait_for on Python 3.11).
current_hook: contextvars.ContextVar[Link | None] = contextvars.ContextVar(
    "wsclient_on_connect", default=None
)


def hook_of(parts: Parts) -> Link | None:
    """The socket whose on_connect runs in this context, if it is of the
    connection whose parts are ``parts``, not live yet and not retired (code
    that on_connect started and that outlives it reads and writes like the
    application)."""
    hook = current_hook.get()
    if hook is None or hook.parts is not parts or hook.live or hook.retired:
        return None
    return hook


class Gate:
    """A socket's gate: on_connect, the subscriptions, the flush, going live."""

    __slots__ = (
        "adopted",
        "early",
        "hook_done",
        "hook_error",
        "live",
        "sending",
        "subscribed",
        "waiter",
    )

    if TYPE_CHECKING:  # the socket's side, which Link provides
        parts: Parts
        ending: Disconnect | None
        retired: bool

        def spawn(
            self,
            coro: Coroutine[Any, Any, Any],
            name: str,
            context: contextvars.Context | None = None,
            *,
            transient: bool = False,
        ) -> asyncio.Task[Any]: ...
        def lose(self, detail: str, kind: DisconnectKind = DisconnectKind.LOST) -> None: ...
        def close(self, why: Disconnect) -> None: ...
        async def write(
            self, message: Outgoing, strikes: int = 0, *, confirm: bool = False
        ) -> None: ...
        async def send(self, message: Outgoing, strikes: int = 0) -> None: ...

    def open_gate(self, *, adopted: bool, hooked: bool) -> None:
        """Set the gate up, closed (``hooked``: there is an on_connect)."""
        self.adopted = adopted  # False for a rotation's successor until adopted
        self.hook_done = not hooked  # on_connect has returned
        self.hook_error: BaseException | None = None  # on_connect raised this
        self.live = False  # what it reads goes to the application
        self.sending = False  # sends go straight to it (the outbox is flushed)
        self.subscribed: dict[Hashable, int] | None = None  # subscriptions sent: versions
        self.early: deque[WSMessage] | None = None  # before the gate opens (made lazily)
        self.waiter: asyncio.Future[None] | None = None  # on_connect waits on early

    def proceed(self) -> asyncio.Task[None] | None:
        """Open the gate as far as it goes now: run on_connect (in a task whose
        context makes it read and write this socket), send the subscriptions;
        then, if adopted, go live and flush the outbox. Returns the gate's
        task, if one runs."""
        parts = self.parts
        if not self.hook_done or parts.subscriptions.owed(self.subscribed):
            context = contextvars.copy_context()
            context.run(current_hook.set, cast("Link", self))
            return self.spawn(self._gate(), "on_connect", context)
        if not self.adopted:
            return None
        self._let_through()
        if len(parts.outbox):
            return self.spawn(self._flush(), "flush")
        self.sending = True
        return None

    async def _gate(self) -> None:
        if not self.hook_done and not await self._run_hook():
            return
        if self.adopted:
            self._let_through()
            await self._flush()
        else:  # a rotation's successor: set up now, goes live once adopted
            with contextlib.suppress(ConnectionError):  # (its reader says how it ended)
                await self.parts.subscriptions.replay(self.sent_subscriptions(), self.write)

    async def _run_hook(self) -> bool:
        """on_connect, bounded by open_timeout; False if it failed (the socket
        is on its way out then)."""
        parts = self.parts
        assert parts.on_connect is not None
        try:
            async with deadline(parts.clock, parts.options.open_timeout):
                await result(parts.on_connect())
                # Done as it returns: the deadline's exit may still wait (on a
                # clock of its own), and the socket may end meanwhile.
                self.hook_done = True
        except DeadlineExceeded:
            if not self.hook_done:  # (else it ran out only as on_connect returned)
                detail = "on_connect did not finish within open_timeout"
                self.lose(detail, DisconnectKind.TIMEOUT)
        except ConnectionError:
            self.lose("the connection dropped while on_connect ran")
        except Exception as exc:
            if self.ending is None:  # the socket is fine: on_connect itself failed
                self.hook_error = exc
                self.close(Disconnect(1011, "on_connect failed", kind=DisconnectKind.USER))
        return self.hook_done

    async def _flush(self) -> None:
        """Send the subscriptions the socket lacks, then flush the outbox (not
        bounded by open_timeout: a paced flush may take long; a peer that
        stopped reading is the heartbeat's to find)."""
        subscriptions, outbox = self.parts.subscriptions, self.parts.outbox
        try:
            while True:
                await subscriptions.replay(self.sent_subscriptions(), self.write)
                await outbox.flush(self.send)
                if not subscriptions.owed(self.subscribed):
                    break
        except ConnectionError:
            self.lose("the connection dropped while the outbox was flushed")
            return
        # No await between the last look at both and sends going straight to
        # the socket: a send (or subscription) made meanwhile waited and was
        # sent; from here on, sends go straight to it, after those.
        if self.ending is None:
            self.sending = True

    def sent_subscriptions(self) -> dict[Hashable, int]:
        """The names of the subscriptions this socket was sent (made when
        first needed)."""
        if self.subscribed is None:
            self.subscribed = {}
        return self.subscribed

    def _let_through(self) -> None:
        """The early messages, then all the socket reads, go to the
        application, after all that earlier sockets delivered."""
        if self.live:
            return
        self.live = True
        self.parts.inbox.begin()
        early, self.early = self.early, None
        if early:
            self.parts.inbox.extend(early)
        self._wake_hook()

    async def receive(self) -> WSMessage | None:
        """on_connect's next message from this socket; ``None`` once the gate
        has opened (from then on its code reads the inbox like anyone)."""
        while True:
            if self.early:
                return self.early.popleft()
            if self.live:
                return None
            if self.ending is not None or self.retired:
                raise ConnectionClosed("the connection dropped while on_connect ran")
            if self.waiter is not None:
                raise InvalidState("another task is already receiving from this connection")
            waiter = self.waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                if self.waiter is waiter:
                    self.waiter = None

    def _wake_hook(self) -> None:
        waiter, self.waiter = self.waiter, None
        settle(waiter)

    def _hold(self, msg: WSMessage) -> None:
        if self.live:  # the gate opened while the reader waited
            self.parts.inbox.extend((msg,))
            return
        if self.early is None:
            self.early = deque()
        self.early.append(msg)
        self._wake_hook()
