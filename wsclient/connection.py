"""A WebSocket connection that reconnects by itself.

One supervisor task per :class:`Connection` owns its whole life: it runs
tenacity's ``AsyncRetrying`` (sleeping on the injected clock), opens a
WebSocket, reads from it, turns its end into a ``Disconnect`` and lets the
policy decide. While a socket is open the supervisor is also its reader, so a
close frame is noticed even when nobody iterates; it hands messages to the
consumer through a deque, waking the consumer only when it is starved, and
pauses when ``max_queue`` messages wait (backpressure).

Per socket there may be two helper tasks: the heartbeat (pings on the clock)
and the gate, which runs ``on_connect`` and flushes the outbox. Until the gate
opens, messages of the new socket go to a separate inbox that only
``on_connect`` reads from, and sends from ``on_connect`` go straight to the
socket while everybody else's wait in the outbox, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import ClientWebSocketResponse, WSMessage, WSMsgType
from tenacity import AsyncRetrying, RetryCallState, RetryError, retry_if_exception
from tenacity.stop import stop_never
from tenacity.wait import wait_base
from yarl import URL

from . import transport
from .backoff import DecisionWait, WaitStrategy
from .clock import deadline
from .disconnect import Disconnect, DisconnectKind, is_valid_wire_code
from .errors import BufferFull, ConnectionClosed, InvalidState, RetriesExhausted
from .events import (
    Connected,
    ConnectFailed,
    Disconnected,
    Event,
    GaveUp,
    HoldingOff,
    ReconnectScheduled,
)
from .options import Options
from .policy import Decision, Fail, HoldOff, Stop
from .redact import Redactor, redact_url
from .state import TERMINAL, State, check_transition
from .stats import Stats

if TYPE_CHECKING:
    from .session import Session

__all__ = ["Connection"]

logger = logging.getLogger("wsclient")

_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY
_MAX_REASON_BYTES = 123  # a close frame's payload is at most 125 bytes
_Outgoing = tuple[WSMsgType, str | bytes]

# The socket whose on_connect runs in this context (set for the gate task and
# whatever it spawns, such as the task of a wait_for on Python 3.11).
_IN_HOOK: contextvars.ContextVar[ClientWebSocketResponse | None] = contextvars.ContextVar(
    "wsclient_on_connect", default=None
)


class _Retry(Exception):
    """An attempt ended in Reconnect or HoldOff (tenacity retries it unless the
    connection had been stable: then a new streak starts with it)."""

    def __init__(self, disconnect: Disconnect, decision: Decision, *, stable: bool):
        super().__init__(disconnect.describe())
        self.disconnect = disconnect
        self.decision = decision
        self.stable = stable


class _Fatal(Exception):
    """An attempt ended in Fail: ``error`` is what the consumer gets."""

    def __init__(self, disconnect: Disconnect, error: BaseException, attempts: int):
        super().__init__(disconnect.describe())
        self.disconnect = disconnect
        self.error = error
        self.attempts = attempts


def _in_streak(exc: BaseException) -> bool:
    return isinstance(exc, _Retry) and not exc.stable


def _retry_of(retry_state: RetryCallState) -> _Retry:
    outcome = retry_state.outcome
    exc = outcome.exception() if outcome is not None else None
    if not isinstance(exc, _Retry):  # pragma: no cover - tenacity only retries _Retry
        raise TypeError(f"unexpected outcome {exc!r}")
    return exc


def _strategy_of(retry_state: RetryCallState) -> WaitStrategy | wait_base:
    decision = _retry_of(retry_state).decision
    assert not isinstance(decision, Fail | Stop)
    return decision.wait


def _check_close(code: int, reason: str) -> None:
    if not is_valid_wire_code(code):
        raise ValueError(f"code {code} may not be sent: use 1000 or 3000-4999")
    if len(reason.encode()) > _MAX_REASON_BYTES:
        raise ValueError(f"reason is longer than {_MAX_REASON_BYTES} bytes of UTF-8")


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

    def __init__(self, session: Session, url: URL, options: Options) -> None:
        self._session = session
        self._url = url
        self._shown_url = redact_url(url)
        self._options = options
        self._clock = options.clock
        self._headers = dict(options.headers) if options.headers is not None else None
        self._redactor = Redactor()
        self._redactor.add_url(url)
        self._redactor.add_headers(self._headers or {})

        self._state = State.IDLE
        self._supervisor: asyncio.Task[None] | None = None
        self._closing: Disconnect | None = None  # close() was asked for
        self._done = False
        self._error: BaseException | None = None

        # The open socket, and what the application may do with it.
        self._ws: ClientWebSocketResponse | None = None
        self._writable: ClientWebSocketResponse | None = None  # sends go straight
        self._gate: asyncio.Task[None] | None = None  # on_connect + flush
        self._ending: Disconnect | None = None  # why we end this socket ourselves
        self._graceful = False  # someone awaits this socket's closing handshake
        self._hook_error: BaseException | None = None
        self._opened_at = 0.0

        # Received messages, and the consumers waiting for them.
        self._inbox: deque[WSMessage] = deque()
        self._hook_inbox: deque[WSMessage] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._hook_waiter: asyncio.Future[None] | None = None
        self._paused: asyncio.Future[None] | None = None  # reader at max_queue
        self._pong: asyncio.Future[None] | None = None  # the heartbeat awaits a pong

        self._outbox: deque[_Outgoing] = deque()
        self._nap: asyncio.Task[None] | None = None  # the wait before an attempt
        self._holding = False  # that wait is a hold-off
        self._skip = False  # resume() or reconnect() asked to skip that wait

        self._connects = 0
        self._messages_in = 0
        self._bytes_in = 0
        self._messages_out = 0
        self._bytes_out = 0
        self._pongs = 0
        self._pings = 0
        self._last_code: int | None = None

    # -- the public surface ---------------------------------------------------

    @property
    def state(self) -> State:
        """Where the connection is in its life."""
        return self._state

    @property
    def url(self) -> str:
        """The endpoint, redacted (no password, no query values)."""
        return self._shown_url

    @property
    def stats(self) -> Stats:
        """A snapshot of the counters."""
        up = self._ws is not None
        return Stats(
            state=self._state,
            url=self._shown_url,
            connects=self._connects,
            reconnects=max(self._connects - 1, 0),
            messages_in=self._messages_in,
            bytes_in=self._bytes_in,
            messages_out=self._messages_out,
            bytes_out=self._bytes_out,
            pongs=self._pongs,
            buffered=len(self._outbox),
            last_close_code=self._last_code,
            uptime=self._clock.now() - self._opened_at if up else 0.0,
        )

    @property
    def unsent(self) -> list[str | bytes]:
        """The payloads still waiting in the outbox, oldest first (after a
        close or failure, these were never sent)."""
        return [data for _, data in self._outbox]

    async def __aenter__(self) -> Connection:
        self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def open(self) -> None:
        """Start connecting in the background (``async with`` does this)."""
        if self._supervisor is not None or self._state is not State.IDLE:
            raise InvalidState(f"{self!r} was opened already")
        self._supervisor = asyncio.create_task(self._run(), name=f"wsclient {self._shown_url}")

    def __aiter__(self) -> Connection:
        return self

    async def __anext__(self) -> WSMessage:
        inbox = self._inbox
        if inbox and self._gate is None:
            return inbox.popleft()
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
        inbox = self._inbox
        if inbox and self._gate is None:
            return inbox.popleft()
        return await self._receive()

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
        """
        _check_close(code, reason)
        supervisor = self._supervisor
        if self._closing is None and not self._done:
            self._closing = Disconnect(code, reason, kind=DisconnectKind.USER)
            ws = self._ws
            if supervisor is None:
                self._finish(None)
            elif ws is not None and self._ending is None and not ws.closed:
                self._set_state(State.CLOSING)
                await self._close_socket(ws, self._closing)
            elif asyncio.current_task() is not supervisor:
                supervisor.cancel()
        if supervisor is not None and asyncio.current_task() is not supervisor:
            await asyncio.wait({supervisor})
        await self._session._release(self)

    async def reconnect(self) -> None:
        """Drop the current connection (closing it with 1000) and open a fresh
        one at once; during a wait, end the wait. Use it on a sequence gap."""
        if self._supervisor is None or self._closing is not None or self._done:
            raise InvalidState(f"cannot reconnect {self!r}")
        ws = self._ws
        if ws is not None and self._ending is None and not ws.closed:
            forced = Disconnect(1000, "reconnect requested", kind=DisconnectKind.FORCED)
            await self._close_socket(ws, forced)
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
        return f"<Connection {self._shown_url} {self._state}>"

    # -- receiving ----------------------------------------------------------------

    async def _receive(self) -> WSMessage:
        hook_ws = _IN_HOOK.get()
        in_hook = self._gate is not None and hook_ws is self._ws
        while True:
            box = self._hook_inbox if in_hook else self._inbox
            if box:
                return box.popleft()
            if in_hook and self._gate is None:
                if hook_ws is not self._ws:
                    raise ConnectionClosed("the connection dropped while on_connect ran")
                in_hook = False  # the gate opened while we waited
                continue
            if self._done:
                raise self._error or ConnectionClosed(f"{self!r} is closed")
            if self._supervisor is None:
                raise InvalidState(f"{self!r} was never opened: use 'async with'")
            self._resume_reader()
            waiter = asyncio.get_running_loop().create_future()
            if in_hook:
                self._hook_waiter = waiter
            elif self._waiter is None:
                self._waiter = waiter
            else:
                raise InvalidState("another task is already receiving from this connection")
            try:
                await waiter
            finally:
                if self._waiter is waiter:
                    self._waiter = None
                if self._hook_waiter is waiter:
                    self._hook_waiter = None

    def _wake(self) -> None:
        for waiter in (self._waiter, self._hook_waiter):
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        self._waiter = self._hook_waiter = None

    def _skip_wait(self) -> None:
        self._skip = True
        if self._nap is not None:
            self._nap.cancel()

    def _resume_reader(self) -> None:
        paused = self._paused
        if paused is not None and not paused.done():
            paused.set_result(None)

    async def _read(self, ws: ClientWebSocketResponse) -> Disconnect:
        """Read until the socket ends; return why it ended."""
        receive = ws.receive
        while self._gate is not None:  # on_connect is running
            msg = await receive()
            if msg.type is _TEXT or msg.type is _BINARY:
                self._count_in(msg)
                (self._hook_inbox if self._gate is not None else self._inbox).append(msg)
                self._wake()
            elif (end := await self._control(ws, msg)) is not None:
                return end
        # The hot path: no hook, nothing but counting, a deque, and a wake-up
        # only when a consumer is starved.
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
                    await self._backpressure(ws)
            elif (end := await self._control(ws, msg)) is not None:
                return end

    def _count_in(self, msg: WSMessage) -> None:
        data = msg.data
        self._messages_in += 1
        self._bytes_in += len(data.encode() if isinstance(data, str) else data)

    async def _control(self, ws: ClientWebSocketResponse, msg: WSMessage) -> Disconnect | None:
        """Answer a ping, count a pong; anything else ends the socket."""
        if msg.type is WSMsgType.PING:
            self._pings += 1
            with contextlib.suppress(aiohttp.ClientConnectionResetError):
                await ws.pong(msg.data)  # if closing, the next receive() says how
            return None
        if msg.type is WSMsgType.PONG:
            self._pongs += 1
            if self._pong is not None and not self._pong.done():
                self._pong.set_result(None)
            return None
        return self._ending if self._ending is not None else transport.from_message(msg)

    async def _backpressure(self, ws: ClientWebSocketResponse) -> None:
        """Stop reading until the consumer has drained the inbox.

        A dead transport can deliver only what aiohttp holds already, so then
        the reader reads on to find how the socket ended.
        """
        if ws.get_extra_info("peername") is None:
            return
        self._paused = asyncio.get_running_loop().create_future()
        try:
            await self._paused
        finally:
            self._paused = None

    # -- sending --------------------------------------------------------------------

    async def _send(self, kind: WSMsgType, data: str | bytes) -> None:
        ws = self._writable
        in_hook = ws is None and self._gate is not None and _IN_HOOK.get() is self._ws
        if in_hook:
            ws = self._ws
        if ws is not None:
            try:
                await self._write(ws, kind, data)
            except aiohttp.ClientConnectionResetError:
                # The transport is closing and nothing was written.
                self._resume_reader()
                if in_hook:
                    self._end_socket(
                        ws, Disconnect(1006, detail="send failed", kind=DisconnectKind.LOST)
                    )
                    raise ConnectionClosed("the connection dropped during on_connect") from None
            else:
                return
        if self._closing is not None or self._state in TERMINAL:
            raise self._error or InvalidState(f"{self!r} is closed; the message was not sent")
        if len(self._outbox) >= self._options.buffer_size:
            raise BufferFull(
                f"the outbox holds {len(self._outbox)} messages (buffer_size); "
                "this one was not sent"
            )
        self._outbox.append((kind, data))

    async def _write(
        self, ws: ClientWebSocketResponse, kind: WSMsgType, data: str | bytes
    ) -> None:
        if isinstance(data, str):
            await ws.send_str(data)
            size = len(data) if data.isascii() else len(data.encode())
        else:
            await ws.send_bytes(data)
            size = len(data)
        self._messages_out += 1
        self._bytes_out += size

    async def _flush(self, ws: ClientWebSocketResponse) -> None:
        outbox = self._outbox
        while outbox:
            kind, data = outbox.popleft()
            try:
                await self._write(ws, kind, data)
            except aiohttp.ClientConnectionResetError:
                outbox.appendleft((kind, data))  # not written: keep it for the next socket
                raise

    # -- one socket -----------------------------------------------------------------

    async def _serve(self, ws: ClientWebSocketResponse, attempt: int) -> Disconnect:
        """Run one open socket: announce it, start its helpers, read it."""
        self._ws = ws
        self._ending = None
        self._graceful = False
        self._hook_error = None
        self._opened_at = self._clock.now()
        self._connects += 1
        self._set_state(State.CONNECTED)
        logger.info("connected to %s (attempt %d)", self._shown_url, attempt)
        await self._emit(Connected(self._shown_url, attempt))
        helpers: set[asyncio.Task[None]] = set()
        if self._options.heartbeat is not None:
            helpers.add(asyncio.create_task(self._heartbeat(ws), name="wsclient heartbeat"))
        if self._options.on_connect is not None or self._outbox:
            context = contextvars.copy_context()
            context.run(_IN_HOOK.set, ws)
            self._gate = asyncio.create_task(
                self._open_gate(ws), name="wsclient on_connect", context=context
            )
            helpers.add(self._gate)
        else:
            self._writable = ws
        try:
            return await self._read(ws)
        finally:
            self._writable = self._ws = self._gate = None
            for helper in helpers:
                helper.cancel()
            if helpers:
                await asyncio.wait(helpers)
            # What arrived while on_connect ran is still the server's data.
            self._inbox.extend(self._hook_inbox)
            self._hook_inbox.clear()
            self._wake()

    async def _open_gate(self, ws: ClientWebSocketResponse) -> None:
        """Run on_connect, flush the outbox, then let everybody through."""
        try:
            async with deadline(self._clock, self._options.open_timeout):
                if self._options.on_connect is not None:
                    result = self._options.on_connect(self)
                    if inspect.isawaitable(result):
                        await result
                await self._flush(ws)
        except TimeoutError:
            self._end_socket(
                ws, Disconnect(detail="on_connect timed out", kind=DisconnectKind.TIMEOUT)
            )
            return
        except Exception as exc:
            if self._ending is None:  # the socket is fine: on_connect itself failed
                self._hook_error = exc
                self._end_socket(
                    ws, Disconnect(1011, detail="on_connect raised", kind=DisconnectKind.USER)
                )
            return
        if self._ws is not ws:
            return  # the socket ended meanwhile (and on_connect ignored its cancellation)
        self._inbox.extend(self._hook_inbox)
        self._hook_inbox.clear()
        self._writable = ws
        self._gate = None
        self._wake()

    async def _heartbeat(self, ws: ClientWebSocketResponse) -> None:
        """Ping after ``heartbeat`` seconds without traffic; nothing back (a pong
        or any frame) within ``pong_timeout`` means the transport is gone (1006)."""
        interval = self._options.heartbeat
        assert interval is not None
        timeout = self._options.pong_timeout
        while True:
            seen = self._liveness()
            await self._clock.sleep(interval)
            if self._paused is not None:
                self._resume_reader()  # a slow consumer holds the reader, not the peer
                continue
            if self._liveness() != seen:
                continue
            pong = self._pong = asyncio.get_running_loop().create_future()
            try:
                await ws.ping()
                async with deadline(self._clock, timeout):
                    await pong
            except aiohttp.ClientConnectionResetError:
                return  # closing: the reader will say how
            except TimeoutError:
                pass
            finally:
                self._pong = None
            if self._liveness() == seen:
                lost = Disconnect(
                    1006, detail=f"no pong within {timeout} s", kind=DisconnectKind.HEARTBEAT
                )
                self._end_socket(ws, lost)
                return

    def _liveness(self) -> int:
        return self._messages_in + self._pongs + self._pings

    def _end_socket(self, ws: ClientWebSocketResponse, why: Disconnect) -> None:
        """End the open socket at once, for ``why``."""
        if self._ending is None and self._ws is ws:
            self._ending = why
            transport.discard(ws)

    async def _close_socket(self, ws: ClientWebSocketResponse, why: Disconnect) -> None:
        """End the open socket with a closing handshake, for ``why``."""
        self._ending = why
        self._graceful = True
        self._resume_reader()
        await ws.close(code=why.code or 1000, message=why.reason.encode())

    # -- the supervisor -------------------------------------------------------------

    async def _run(self) -> None:
        error: BaseException | None = None
        try:
            await self._retry_loop()
        except _Fatal as fatal:
            error = fatal.error
            await self._emit(GaveUp(fatal.attempts, fatal.disconnect))
        except RetryError as exc:
            last = _retry_of_attempt(exc)
            error = RetriesExhausted(exc.last_attempt.attempt_number, last.disconnect)
            logger.warning("%s: %s", self._shown_url, error)
            await self._emit(GaveUp(exc.last_attempt.attempt_number, last.disconnect))
        except Exception as exc:
            logger.exception("%s: the connection failed unexpectedly", self._shown_url)
            error = exc
        finally:
            self._finish(error)

    async def _retry_loop(self) -> None:
        carry: _Retry | None = None
        while True:
            retrying = AsyncRetrying(
                sleep=self._wait,
                stop=self._options.stop or stop_never,
                wait=DecisionWait(self._options.rng, _strategy_of),
                retry=retry_if_exception(_in_streak),
                before_sleep=self._announce,
            )
            try:
                async for attempt in retrying:
                    with attempt:
                        if carry is not None:
                            pending, carry = carry, None
                            raise pending
                        await self._attempt(attempt.retry_state.attempt_number)
                return
            except _Retry as stable:
                # A connection that held ended: a new streak starts with it,
                # so the backoff curve and the attempt count start over.
                carry = _Retry(stable.disconnect, stable.decision, stable=False)

    async def _attempt(self, attempt: int) -> None:
        """One attempt: open a socket and serve it. Returns on Stop; raises
        ``_Retry`` or ``_Fatal``."""
        if self._closing is not None:
            return
        self._skip = False
        self._set_state(State.CONNECTING)
        try:
            async with deadline(self._clock, self._options.open_timeout):
                ws = await transport.open_websocket(
                    self._session.client(), self._url, self._options, self._headers
                )
        except Exception as exc:
            failure = transport.from_exception(exc, self._redactor)
            if failure is None:
                raise
            await self._conclude(failure, attempt, opened=False, stable=False)
            return
        try:
            disconnect = await self._serve(ws, attempt)
        finally:
            if not self._graceful:
                transport.discard(ws)
        stable = self._clock.now() - self._opened_at >= self._options.stable_after
        await self._conclude(disconnect, attempt, opened=True, stable=stable)

    async def _conclude(
        self, disconnect: Disconnect, attempt: int, *, opened: bool, stable: bool
    ) -> None:
        """Decide what ``disconnect`` means, report it, and act on it."""
        if self._closing is not None:
            decision: Decision = Stop("the application closed the connection")
        elif self._hook_error is not None:
            decision = Fail("on_connect raised")
        else:
            decision = self._options.policy.decide(disconnect)
        if disconnect.code is not None:
            self._last_code = disconnect.code
        if isinstance(decision, Stop):
            self._set_state(State.CLOSED)
        elif isinstance(decision, Fail):
            self._set_state(State.FAILED)
        else:
            self._set_state(State.WAITING)
        logger.info("%s: %s -> %s", self._shown_url, disconnect.describe(), decision)
        if opened:
            await self._emit(
                Disconnected(
                    disconnect.code, disconnect.reason, disconnect.initiated_by, disconnect
                )
            )
        else:
            await self._emit(ConnectFailed(self._shown_url, attempt, disconnect))
        if isinstance(decision, Fail):
            raise _Fatal(disconnect, self._hook_error or disconnect.to_error(), attempt)
        if not isinstance(decision, Stop):
            raise _Retry(disconnect, decision, stable=stable)

    async def _announce(self, retry_state: RetryCallState) -> None:
        retry = _retry_of(retry_state)
        delay = retry_state.upcoming_sleep
        attempt = retry_state.attempt_number
        self._holding = isinstance(retry.decision, HoldOff)
        logger.info("%s: next attempt in %.3f s (%s)", self._shown_url, delay, retry.decision)
        await self._emit(ReconnectScheduled(attempt, delay, retry.decision, retry.disconnect))
        if isinstance(retry.decision, HoldOff):
            await self._emit(HoldingOff(delay, retry.decision.reason, attempt))

    async def _wait(self, delay: float) -> None:
        """tenacity's sleep: on the clock, cut short by ``resume()``/``reconnect()``."""
        if self._closing is not None or self._skip:
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
            self._holding = False

    def _finish(self, error: BaseException | None) -> None:
        self._done = True
        self._error = error
        if self._state not in TERMINAL:
            self._set_state(State.FAILED if error is not None else State.CLOSED)
        if self._outbox:
            logger.warning(
                "%s ended with %d buffered message(s) unsent (see Connection.unsent)",
                self._shown_url,
                len(self._outbox),
            )
        self._wake()

    def _set_state(self, new: State) -> None:
        old = self._state
        if new is not old:
            check_transition(old, new)
            self._state = new
            logger.debug("%s: %s -> %s", self._shown_url, old, new)

    async def _emit(self, event: Event) -> None:
        callback = self._options.on_event
        if callback is None:
            return
        try:
            result = callback(event)
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception(
                "on_event raised on %s; the connection carries on", type(event).__name__
            )


def _retry_of_attempt(exc: RetryError) -> _Retry:
    last = exc.last_attempt.exception()
    assert isinstance(last, _Retry)
    return last
