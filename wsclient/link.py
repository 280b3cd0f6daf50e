"""One WebSocket of a connection, and everything that dies with it.

A :class:`Link` lives from a successful handshake to the end of its socket.
It owns the socket's helpers (tasks: the gate, a rotation, a ping awaiting
its pong; watchers on timers: the heartbeat, the stale watchdog), answers
pings and close frames, counts pongs, writes, ends the socket with a closing
handshake (:meth:`Link.close`) or drops it at once (:meth:`Link.lose`), and
finally retires it (:meth:`Link.retire`). Its gate (on_connect, the
subscriptions, the outbox's flush) is :class:`~wsclient.gate.Gate`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import WSMessage, WSMsgType
from yarl import URL

from .clock import Clock, DeadlineExceeded, Timer, call_later, deadline
from .disconnect import Disconnect, DisconnectKind
from .fence import Fence
from .gate import Gate, current_hook
from .inbox import Inbox
from .lifecycle import Leftovers
from .options import Options
from .outbox import Outbox, Outgoing, Pacer
from .redact import Redactor
from .stats import Meter
from .subscriptions import Subscriptions
from .tasks import await_all, settle
from .transport import Socket, Transport, close_reply, from_exception, from_message

__all__ = ["Link", "Parts", "Watcher", "current_hook", "dial"]

# A ping this long after a send (so a burst shares one), at most one a second
# (so a steady sender does not double its frames): its pong confirms them.
_CONFIRM_AFTER = 0.05
_CONFIRM_EVERY = 1.0

_ON_PURPOSE = {DisconnectKind.USER, DisconnectKind.FORCED, DisconnectKind.ROTATE}

_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY


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


class Link(Gate):
    """One open socket of a connection."""

    __slots__ = (
        "closer",
        "ending",
        "fence",
        "opened_at",
        "parts",
        "pong",
        "read_at",
        "retired",
        "tasks",
        "watchers",
        "ws",
    )

    def __init__(self, parts: Parts, ws: Socket, opened_at: float, *, adopted: bool) -> None:
        self.parts = parts
        self.ws = ws
        self.opened_at = opened_at
        self.read_at = opened_at  # when the socket last read anything
        self.open_gate(adopted=adopted, hooked=parts.on_connect is not None)
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
        if self.parts.pacer is not None:  # (what a socket needs first goes first)
            await self.parts.pacer.wait(urgent=not confirm)
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
            fence = self.fence = Fence(max(self.parts.options.buffer_size, 1))
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

    async def round_trip(self) -> float:
        """Ping and wait for a pong (one awaited already is shared): the
        seconds it took.

        Raises:
            TimeoutError: no pong within pong_timeout.
            ConnectionError: the socket is closing.
        """
        clock = self.parts.clock
        start = clock.now()
        pong = self.pong = self.pong or asyncio.get_running_loop().create_future()
        try:
            async with deadline(clock, self.parts.options.pong_timeout):
                await self.ws.ping(self.marker())
                await asyncio.wait({pong})  # (shared: never cancelled from here)
        except DeadlineExceeded:
            raise TimeoutError(f"no pong within {self.parts.options.pong_timeout} s") from None
        finally:
            if self.pong is pong and pong.done():
                self.pong = None
        if pong.cancelled():  # the socket was retired meanwhile
            raise ConnectionResetError("the socket ended")
        elapsed = clock.now() - start
        if self.parts.meter.on_round_trip is not None:
            self.parts.meter.on_round_trip(elapsed)
        return elapsed

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

    def ended(self, disconnect: Disconnect) -> Leftovers:
        """The retired socket ended with ``disconnect``: the next socket's
        marker says so, and this is what it left behind: how long its reader
        paused, the sends it took unconfirmed (none if we closed it on
        purpose and the peer answered: it read our close frame, which came
        after them), handed to the outbox to resend or give up on."""
        parts = self.parts
        if self.live:
            parts.inbox.cause = disconnect
        fence = self.fence
        delivered = disconnect.kind in _ON_PURPOSE and parts.transport.answered(self.ws)
        if fence is None or delivered:
            return Leftovers(parts.inbox.paused_for if self.live else 0.0)
        dead, dropped = fence.unconfirmed(), fence.dropped  # (those beyond the limit: counted)
        given_up = parts.outbox.unconfirmed_by(dead, resend=parts.options.resend_unconfirmed)
        paused = parts.inbox.paused_for if self.live else 0.0
        return Leftovers(paused, len(dead) + dropped, given_up + dropped)

    async def retire(self, *, current: bool) -> None:
        """After the socket ended: stop its watchers, :meth:`halt` its
        helpers, release the socket.

        Args:
            current: This was the connection's socket (not a rotation's
                successor that was never adopted).
        """
        self.retired = True
        if self.pong is not None:
            self.pong.cancel()  # a ping() waiting for it learns the socket is gone
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
