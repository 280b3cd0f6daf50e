"""A WebSocket connection that reconnects by itself.

One supervisor task per :class:`Connection` owns its whole life: it runs
tenacity's ``AsyncRetrying`` (sleeping on the injected clock), opens a socket,
reads it, turns its end into a ``Disconnect`` and lets the policy decide.
While a socket is open the supervisor is also its reader, so a close frame is
noticed even when nobody iterates; it hands messages to the consumer through
a deque, waking the consumer only when it is starved, and pauses when
``max_queue`` messages wait (backpressure).

Each socket is a :class:`~wsclient.link.Link` with its own helper tasks: the
gate (``on_connect``, then the outbox flush), the heartbeat, and a closer
that runs a closing handshake on the clock. All of them are awaited before
the supervisor moves on, so nothing outlives ``close()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import WSMessage, WSMsgType
from tenacity import AsyncRetrying, RetryCallState, RetryError, retry_if_exception_type
from yarl import URL

from . import transport
from .clock import DeadlineExceeded, SystemClock, deadline
from .disconnect import Disconnect, DisconnectKind, is_valid_wire_code
from .errors import BufferFull, ConnectionClosed, InvalidState, RetriesExhausted, WSClientError
from .events import (
    Connected,
    ConnectFailed,
    Disconnected,
    Event,
    GaveUp,
    HoldingOff,
    ReconnectScheduled,
    Stale,
)
from .link import Link, current_hook
from .options import Endpoint, Options, check_credentials, check_headers, parse_url
from .policy import Decision, Fail, HoldOff, Reconnect, Refresh, Stop
from .redact import Redactor, redact_url
from .retry import Fatal, Retry, Streak, retry_of
from .state import TERMINAL, State, check_transition
from .stats import Stats
from .tasks import await_all, settle

if TYPE_CHECKING:
    from .session import Session

__all__ = ["Connection"]

logger = logging.getLogger("wsclient")

_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY
_MAX_REASON_BYTES = 123  # a close frame's payload is at most 125 bytes
_EPSILON = 1e-6  # seconds: less than this left of a wait is no wait
_Outgoing = tuple[WSMsgType, str | bytes]


default_loads: Callable[[Any], Any]
try:  # the fast JSON decoder, when installed (pip install 'wsclient[fast]')
    from orjson import loads as default_loads
except ImportError:  # pragma: no cover - orjson is in the dev extra
    default_loads = json.loads


def _size(data: str | bytes) -> int:
    """Payload bytes (UTF-8 for text; ``isascii`` is O(1) in CPython)."""
    if isinstance(data, str) and not data.isascii():
        return len(data.encode())
    return len(data)


def _check_close(code: int, reason: str) -> None:
    if not is_valid_wire_code(code):
        raise ValueError(f"code {code} may not be sent: use 1000 or 3000-4999")
    if len(reason.encode()) > _MAX_REASON_BYTES:
        raise ValueError(f"reason is longer than {_MAX_REASON_BYTES} bytes of UTF-8")


T = TypeVar("T")


async def _result(value: T | Awaitable[T]) -> T:
    """``value``, awaited if the callable that gave it was async."""
    if inspect.isawaitable(value):
        return await value
    return value


class Connection:
    """A WebSocket connection that survives disconnects.

    Use it as an async context manager and iterate over it for
    ``aiohttp.WSMessage`` objects (TEXT and BINARY only); iteration carries on
    across reconnects, ends cleanly on a Stop decision or ``close()``, and
    raises ``FatalClose``, ``HandshakeRejected``, ``ConnectionFailed`` or
    ``RetriesExhausted`` when the connection ends for good. Sends made while
    reconnecting wait in a bounded outbox and go out, in order, once
    ``on_connect`` has run on the new socket.

    Create one with ``wsclient.connect()`` or ``Session.connect()``.
    """

    __slots__ = (
        "_bytes_in",
        "_bytes_out",
        "_clock",
        "_closing",
        "_connects",
        "_current",
        "_data_at",
        "_done",
        "_endpoints",
        "_error",
        "_holding",
        "_inbox",
        "_last_code",
        "_link",
        "_messages_in",
        "_messages_out",
        "_nap",
        "_options",
        "_outbox",
        "_paused",
        "_pong_at",
        "_pongs",
        "_redactor",
        "_round_hold",
        "_session",
        "_shown",
        "_skip",
        "_sleep",
        "_state",
        "_successor",
        "_supervisor",
        "_tried",
        "_waiter",
        "_warned",
    )

    def __init__(self, session: Session, endpoints: Sequence[Endpoint], options: Options) -> None:
        self._session = session
        self._options = options
        self._clock = options.clock
        # The system clock's sleep is asyncio.sleep: one frame less per sleeper.
        system = type(options.clock) is SystemClock
        self._sleep = asyncio.sleep if system else options.clock.sleep
        self._redactor = Redactor()
        # The endpoints, tried in order (URLs, or callables giving a fresh one).
        self._endpoints = list(endpoints)
        self._shown = [
            redact_url(e) if isinstance(e, URL) else "(url from a callable)"
            for e in self._endpoints
        ]
        for endpoint in self._endpoints:
            if isinstance(endpoint, URL):
                self._redactor.add_url(endpoint)
        if options.headers is not None and not callable(options.headers):
            self._redactor.add_headers(options.headers)
        if options.ssl is False:
            logger.warning("TLS certificate verification is off for %s", self._shown[0])
        self._current = 0  # the endpoint of the next attempt
        self._tried = 1  # endpoints tried since the last success
        self._round_hold: HoldOff | None = None  # a hold-off met in this round
        self._warned = False  # about a malformed Retry-After

        self._state = State.IDLE
        self._supervisor: asyncio.Task[None] | None = None
        self._closing: Disconnect | None = None  # close() was asked for
        self._done = False  # the supervisor has finished
        self._error: BaseException | None = None  # how it ended, if not cleanly
        self._link: Link | None = None  # the open socket
        self._successor: Link | None = None  # max_age: the next socket, set up

        self._inbox: deque[WSMessage] = deque()
        self._waiter: asyncio.Future[None] | None = None  # a starved consumer
        self._paused: asyncio.Future[None] | None = None  # the reader, at max_queue
        self._outbox: deque[_Outgoing] | None = None  # made when first needed

        self._nap: asyncio.Task[None] | None = None  # the wait before an attempt
        self._holding = False  # that wait is a hold-off
        self._skip = False  # resume() or reconnect() asked to skip that wait

        self._connects = 0
        self._messages_in = 0
        self._bytes_in = 0
        self._messages_out = 0
        self._bytes_out = 0
        self._pongs = 0
        self._pong_at: float | None = None
        self._data_at: float | None = None  # the stale watchdog saw data flow
        self._last_code: int | None = None

    # -- the public surface -------------------------------------------------------

    @property
    def state(self) -> State:
        """Where the connection is in its life."""
        return self._state

    @property
    def url(self) -> str:
        """The current endpoint, redacted (no password, no query values)."""
        return self._shown[self._current]

    @property
    def stats(self) -> Stats:
        """A snapshot of the counters."""
        link = self._link
        now = self._clock.now()
        return Stats(
            state=self._state,
            url=self.url,
            connects=self._connects,
            reconnects=max(self._connects - 1, 0),
            messages_in=self._messages_in,
            bytes_in=self._bytes_in,
            messages_out=self._messages_out,
            bytes_out=self._bytes_out,
            pongs=self._pongs,
            pong_age=None if self._pong_at is None else now - self._pong_at,
            data_age=None if self._data_at is None else now - self._data_at,
            buffered=len(self._outbox or ()),
            last_close_code=self._last_code,
            uptime=now - link.opened_at if link is not None else 0.0,
        )

    @property
    def unsent(self) -> list[str | bytes]:
        """The payloads still waiting in the outbox, oldest first (after a
        close or failure, these were never sent)."""
        return [data for _, data in self._outbox or ()]

    async def __aenter__(self) -> Connection:
        self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def open(self) -> None:
        """Start connecting in the background (``async with`` does this)."""
        if self._supervisor is not None or self._state is not State.IDLE:
            raise InvalidState(f"{self!r} was opened already")
        self._supervisor = asyncio.create_task(self._run(), name=f"wsclient {self.url}")

    def __aiter__(self) -> Connection:
        return self

    async def __anext__(self) -> WSMessage:
        if self._inbox:
            return self._inbox.popleft()
        try:
            return await self._receive()
        except ConnectionClosed:
            raise StopAsyncIteration from None

    async def receive(self) -> WSMessage:
        """The next TEXT or BINARY message, waiting across reconnects.

        Raises:
            ConnectionClosed: the connection ended cleanly.
            FatalClose, HandshakeRejected, ConnectionFailed, RetriesExhausted:
                it ended for good.
        """
        if self._inbox and current_hook.get() is None:
            return self._inbox.popleft()
        return await self._receive()

    async def batches(self) -> AsyncIterator[list[WSMessage]]:
        """Messages in batches: all that arrived since the last batch, at least
        one, across reconnects. For high rates: the per-message cost of
        ``async for msg in conn`` is paid once per batch.

        Ends and raises as iterating over the connection does.
        """
        inbox = self._inbox
        while True:
            if not inbox or current_hook.get() is not None:
                try:
                    first = await self._receive()
                except ConnectionClosed:
                    return
                if current_hook.get() is not None:  # on_connect reads its own socket
                    yield [first]
                    continue
                inbox.appendleft(first)
            batch = list(inbox)
            inbox.clear()
            self._resume_reader()
            yield batch

    async def receive_json(self, *, loads: Callable[[Any], Any] | None = None) -> Any:
        """The next message, decoded (``orjson.loads`` when installed, else
        ``json.loads``, unless ``loads`` is given)."""
        return (loads or default_loads)((await self.receive()).data)

    async def iter_json(self, *, loads: Callable[[Any], Any] | None = None) -> AsyncIterator[Any]:
        """Every message, decoded (see :meth:`receive_json`), across reconnects."""
        decode = loads or default_loads
        async for msg in self:
            yield decode(msg.data)

    async def send_str(self, data: str) -> None:
        """Send a TEXT message now, or buffer it while reconnecting.

        Raises:
            BufferFull: the outbox is full; the message was not taken.
            InvalidState: the connection is closed or failed.
        """
        if not isinstance(data, str):
            raise TypeError(f"send_str takes a str, got {type(data).__name__}")
        await self._send(_TEXT, data)

    async def send_bytes(self, data: bytes | bytearray | memoryview) -> None:
        """Send a BINARY message now, or buffer it while reconnecting."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"send_bytes takes bytes, got {type(data).__name__}")
        await self._send(_BINARY, bytes(data))

    async def send_json(self, data: Any, *, dumps: Callable[[Any], str] = json.dumps) -> None:
        """Send ``dumps(data)`` as a TEXT message (see :meth:`send_str`)."""
        await self.send_str(dumps(data))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close for good: a closing handshake if connected, else at once.

        Never reconnects afterwards. Safe to call more than once, from any task.
        A socket already on its way out (a :meth:`reconnect`, a server's close)
        finishes its closing handshake with the code it had; then it stops.
        """
        _check_close(code, reason)
        supervisor = self._supervisor
        # From on_event or on_connect (our own tasks) there is nobody to wait for:
        # the supervisor finishes after they return.
        outside = supervisor is not None and not self._runs_in_own_task()
        if self._closing is None and not self._done:
            self._closing = Disconnect(code, reason, kind=DisconnectKind.USER)
            link = self._link
            if link is not None and link.ending is None:
                self._set_state(State.CLOSING)
                self._close_link(link, self._closing)
            elif link is None and supervisor is not None and outside:
                supervisor.cancel()  # waiting or connecting: nothing to close
            # (a socket already on its way out ends by itself, then it stops)
        if supervisor is not None and outside:
            await await_all({supervisor})  # if close() is cancelled, so is the rest
        if not self._done and (supervisor is None or supervisor.done()):
            await self._end()  # never started, or cancelled before it ever ran

    async def reconnect(self) -> None:
        """Drop the current connection (a closing handshake with 1000) and open
        a fresh one at once; during a wait, end the wait. Use it on a sequence
        gap. Returns once the old socket is on its way out."""
        if self._supervisor is None or self._closing is not None or self._done:
            raise InvalidState(f"cannot reconnect {self!r}")
        link = self._link
        if link is not None and link.ending is None:
            reason = "reconnect requested"
            self._close_link(link, Disconnect(1000, reason, kind=DisconnectKind.FORCED))
        else:
            self._skip_wait()

    def resume(self) -> Awaitable[None]:
        """End a hold-off (after 1013) at once and connect now.

        Takes effect immediately; the result may be awaited or ignored.
        """
        if self._holding:
            self._skip_wait()
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def __repr__(self) -> str:
        return f"<Connection {self.url} {self._state}>"

    def _runs_in_own_task(self) -> bool:
        """Whether we are the supervisor (on_event) or an on_connect."""
        hook = current_hook.get()
        in_hook = hook is not None and hook.owner is self
        return in_hook or asyncio.current_task() is self._supervisor

    # -- receiving ----------------------------------------------------------------

    async def _receive(self) -> WSMessage:
        hook = current_hook.get()
        link = hook if hook is not None and hook.owner is self else None
        while True:
            if link is not None and link.open:
                link = None  # the gate opened: on_connect's code reads on like anyone
            if link is not None:
                if link.early:
                    return link.early.popleft()
                if link.ending is not None:
                    raise ConnectionClosed("the connection dropped while on_connect ran")
            elif self._inbox:
                return self._inbox.popleft()
            elif self._done:
                raise self._final_error()
            elif self._supervisor is None:
                raise InvalidState(f"{self!r} was never opened: use 'async with'")
            await self._wait_for_message(link)

    async def _wait_for_message(self, link: Link | None) -> None:
        waiter = asyncio.get_running_loop().create_future()
        if (link.waiter if link is not None else self._waiter) is not None:
            raise InvalidState("another task is already receiving from this connection")
        if link is not None:
            link.waiter = waiter
        else:
            self._waiter = waiter
            self._resume_reader()
        try:
            await waiter
        finally:
            if link is not None and link.waiter is waiter:
                link.waiter = None
            if self._waiter is waiter:
                self._waiter = None

    def _final_error(self) -> BaseException:
        error = self._error
        if error is None:
            return ConnectionClosed(f"{self!r} is closed")
        if isinstance(error, WSClientError):
            error.with_traceback(None)  # raised again and again: keep it short
        return error

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        settle(waiter)

    def _resume_reader(self) -> None:
        settle(self._paused)

    def _skip_wait(self) -> None:
        self._skip = True
        if self._nap is not None:
            self._nap.cancel()

    async def _read(self, link: Link) -> Disconnect:
        """Read until the socket ends; return why it ended."""
        receive = link.ws.receive
        while not link.open:  # on_connect runs: its messages wait in link.early
            msg = await receive()
            if msg.type is _TEXT or msg.type is _BINARY:
                self._messages_in += 1
                self._bytes_in += _size(msg.data)
                self._deliver_early(link, msg)
            elif (end := await self._control(link, msg)) is not None:
                return end
        # The hot path: counting (_size, inlined), a deque, and a wake-up only
        # when a consumer is starved.
        inbox = self._inbox
        append = inbox.append
        limit = self._options.max_queue
        text, binary = _TEXT, _BINARY
        while True:
            msg = await receive()
            kind = msg.type
            if kind is text or kind is binary:
                data = msg.data
                self._messages_in += 1
                if kind is binary or data.isascii():
                    self._bytes_in += len(data)
                else:
                    self._bytes_in += len(data.encode())
                append(msg)
                if self._waiter is not None:
                    self._wake()
                if len(inbox) >= limit:
                    await self._backpressure(link)
            elif (end := await self._control(link, msg)) is not None:
                return end

    def _deliver_early(self, link: Link, msg: WSMessage) -> None:
        if link.open:  # the gate opened while the reader waited
            self._inbox.append(msg)
            self._wake()
        else:
            if link.early is None:
                link.early = deque()
            link.early.append(msg)
            link.wake()

    async def _control(self, link: Link, msg: WSMessage) -> Disconnect | None:
        """Answer a ping, count a pong; anything else ends the socket."""
        if msg.type is WSMsgType.PING:
            with contextlib.suppress(ConnectionError):
                await link.ws.pong(msg.data)  # if closing, the next receive() says how
            return None
        if msg.type is WSMsgType.PONG:
            self._pongs += 1
            self._pong_at = link.read_at = self._clock.now()
            settle(link.pong)
            return None
        if link.ending is not None:
            return link.ending
        return transport.from_message(msg, self._redactor)

    async def _backpressure(self, link: Link) -> None:
        """Stop reading until the consumer has drained the inbox.

        A socket that is ending, or whose transport is gone, can only deliver
        what aiohttp holds already: read on to find how it ended.
        """
        if link.ending is not None or link.ws.get_extra_info("peername") is None:
            return
        self._paused = asyncio.get_running_loop().create_future()
        try:
            await self._paused
        finally:
            self._paused = None

    # -- sending ------------------------------------------------------------------

    async def _send(self, kind: WSMsgType, data: str | bytes) -> None:
        hook = current_hook.get()
        if hook is not None and hook.owner is self and hook.hooked():
            link: Link | None = hook  # on_connect's sends go to its own socket
        else:
            link = self._link if self._link is not None and self._link.open else None
        if link is not None and link.ending is None:
            try:
                await self._write(link, kind, data)
            except ConnectionError:
                # The transport is closing: the frame was not written, or was
                # still in a buffer that is lost. Keep it for the next socket.
                self._resume_reader()
                if not link.open:  # sent by on_connect, which runs again there
                    self._lose(link, "send failed during on_connect")
                    raise ConnectionClosed("the connection dropped during on_connect") from None
            else:
                return
        if self._closing is not None or self._state in TERMINAL:
            raise InvalidState(f"{self!r} has ended; the message was not sent") from self._error
        if self._outbox is None:
            self._outbox = deque()
        if len(self._outbox) >= self._options.buffer_size:
            raise BufferFull(
                f"the outbox holds {len(self._outbox)} messages (buffer_size); "
                "this one was not sent"
            )
        self._outbox.append((kind, data))

    async def _write(self, link: Link, kind: WSMsgType, data: str | bytes) -> None:
        if kind is _TEXT:
            assert isinstance(data, str)
            await link.ws.send_str(data)
        else:
            assert isinstance(data, bytes)
            await link.ws.send_bytes(data)
        self._messages_out += 1
        self._bytes_out += _size(data)

    async def _flush(self, link: Link) -> None:
        outbox = self._outbox
        while outbox:  # None or empty: nothing to flush
            kind, data = outbox.popleft()
            try:
                await self._write(link, kind, data)
            except ConnectionError:
                outbox.appendleft((kind, data))  # not delivered: keep it for the next socket
                raise

    # -- one socket -----------------------------------------------------------------

    async def _resolve(self) -> tuple[URL, Mapping[str, str] | None]:
        """The URL and headers of the next attempt: callables are called now,
        once, and what they give is checked and its secrets remembered."""
        source = self._endpoints[self._current]
        given = self._options.headers
        if isinstance(source, URL) and not callable(given):
            return source, given  # checked, and remembered by the redactor, up front
        url = source if isinstance(source, URL) else parse_url(await _result(source()))
        self._redactor.add_url(url)
        self._shown[self._current] = redact_url(url)
        if callable(given):
            given = check_headers(await _result(given()))
            self._redactor.add_headers(given)
        check_credentials(url, given)
        return url, given

    async def _open_link(self, url: URL, headers: Mapping[str, str] | None) -> Link | Disconnect:
        """The opening handshake: a new link, or why there is none."""
        ws = None
        try:
            async with deadline(self._clock, self._options.open_timeout):
                ws = await transport.open_websocket(
                    self._session.client(), url, self._options, headers
                )
        except BaseException as exc:
            if ws is not None:  # the handshake succeeded just before the end
                transport.discard(ws)
            failure = transport.from_exception(exc, self._redactor)
            if failure is None:
                raise
            return failure
        link = Link(self, ws, self._clock.now())
        transport.on_read(ws, lambda: link.heard(self._clock.now()))
        return link

    async def _open(self, link: Link, attempt: int) -> None:
        """A socket is open: announce it and start its helpers (then read it)."""
        self._link = link
        self._connects += 1
        self._tried, self._round_hold = 1, None
        self._set_state(State.CONNECTED)
        logger.info("connected to %s (attempt %d)", self.url, attempt)
        await self._emit(Connected(self.url, attempt))
        options = self._options
        if options.heartbeat is not None:
            self._spawn(link, self._heartbeat(link), "heartbeat")
        if options.stale_after is not None:
            self._spawn(link, self._watch_data(link, options.stale_after), "stale watchdog")
        if options.max_age is not None:
            self._spawn(link, self._rotate(link, options.max_age), "rotation")
        if not link.open and (options.on_connect is not None or self._outbox):
            self._start_gate(link)
        else:
            link.open = True

    def _start_gate(self, link: Link) -> asyncio.Task[None]:
        context = contextvars.copy_context()
        context.run(current_hook.set, link)
        return self._spawn(link, self._gate(link), "on_connect", context)

    def _spawn(
        self,
        link: Link,
        coro: Any,
        name: str,
        context: contextvars.Context | None = None,
    ) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=f"wsclient {name}", context=context)
        link.tasks.add(task)
        return task

    async def _retire(self, link: Link) -> None:
        """After a socket ended: stop and await its helpers, let a closing
        handshake finish (it is bounded by close_timeout), release the socket."""
        for task in link.tasks:
            task.cancel()
        try:
            await await_all({*link.tasks, *([link.closer] if link.closer else [])})
        finally:
            link.tasks.clear()
            transport.discard(link.ws)
            early, link.early = link.early, None
            # A successor never adopted repeats the old socket; one whose
            # on_connect failed yields nothing; else it is the server's data.
            if early and self._link is link and not self._on_connect_failed(link):
                self._inbox.extend(early)
                self._wake()
            if self._link is link:
                self._link = None

    @staticmethod
    def _on_connect_failed(link: Link) -> bool:
        ending = link.ending
        timed_out = ending is not None and ending.kind is DisconnectKind.TIMEOUT
        return link.hook_error is not None or timed_out

    async def _gate(self, link: Link) -> None:
        """Run on_connect, flush the outbox, then let everybody through."""
        try:
            async with deadline(self._clock, self._options.open_timeout):
                if self._options.on_connect is not None:
                    await _result(self._options.on_connect(self))
                if link is self._link:  # not a successor set up while the old socket runs
                    await self._flush(link)
        except DeadlineExceeded:
            self._lose(
                link, "on_connect did not finish within open_timeout", DisconnectKind.TIMEOUT
            )
            return
        except ConnectionError:
            self._lose(link, "the connection dropped while the outbox was flushed")
            return
        except Exception as exc:
            if link.ending is None:  # the socket is fine: on_connect itself failed
                link.hook_error = exc
                failed = Disconnect(1011, "on_connect failed", kind=DisconnectKind.USER)
                self._close_link(link, failed)
            return
        if link.ending is None and link is self._link:
            self._let_through(link)

    def _let_through(self, link: Link) -> None:
        """Open the gate: the link's early messages, then all it reads, are yielded."""
        link.open = True
        if link.early:
            self._inbox.extend(link.early)
            link.early = None
        link.wake()
        self._wake()

    async def _heartbeat(self, link: Link) -> None:
        """Ping after ``heartbeat`` seconds in which nothing was read (not a
        byte: a slow link trickling a big message is alive); nothing read
        within ``pong_timeout`` after the ping means the transport is gone (1006)."""
        interval = self._options.heartbeat
        assert interval is not None
        timeout = self._options.pong_timeout
        resumed = link.opened_at
        while True:
            if self._paused is not None:  # a slow consumer holds the reader, not the peer
                self._resume_reader()
                resumed = self._clock.now()
            wait = max(link.read_at, resumed) + interval - self._clock.now()
            if wait > _EPSILON:  # (a float residue is no reason to sleep again)
                await self._sleep(wait)
                continue
            pinged_at = self._clock.now()
            link.pong = asyncio.get_running_loop().create_future()
            try:
                await link.ws.ping()
                async with deadline(self._clock, timeout):
                    await link.pong
            except ConnectionError:
                return  # closing: the reader will say how
            except DeadlineExceeded:
                if link.read_at <= pinged_at:
                    self._lose(link, f"no pong within {timeout} s", DisconnectKind.HEARTBEAT)
                    return
            finally:
                link.pong = None

    async def _watch_data(self, link: Link, limit: float) -> None:
        """The stale-data watchdog: no data message for ``limit`` seconds (from
        the moment the socket opened) and the feed counts as dead, unless
        ``on_stale`` says to keep waiting. Looks four times per ``limit``."""
        seen, since = self._messages_in, self._clock.now()
        self._data_at = since
        while True:
            await self._sleep(limit / 4)
            now = self._clock.now()
            if self._messages_in != seen or self._paused is not None:
                seen, since = self._messages_in, now
                self._data_at = now
                continue
            if now - since < limit - _EPSILON:
                continue
            on_stale = self._options.on_stale
            keep = on_stale is not None and bool(await _result(on_stale(self)))
            await self._emit(Stale(now - since, keep))
            if not keep:
                self._lose(link, f"no data for {now - since:g} s", DisconnectKind.STALE)
                return
            since = now

    async def _rotate(self, link: Link, max_age: float) -> None:
        """At ``max_age``, open the next socket and run its on_connect while
        this one still delivers; then close this one. The supervisor adopts the
        successor; until then its messages wait in its early inbox."""
        await self._sleep(max_age)
        rotating = Disconnect(1000, "max_age reached", kind=DisconnectKind.ROTATE)
        try:
            successor = await self._open_link(*await self._resolve())
        except Exception as exc:  # the url/headers callable: the next attempt says it
            successor = Disconnect(kind=DisconnectKind.USER, detail=type(exc).__name__)
        if isinstance(successor, Disconnect):
            failure = successor.describe()
            logger.warning("%s: rotation failed (%s); reconnecting", self.url, failure)
            self._close_link(link, rotating)
            return
        try:
            reader = self._spawn(successor, self._read(successor), "rotation reader")
            if self._options.on_connect is not None:
                gate = self._start_gate(successor)
                await asyncio.wait({gate, reader}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            await self._retire(successor)
            raise
        if reader.done() or successor.ending is not None:  # it failed while being set up
            await self._retire(successor)
        else:
            self._successor = successor
        self._close_link(link, rotating)

    async def _adopt(self, successor: Link) -> bool:
        """Make the set-up successor the open socket; False if it died meanwhile."""
        for task in successor.tasks:
            task.cancel()  # its reader: a cancelled receive() leaves the socket usable
        await await_all(successor.tasks)
        ended = any(not t.cancelled() and t.result() is not None for t in successor.tasks)
        successor.tasks.clear()
        if ended or successor.ending is not None:
            await self._retire(successor)
            return False
        successor.opened_at = self._clock.now()
        self._link = successor
        self._let_through(successor)
        return True

    def _lose(self, link: Link, detail: str, kind: DisconnectKind = DisconnectKind.LOST) -> None:
        """Drop the socket at once (no closing handshake): it counts as 1006."""
        if link.ending is None:
            link.ending = Disconnect(1006, kind=kind, detail=detail)
            self._resume_reader()
            transport.discard(link.ws)

    def _close_link(self, link: Link, why: Disconnect) -> None:
        """End the socket with a closing handshake, in a task of its own (so the
        caller's cancellation cannot cut it), bounded by close_timeout."""
        link.ending = why
        self._resume_reader()
        link.closer = asyncio.create_task(
            self._closing_handshake(link, why), name="wsclient close"
        )

    async def _closing_handshake(self, link: Link, why: Disconnect) -> None:
        try:
            async with deadline(self._clock, self._options.close_timeout):
                await link.ws.close(code=why.code or 1000, message=why.reason.encode())
        except (DeadlineExceeded, ConnectionError):
            pass  # the peer did not answer: the socket is dropped below
        finally:
            transport.discard(link.ws)

    # -- the supervisor -------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._retry_loop(self._new_streak())
        except Fatal as fatal:
            await self._emit(GaveUp(fatal.attempts, fatal.disconnect))
        except Exception as exc:
            logger.exception("%s: the connection failed unexpectedly", self.url)
            self._error = exc
        finally:
            await self._end()

    def _new_streak(self) -> Streak:
        options = self._options
        return Streak(self._clock, options.rng, options.stop, self._session.budget)

    async def _retry_loop(self, streak: Streak) -> None:
        """Connect (retrying on tenacity), serve outside the retrying, decide;
        until a decision stops or fails."""
        pending: Retry | None = None
        while True:
            try:
                link = await self._connect(streak, pending)
            except RetryError as exc:  # the user's stop
                cause = retry_of(exc.last_attempt).disconnect
                self._error = RetriesExhausted(streak.attempt, cause)
                logger.warning("%s: %s", self.url, self._error)
                raise Fatal(cause, self._error, streak.attempt) from None
            if link is None:  # closed meanwhile
                return
            try:
                await self._open(link, streak.attempt)
                disconnect = await self._read(link)
            finally:
                await self._retire(link)
            if self._held(link, disconnect):
                streak = self._new_streak()  # it held: the curves start over
                streak.attempt = 1  # that connection is the new streak's first attempt
            pending = await self._conclude(disconnect, streak, link)
            if pending is None:
                return

    def _held(self, link: Link, disconnect: Disconnect) -> bool:
        """Whether the connection stayed up ``stable_after`` seconds. One the
        heartbeat ended was up only while it read anything; one the watchdog
        ended, only while data flowed (pongs do not count there)."""
        if disconnect.kind is DisconnectKind.HEARTBEAT:
            until = link.read_at
        elif disconnect.kind is DisconnectKind.STALE and self._data_at is not None:
            until = self._data_at
        else:
            until = self._clock.now()
        return until - link.opened_at >= self._options.stable_after

    async def _connect(self, streak: Streak, pending: Retry | None) -> Link | None:
        """Attempts, on tenacity, until a socket is open; a pending end of the
        last socket counts as the first failure (so its wait comes first)."""
        if pending is None:  # the first try needs no retry machinery
            try:
                return await self._attempt(streak)
            except Retry as first:
                pending = first
        retrying = AsyncRetrying(
            sleep=self._wait,
            stop=streak.stop,
            wait=streak.wait,
            retry=retry_if_exception_type(Retry),
            before_sleep=functools.partial(self._announce, streak=streak),
        )
        failed = [pending]  # the first attempt of this loop is the one that failed
        async for attempt in retrying:
            with attempt:
                if failed:
                    raise failed.pop()
                return await self._attempt(streak)
        return None  # pragma: no cover - the loop returns or raises

    async def _attempt(self, streak: Streak) -> Link | None:
        """Open a socket (or adopt the one a rotation set up). Raises ``Retry``
        or ``Fatal`` for a failed attempt; ``None`` when closed meanwhile."""
        if self._closing is not None:
            return None
        streak.attempt += 1
        self._skip = self._holding = False
        self._set_state(State.CONNECTING)
        successor, self._successor = self._successor, None
        if successor is not None and await self._adopt(successor):
            return successor
        try:
            url, headers = await self._resolve()
        except Exception as exc:  # the application's url or headers callable
            self._error = exc
            failure = Disconnect(kind=DisconnectKind.USER, detail=type(exc).__name__)
            raise Fatal(failure, exc, streak.attempt) from exc
        link = await self._open_link(url, headers)
        if isinstance(link, Disconnect):
            retry = await self._conclude(link, streak, None)
            if retry is not None:
                raise retry
            return None
        return link

    def _decide(self, disconnect: Disconnect, link: Link | None, streak: Streak) -> Decision:
        if self._closing is not None:
            return Stop("the application closed the connection")
        if link is not None and link.hook_error is not None:
            return Fail("on_connect raised")
        decision = self._options.policy.decide(disconnect)
        if isinstance(decision, Refresh):
            if streak.refreshed:
                return Fail(f"refused again after fresh credentials: {decision.reason}")
            streak.refreshed = True
        return decision

    def _fail_over(
        self, decision: Reconnect | Refresh | HoldOff, link: Link | None
    ) -> tuple[Reconnect | Refresh | HoldOff, bool]:
        """On a connection failure or a hold-off, move to the next endpoint, at
        once until every endpoint was tried; then wait, as long as the longest
        wait (a hold-off) of the round asked. Returns the decision to wait on,
        and whether to try at once."""
        count = len(self._endpoints)
        eligible = isinstance(decision, HoldOff) or (
            link is None and isinstance(decision, Reconnect)
        )
        if count == 1 or not eligible:
            return decision, False
        if isinstance(decision, HoldOff):
            self._round_hold = decision
        self._current = (self._current + 1) % count
        if self._tried < count:
            self._tried += 1
            return decision, True
        self._tried = 1
        held, self._round_hold = self._round_hold, None
        return held or decision, False

    async def _conclude(
        self, disconnect: Disconnect, streak: Streak, link: Link | None
    ) -> Retry | None:
        """Decide what ``disconnect`` means and report it: ``None`` to stop, a
        ``Retry`` to wait as it says; raises ``Fatal`` to fail."""
        decision = self._decide(disconnect, link, streak)
        if disconnect.code is not None:
            self._last_code = disconnect.code
        if isinstance(decision, Fail):
            hook_error = link.hook_error if link is not None else None
            self._error = hook_error or disconnect.to_error()
        self._set_state(
            State.CLOSED
            if isinstance(decision, Stop)
            else State.FAILED
            if isinstance(decision, Fail)
            else State.WAITING
        )
        if logger.isEnabledFor(logging.INFO):
            logger.info("%s: %s -> %s", self.url, disconnect.describe(), decision)
        self._warn_retry_after(disconnect)
        if link is None:
            await self._emit(ConnectFailed(self.url, streak.attempt, disconnect))
        else:
            code, reason, by = disconnect.code, disconnect.reason, disconnect.initiated_by
            await self._emit(Disconnected(code, reason, by, disconnect))
        if isinstance(decision, Fail):
            raise Fatal(disconnect, self._error or disconnect.to_error(), streak.attempt)
        if isinstance(decision, Stop):
            return None
        decision, now = self._fail_over(decision, link)
        return Retry(disconnect, decision, now=now)

    def _warn_retry_after(self, disconnect: Disconnect) -> None:
        value = disconnect.headers.get("Retry-After")
        if value is not None and disconnect.retry_after is None and not self._warned:
            self._warned = True
            logger.warning("%s: ignoring a malformed Retry-After: %r", self.url, value)

    async def _announce(self, retry_state: RetryCallState, streak: Streak) -> None:
        retry = retry_of(retry_state.outcome)
        delay = retry_state.upcoming_sleep
        decision = retry.decision
        self._holding = isinstance(decision, HoldOff) and not retry.now
        logger.info("%s: next attempt in %.3f s (%s)", self.url, delay, decision)
        event = ReconnectScheduled(streak.attempt, delay, decision, retry.disconnect, self.url)
        await self._emit(event)
        if self._holding:
            await self._emit(HoldingOff(delay, decision.reason, streak.attempt))

    async def _wait(self, delay: float) -> None:
        """tenacity's sleep: on the clock, cut short by ``resume()``/``reconnect()``."""
        if self._closing is not None or self._skip or delay <= 0:
            return
        nap = asyncio.create_task(self._clock.sleep(delay), name="wsclient wait")
        self._nap = nap
        try:
            await nap
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not nap.cancelled() or task is None or task.cancelling():
                raise  # we are being cancelled, not woken
        finally:
            self._nap = None

    async def _end(self) -> None:
        """The last act: final state, consumers woken, the session told."""
        successor, self._successor = self._successor, None
        if successor is not None:  # set up by a rotation, never adopted
            await self._retire(successor)
        self._done = True
        if self._state not in TERMINAL:
            self._set_state(State.FAILED if self._error is not None else State.CLOSED)
        if self._outbox:
            logger.warning(
                "%s ended with %d buffered message(s) unsent (see Connection.unsent)",
                self.url,
                len(self._outbox),
            )
        self._wake()
        await self._session._release(self)

    def _set_state(self, new: State) -> None:
        old = self._state
        if new is not old:
            check_transition(old, new)
            self._state = new
            logger.debug("%s: %s -> %s", self.url, old, new)

    async def _emit(self, event: Event) -> None:
        callback = self._options.on_event
        if callback is None:
            return
        try:
            await _result(callback(event))
        except Exception:
            logger.exception(
                "on_event raised on %s; the connection carries on", type(event).__name__
            )
