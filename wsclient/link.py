"""One WebSocket of a connection, and everything that dies with it.

A :class:`Link` lives from a successful handshake to the end of its socket.
It owns the socket's helpers (tasks: the gate, a rotation, a ping awaiting
its pong; watchers on timers: the heartbeat, the stale watchdog), answers
pings and close frames, counts pongs, writes, ends the socket with a closing
handshake (:meth:`Link.close`) or drops it at once (:meth:`Link.lose`), and
finally retires it (:meth:`Link.retire`).

The gate: until ``on_connect`` has returned, the messages the socket
receives wait in ``early``, where only ``on_connect`` reads them, and only
its sends go straight to the socket. Once it has returned and the link is
adopted (at once, except for a rotation's successor), the link is ``live``:
what it reads goes to the application. Sends made elsewhere keep going to
the outbox until the outbox has been flushed onto the socket (``sending``),
so none overtakes one made while the connection was down.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import WSMessage, WSMsgType
from yarl import URL

from .clock import Clock, DeadlineExceeded, Timer, call_later, deadline
from .disconnect import Disconnect, DisconnectKind
from .errors import ConnectionClosed, InvalidState
from .fence import Fence
from .inbox import Inbox
from .options import Options
from .outbox import Outbox, Outgoing, Pacer
from .redact import Redactor
from .stats import Meter
from .subscriptions import Subscriptions
from .tasks import await_all, result, settle
from .transport import Socket, Transport, close_reply, from_exception, from_message

__all__ = ["Link", "Parts", "Watcher", "current_hook", "dial"]

# A ping this long after a send (so a burst shares one), at most one a second
# (so a steady sender does not double its frames): its pong confirms them.
_CONFIRM_AFTER = 0.05
_CONFIRM_EVERY = 1.0

_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY

# The link whose on_connect runs in this context: set for the gate task and so
# for whatever it spawns (such as the inner task of wait_for on Python 3.11).
current_hook: contextvars.ContextVar[Link | None] = contextvars.ContextVar(
    "wsclient_on_connect", default=None
)


class Watcher(Protocol):
    """A helper of a link that runs on timers (the heartbeat, the watchdog)."""

    def stop(self) -> None:
        """The socket is gone: cancel what is pending."""
        ...


@dataclass(frozen=True, slots=True)
class Parts:
    """What the sockets of one connection share."""

    transport: Transport
    options: Options
    clock: Clock  # options.clock: one hop less on every read
    redactor: Redactor
    meter: Meter
    inbox: Inbox
    outbox: Outbox
    pacer: Pacer | None  # send_rate
    subscriptions: Subscriptions
    on_connect: Callable[[], Awaitable[None] | None] | None  # bound to its connection


async def dial(
    parts: Parts, url: URL, headers: Mapping[str, str] | None, *, adopted: bool
) -> Link | Disconnect:
    """The opening handshake, bounded by open_timeout: a new link, or why
    there is none (an exception that is not about the network propagates)."""
    ws = None
    try:
        async with deadline(parts.clock, parts.options.open_timeout):
            ws = await parts.transport.open(url, headers, parts.options)
    except BaseException as exc:
        if ws is not None:  # the handshake succeeded just before the end
            parts.transport.abort(ws)
        failure = from_exception(exc, parts.redactor)
        if failure is None:
            raise
        return failure
    return Link(parts, ws, parts.clock.now(), adopted=adopted)


class Link:
    """One open socket of a connection."""

    __slots__ = (
        "adopted",
        "closer",
        "early",
        "ending",
        "fence",
        "hook_done",
        "hook_error",
        "live",
        "opened_at",
        "parts",
        "pong",
        "read_at",
        "retired",
        "sending",
        "subscribed",
        "tasks",
        "waiter",
        "watchers",
        "ws",
    )

    def __init__(self, parts: Parts, ws: Socket, opened_at: float, *, adopted: bool) -> None:
        self.parts = parts
        self.ws = ws
        self.opened_at = opened_at
        self.read_at = opened_at  # when the socket last read anything
        self.adopted = adopted  # False for a rotation's successor until adopted
        self.hook_done = parts.on_connect is None  # on_connect has returned
        self.hook_error: BaseException | None = None  # on_connect raised this
        self.live = False  # what it reads goes to the application
        self.sending = False  # sends go straight to it (the outbox is flushed)
        self.subscribed: set[Hashable] | None = None  # the subscriptions it was sent
        self.early: deque[WSMessage] | None = None  # before the gate opens (made lazily)
        self.waiter: asyncio.Future[None] | None = None  # on_connect waits on early
        self.ending: Disconnect | None = None  # why wsclient ends this socket
        self.closer: asyncio.Task[None] | None = None  # the closing handshake
        self.pong: asyncio.Future[None] | None = None  # the heartbeat awaits a pong
        self.fence: Fence | None = None  # sends not yet confirmed (made at the first)
        # Helpers, made when first needed: every object a socket keeps from
        # its handshake on pins memory among the handshake's garbage.
        self.tasks: set[asyncio.Task[Any]] | None = None  # the gate, a rotation, a ping
        self.watchers: list[Watcher] | None = None  # on timers: heartbeat, watchdog
        self.retired = False
        parts.transport.on_read(ws, self._heard)

    def _heard(self) -> None:
        self.read_at = self.parts.clock.now()

    # -- the gate ---------------------------------------------------------------------

    def proceed(self) -> asyncio.Task[None] | None:
        """Open the gate as far as it goes now: run on_connect (in a task whose
        context makes it read and write this socket), send the subscriptions;
        then, if adopted, go live and flush the outbox. Returns the gate's
        task, if one runs."""
        parts = self.parts
        if not self.hook_done or parts.subscriptions.owed(self.subscribed):
            context = contextvars.copy_context()
            context.run(current_hook.set, self)
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

    def sent_subscriptions(self) -> set[Hashable]:
        """The names of the subscriptions this socket was sent (made when
        first needed)."""
        if self.subscribed is None:
            self.subscribed = set()
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

    # -- reading ------------------------------------------------------------------------

    async def read_early(self) -> Disconnect | None:
        """Read until the gate opens (``None``) or the socket ends (why it did):
        while on_connect runs, its socket's messages wait in ``early``."""
        receive = self.ws.receive
        inbox = self.parts.inbox
        while not self.live:
            msg = await receive()
            if msg.type is _TEXT or msg.type is _BINARY:
                inbox.count(msg)
                self._hold(msg)
            elif (end := await self.control(msg)) is not None:
                return end
        return None

    def read(self) -> Awaitable[Disconnect]:
        """Once live: read into the inbox until the socket ends (the inbox's
        hot loop itself, with no frame of the link's above it)."""
        return self.parts.inbox.read(self.ws.receive, self)

    def _hold(self, msg: WSMessage) -> None:
        if self.live:  # the gate opened while the reader waited
            self.parts.inbox.extend((msg,))
            return
        if self.early is None:
            self.early = deque()
        self.early.append(msg)
        self._wake_hook()

    async def control(self, msg: WSMessage) -> Disconnect | None:
        """Answer a ping, count a pong; anything else ends the socket: answer
        the server's close frame, and return how it ended."""
        kind = msg.type
        if kind is WSMsgType.PING:
            with contextlib.suppress(ConnectionError):
                await self.ws.pong(msg.data)  # if closing, the next receive() says how
            return None
        parts = self.parts
        if kind is WSMsgType.PONG:
            parts.meter.pongs += 1
            parts.meter.pong_at = self.read_at = parts.clock.now()
            settle(self.pong)
            if self.fence is not None:
                self.fence.ponged(msg.data)
            return None
        if self.ending is not None:
            return self.ending
        end = from_message(msg, parts.redactor)
        if kind is WSMsgType.CLOSE:
            await self._bounded(self.ws.close(code=close_reply(end)))
        return end

    def may_pause(self) -> bool:
        """Whether the reader may wait for the consumer: not when the socket is
        ending or its transport is gone (then it can only deliver what it holds
        already, and must read on to find how it ended)."""
        return self.ending is None and self.ws.get_extra_info("peername") is not None

    # -- writing -------------------------------------------------------------------------

    async def write(self, message: Outgoing, strikes: int = 0, *, confirm: bool = False) -> None:
        """Write one message. With ``confirm`` (the application's sends, not
        on_connect's, a subscription's or a ping message: those are made
        again on every socket), a pong is to confirm it (``strikes``: see
        :data:`~wsclient.fence.Unconfirmed`).

        Raises:
            ConnectionError: the socket is ending, or its transport is closing
                (the frame was not written, or was still in a buffer that is lost).
        """
        if self.parts.pacer is not None:
            await self.parts.pacer.wait()
        if self.ending is not None:  # no data frame after a close frame (RFC 6455 §5.5.1)
            raise ConnectionResetError("the socket is closing")
        data, size = message
        try:
            if isinstance(data, str):
                await self.ws.send_str(data)
            else:
                await self.ws.send_bytes(data)
        except ConnectionError:
            self.parts.inbox.resume_reader()  # a paused reader must find out how it ended
            raise
        meter = self.parts.meter
        meter.messages_out += 1
        meter.bytes_out += size
        if not confirm:
            return
        fence = self.fence
        if fence is None:
            fence = self.fence = Fence()
        fence.wrote(message, strikes)
        if fence.timer is None:  # a ping soon after a burst, at most one a second
            delay = max(_CONFIRM_AFTER, fence.pinged_at + _CONFIRM_EVERY - self.parts.clock.now())
            fence.timer = self.later(delay, self._confirm)

    async def send(self, message: Outgoing, strikes: int = 0) -> None:
        """Write one of the application's messages (to be confirmed)."""
        await self.write(message, strikes, confirm=True)

    def _confirm(self) -> None:
        """Ping, so that the pong confirms what was written before it."""
        fence = self.fence
        if fence is None or self.retired:
            return
        fence.timer = None
        fence.pinged_at = self.parts.clock.now()
        self.spawn(self._ping(fence.marker()), "confirming ping", transient=True)

    async def _ping(self, marker: bytes) -> None:
        with contextlib.suppress(ConnectionError):  # closing: the reader says how
            await self.ws.ping(marker)

    def marker(self) -> bytes:
        """The payload for a ping now: its pong confirms the sends before it."""
        return b"" if self.fence is None else self.fence.marker()

    # -- ending ---------------------------------------------------------------------------

    def lose(self, detail: str, kind: DisconnectKind = DisconnectKind.LOST) -> None:
        """Drop the socket at once (no closing handshake): it counts as 1006."""
        if self.ending is None:
            self.ending = Disconnect(1006, kind=kind, detail=detail)
            self.parts.inbox.resume_reader()
            self.parts.transport.abort(self.ws)

    def close(self, why: Disconnect) -> None:
        """End the socket with a closing handshake, in a task of its own (so the
        caller's cancellation cannot cut it), bounded by close_timeout. Does
        nothing if the socket is on its way out already, or retired."""
        if self.ending is not None or self.retired:
            return
        self.ending = why
        self.parts.inbox.resume_reader()
        handshake = self.ws.close(code=why.code or 1000, message=why.reason.encode())
        self.closer = asyncio.create_task(self._bounded(handshake), name="wsclient close")

    async def _bounded(self, handshake: Coroutine[Any, Any, bool]) -> None:
        """A closing handshake, or the answer to the server's, on the clock; a
        peer that does not answer in close_timeout is dropped."""
        try:
            async with deadline(self.parts.clock, self.parts.options.close_timeout):
                await handshake
        except (DeadlineExceeded, ConnectionError):
            self.parts.transport.abort(self.ws)

    def spawn(
        self,
        coro: Coroutine[Any, Any, Any],
        name: str,
        context: contextvars.Context | None = None,
        *,
        transient: bool = False,
    ) -> asyncio.Task[Any]:
        """Start a helper that dies with this socket (a ``transient`` one,
        such as a ping awaiting its pong, is forgotten once done)."""
        task = asyncio.create_task(coro, name=f"wsclient {name}", context=context)
        self._own(task, transient=transient)
        return task

    def _own(self, task: asyncio.Task[Any], *, transient: bool) -> None:
        if self.tasks is None:
            self.tasks = set()
        self.tasks.add(task)
        if transient:
            task.add_done_callback(self.tasks.discard)

    def later(self, delay: float, callback: Callable[[], object]) -> Timer:
        """A timer on the clock for a watcher of this socket (which stops it
        when the socket is retired); one that runs as a task is awaited too."""
        timer = call_later(self.parts.clock, delay, callback)
        if isinstance(timer, asyncio.Task):
            self._own(timer, transient=True)
        return timer

    def watch(self, watcher: Watcher) -> None:
        """Keep a watcher, to stop it when the socket is retired."""
        if self.watchers is None:
            self.watchers = []
        self.watchers.append(watcher)

    async def halt(self) -> set[asyncio.Task[Any]]:
        """Cancel the helper tasks and await them, a closing handshake too
        (it is bounded by close_timeout); returns them, finished."""
        tasks, self.tasks = self.tasks or set(), None
        for task in tasks:
            task.cancel()
        await await_all({*tasks, *([self.closer] if self.closer else [])})
        return tasks

    async def retire(self, *, current: bool) -> None:
        """After the socket ended: stop its watchers, :meth:`halt` its
        helpers, release the socket.

        Args:
            current: This was the connection's socket (not a rotation's
                successor that was never adopted).
        """
        self.retired = True
        for watcher in self.watchers or ():
            watcher.stop()
        if self.fence is not None and self.fence.timer is not None:
            self.fence.timer.cancel()
        try:
            await self.halt()
        finally:
            self.parts.transport.abort(self.ws)
            self._wake_hook()
            # Which early messages reach the application. A successor never
            # adopted only repeats the old socket's stream: none. Until
            # on_connect has returned, what waits here is what it read or
            # would have read (the reply to its subscription, a READY that
            # came with the close frame): never the application's data, and
            # the next socket's on_connect asks again. After it returned (the
            # socket died while the outbox flushed), they are the server's
            # data: the application gets them, before the next socket's.
            if self.early and current and self.hook_done:
                self._let_through()
            self.early = None
