"""A WebSocket connection that reconnects by itself: the public facade.

The work is done by parts with one job each, and this class only routes the
application's calls to them:

- :class:`~wsclient.supervisor.Supervisor`: the task that runs the retry
  loop on tenacity, opens sockets, rotates them, decides, reports, ends;
- :class:`~wsclient.link.Link`: one socket and everything that dies with it
  (its helper tasks, the on_connect gate, pings and close frames, writes);
- :class:`~wsclient.inbox.Inbox`: received messages and backpressure;
- :class:`~wsclient.outbox.Outbox`: sends made while down;
- :mod:`wsclient.liveness`: the heartbeat and the stale-data watchdog;
- :mod:`wsclient.plan`: the connection's rules, apart from I/O.

Code that runs as ``on_connect`` reads and writes its own socket, whichever
way it reads (``receive()``, ``async for``, ``batches()``): the
``current_hook`` context variable tells it apart from the application's.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Mapping
from types import MappingProxyType
from typing import Any, TypeVar, overload

from aiohttp import WSMessage
from yarl import URL

from .budget import ReconnectBudget
from .disconnect import Disconnect, DisconnectKind, is_valid_wire_code
from .endpoints import Targets
from .errors import ConnectionClosed, InvalidState
from .events import Gap, Reconnected
from .gate import hook_of
from .inbox import Inbox
from .link import Link, Parts, current_hook
from .options import Options
from .outbox import Outbox, Outgoing, Pacer, outgoing, utf8_size
from .sending import Sender
from .sequence import Sequencer
from .state import State
from .stats import Meter, Stats
from .stream import Stream
from .subscriptions import Subscriptions
from .supervisor import Supervisor
from .tasks import await_all
from .transport import ResponseHeaders, Transport, proxy_credentials, response_headers

__all__ = ["Connection", "check_close", "default_name"]

T = TypeVar("T")

_MAX_REASON_BYTES = 123  # a close frame's payload is at most 125 bytes


# The stdlib decoder, whatever else is installed: orjson rejects NaN and
# 1e400 and turns a 30-digit integer into a float, so a decoder picked by what
# happens to be importable would change results silently. orjson is opt-in:
# ``loads=orjson.loads``.
default_loads: Callable[[Any], Any] = json.loads


def default_name(targets: Targets) -> str:
    """The first endpoint's host and explicit port: stable, and never its
    path or query, where tokens live (``/ws/<listenKey>``, ``?token=``)."""
    source = targets.sources[0]
    if not isinstance(source, URL) or not source.host:
        return "wsclient"  # a URL from a callable: unknown until called
    port = source.explicit_port
    return source.host if port is None else f"{source.host}:{port}"


def _remember_proxy(targets: Targets, options: Options) -> None:
    """Teach the connection's redactor the proxy's credentials, in every form
    an error may show them (the URL, the password, the Basic header)."""
    assert options.proxy is not None
    proxy = URL(options.proxy)
    targets.redactor.add_url(proxy)
    targets.redactor.add_headers(proxy_credentials(proxy, options.proxy_headers)[1])


def check_close(code: int, reason: str) -> None:
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

    __slots__ = ("__weakref__", "_core", "_name", "_parts", "_sender", "_sequencer")

    def __init__(
        self,
        targets: Targets,
        options: Options,
        *,
        transport: Transport,
        budget: ReconnectBudget | None,
        release: Callable[[Connection], Awaitable[None]],
    ) -> None:
        meter = Meter()
        self._name = options.name or default_name(targets)
        if options.proxy is not None:
            _remember_proxy(targets, options)
        if options.metrics is not False:
            from . import metrics  # noqa: PLC0415 - it imports OpenTelemetry: only when used

            options = metrics.attach(self, options, meter)
        on_connect = options.on_connect
        self._parts = Parts(
            transport=transport,
            options=options,
            clock=options.clock,
            redactor=targets.redactor,
            meter=meter,
            inbox=Inbox(options.max_queue, meter, options.clock),
            outbox=Outbox(options.buffer_size),
            pacer=None if options.send_rate is None else Pacer(options.clock, options.send_rate),
            subscriptions=Subscriptions(),
            on_connect=None if on_connect is None else functools.partial(on_connect, self),
        )
        self._sequencer = None if options.sequence is None else Sequencer()
        on_stale = options.on_stale
        self._core = Supervisor(
            targets,
            self._parts,
            budget=budget,
            release=functools.partial(release, self),
            on_stale=None if on_stale is None else functools.partial(on_stale, self),
            name=self._name,
        )
        self._sender = Sender(self._core, self._parts)

    # -- what it is -----------------------------------------------------------------

    @property
    def state(self) -> State:
        """Where the connection is in its life."""
        return self._core.life.state

    @property
    def legs(self) -> tuple[Connection, ...]:
        """The connections whose messages this one yields: itself, or with
        ``redundancy``, each leg (with its own ``state``, ``url``, ``stats``)."""
        return (self,)

    @property
    def url(self) -> str:
        """The current endpoint, redacted (no password, no query values)."""
        return self._core.url

    @property
    def stats(self) -> Stats:
        """A snapshot of the counters."""
        core, parts, sequencer = self._core, self._parts, self._sequencer
        return parts.meter.snapshot(
            core.life.state,
            core.url,
            parts.clock.now(),
            opened_at=None if core.link is None else core.link.opened_at,
            buffered=len(parts.outbox),
            duplicates=0 if sequencer is None else sequencer.duplicates,
            gaps=0 if sequencer is None else sequencer.gaps,
        )

    @property
    def name(self) -> str:
        """What the connection is called in log records and metrics: the
        ``name`` option, by default the first endpoint's host (and port)."""
        return self._name

    @property
    def closed(self) -> bool:
        """Whether the connection is closed for good: ``close()`` was called,
        or it ended (a Stop, a failure, retries exhausted). Never during a
        reconnect: the connection lives on across sockets."""
        return self._core.closing is not None or self._core.done

    @property
    def close_code(self) -> int | None:
        """The effective close code of the last socket that ended (as in
        ``Disconnected.code``: 1005 for a close frame without a code, 1006
        for a lost transport or a missed pong), kept across reconnects;
        ``None`` until a socket has ended. A failed handshake has no code
        and leaves it as it was."""
        return self._parts.meter.last_code

    @property
    def response_headers(self) -> ResponseHeaders | None:
        """The response headers of the current socket's opening handshake
        (``None`` while no socket is open). All of them, cookies included:
        the application asked; wsclient itself never logs or reports them,
        and their ``repr`` masks secret values."""
        link = self._core.link
        return None if link is None else response_headers(link.ws)

    @property
    def protocol(self) -> str | None:
        """The subprotocol the server chose on the current socket (``None``
        if it chose none, or while no socket is open)."""
        link = self._core.link
        return None if link is None else link.ws.protocol

    async def ping(self) -> float:
        """Ping the server now: the round trip in seconds.

        Raises:
            InvalidState: no socket is open.
            TimeoutError: no pong within ``pong_timeout``.
            ConnectionClosed: the socket ended meanwhile.
        """
        link = self._core.link
        if link is None or link.ending is not None or link.retired:
            raise InvalidState(f"{self!r} has no open socket to ping")
        try:
            return await link.round_trip()
        except ConnectionError:
            raise ConnectionClosed("the socket ended before its pong came") from None

    @property
    def position(self) -> Mapping[Hashable, int]:
        """Per stream, the last seq yielded (with a ``sequence`` key): read it
        in ``on_connect`` to resume where the application is."""
        return MappingProxyType({} if self._sequencer is None else self._sequencer.positions)

    @property
    def unconfirmed(self) -> list[str | bytes]:
        """The payloads of sends that a socket took and then died under,
        with no pong to confirm them, and that are not sent again (all of
        them, unless ``resend_unconfirmed``): they may or may not have reached
        the server. The last ``buffer_size`` of them, oldest first."""
        return list(self._parts.outbox.unconfirmed or ())

    @property
    def unsent(self) -> list[str | bytes]:
        """The payloads still waiting in the outbox, oldest first (after a
        close or failure, these were never sent)."""
        return self._parts.outbox.unsent()

    def __repr__(self) -> str:
        return f"<Connection {self.url} {self.state}>"

    # -- its life ---------------------------------------------------------------------

    async def __aenter__(self) -> Connection:
        self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def open(self) -> None:
        """Start connecting in the background (``async with`` does this)."""
        if self._core.task is not None or self._core.life.state is not State.IDLE:
            raise InvalidState(f"{self!r} was opened already")
        self._core.start()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close for good: a closing handshake if connected, else at once.

        Never reconnects afterwards. Safe to call more than once, from any task.
        A socket already on its way out (a :meth:`reconnect`, a server's close)
        finishes its closing handshake with the code it had; then it stops.
        """
        check_close(code, reason)
        core = self._core
        task = core.task
        # Called from the application, close() waits until the supervisor has
        # finished (cancelling it if it only waits or connects). Called from
        # a task the supervisor itself waits on (on_event, on_stale, an
        # on_connect that has not returned), it must not wait: the supervisor
        # finishes after that task, and sees ``closing`` at its next step. If
        # the supervisor never started, or was cancelled before it ever ran,
        # nobody else will end the connection: close() does.
        outside = task is not None and not core.owns(asyncio.current_task())
        core.close(Disconnect(code, reason, kind=DisconnectKind.USER), cancel=outside)
        if task is not None and outside:
            await await_all({task})  # if close() is cancelled, so is the rest
        if not core.done and (task is None or task.done()):
            await core.end()

    async def reconnect(self) -> None:
        """Drop the current connection (a closing handshake with 1000) and open
        a fresh one at once; during a wait, end the wait. Returns once the old
        socket is on its way out."""
        core = self._core
        if core.task is None or core.closing is not None or core.done:
            raise InvalidState(f"cannot reconnect {self!r}")
        core.reconnect()

    async def rotate(self) -> None:
        """Replace the socket, making before breaking: open the next one, run
        on_connect and the subscriptions on it while the current one still
        delivers, then close the current one (for a server that announces
        it will go away). Returns once the next socket is set up and the
        current one is on its way out; if the next one could not be set up,
        the connection reconnects as after any close.

        Raises:
            InvalidState: no socket is open (or its on_connect has not run).
        """
        await asyncio.wait({self._core.rotate()})

    def resume(self) -> Awaitable[None]:
        """End a hold-off (after 1013) at once and connect now.

        Takes effect immediately; the result may be awaited or ignored.
        """
        self._core.resume()
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def _hook(self) -> Link | None:
        return hook_of(self._parts)

    # -- receiving ----------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[WSMessage]:
        hook = self._hook()
        if hook is None and self._parts.options.sequence is None:
            self._check_opened()
            return self._parts.inbox  # the fast path
        return self._stream(hook, None, markers=False)

    @overload
    def stream(self) -> AsyncIterator[WSMessage | Reconnected | Gap]: ...
    @overload
    def stream(self, *, loads: Callable[[Any], T]) -> AsyncIterator[T | Reconnected | Gap]: ...
    def stream(self, *, loads: Callable[[Any], Any] | None = None) -> AsyncIterator[Any]:
        """Messages across reconnects, and markers where the stream has a seam.

        Every message of connection N comes before any of connection N+1, and
        a :class:`~wsclient.Reconnected` marker stands between them. With a
        ``sequence`` key, duplicates are dropped and a jump in a stream is
        announced by a :class:`~wsclient.Gap` marker (and event) just before
        the message that revealed it.

        Args:
            loads: Decode each message's data with it (``json.loads``,
                ``orjson.loads``): the stream yields what it returns, and the
                ``sequence`` key gets that too (one decoding per message).
        """
        return self._stream(self._hook(), loads, markers=True)

    def _stream(
        self, hook: Link | None, loads: Callable[[Any], Any] | None, *, markers: bool
    ) -> Stream:
        if hook is None:
            self._check_opened()
        return Stream(
            self._parts.inbox,
            hook=hook,
            key=self._parts.options.sequence,
            sequencer=self._sequencer,
            emit=self._core.life.emit,
            loads=loads,
            markers=markers,
        )

    async def __anext__(self) -> WSMessage:
        try:
            return await self.receive()
        except ConnectionClosed:
            raise StopAsyncIteration from None

    async def receive(self) -> WSMessage:
        """The next TEXT or BINARY message, waiting across reconnects.

        Raises:
            ConnectionClosed: the connection ended cleanly.
            FatalClose, HandshakeRejected, ConnectionFailed, RetriesExhausted:
                it ended for good.
        """
        messages = self._parts.inbox.messages
        if messages and current_hook.get() is None:  # the fast path
            return messages.popleft()
        hook = self._hook()
        if hook is not None and (msg := await hook.receive()) is not None:
            return msg
        self._check_opened()
        return await self._parts.inbox.get()

    async def batches(self) -> AsyncIterator[list[WSMessage]]:
        """Messages in batches: all that arrived since the last batch, at least
        one, across reconnects. For high rates: the per-message cost of
        ``async for msg in conn`` is paid once per batch.

        Ends and raises as iterating over the connection does.
        """
        inbox = self._parts.inbox
        while True:
            try:
                hook = self._hook()
                if hook is not None and (msg := await hook.receive()) is not None:
                    yield [msg]  # on_connect reads its own socket
                    continue
                self._check_opened()
                batch = await inbox.take()
            except ConnectionClosed:
                return
            yield batch

    async def receive_json(self, *, loads: Callable[[Any], Any] | None = None) -> Any:
        """The next message, decoded with ``json.loads`` (whatever else is
        installed), or with ``loads`` (``loads=orjson.loads`` for speed)."""
        return (loads or default_loads)((await self.receive()).data)

    async def iter_json(self, *, loads: Callable[[Any], Any] | None = None) -> AsyncIterator[Any]:
        """Every message, decoded (see :meth:`receive_json`), across reconnects."""
        decode = loads or default_loads
        async for msg in self:
            yield decode(msg.data)

    def _check_opened(self) -> None:
        if self._core.task is None and not self._core.done:
            raise InvalidState(f"{self!r} was never opened: use 'async with'")

    # -- sending --------------------------------------------------------------------------

    async def send_str(self, data: str) -> None:
        """Send a TEXT message now, or buffer it while reconnecting.

        Raises:
            TypeError: ``data`` is not a str.
            ValueError: it cannot be encoded as UTF-8 (a lone surrogate).
            BufferFull: the outbox is full; the message was not taken.
            InvalidState: the connection is closed or failed.
        """
        if not isinstance(data, str):
            raise TypeError(f"send_str takes a str, got {type(data).__name__}")
        await self._send((data, utf8_size(data)))

    async def send_bytes(self, data: bytes | bytearray | memoryview) -> None:
        """Send a BINARY message now, or buffer it while reconnecting."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"send_bytes takes bytes, got {type(data).__name__}")
        payload = bytes(data)
        await self._send((payload, len(payload)))

    def _send(self, message: Outgoing) -> Awaitable[None]:
        """Where a checked message goes (a plain call: no extra coroutine per send)."""
        return self._sender.send(message)

    async def send_json(self, data: Any, *, dumps: Callable[[Any], str] = json.dumps) -> None:
        """Send ``dumps(data)`` as a TEXT message (see :meth:`send_str`)."""
        await self.send_str(dumps(data))

    # -- subscriptions ------------------------------------------------------------------

    @property
    def subscriptions(self) -> list[Hashable]:
        """The names subscribed with :meth:`subscribe`, oldest first."""
        return self._parts.subscriptions.names()

    async def subscribe(self, name: Hashable, message: Any, *, unsubscribe: Any = None) -> None:
        """Subscribe ``name`` for as long as the connection lives: ``message``
        goes out now if a socket is up, and again on every new socket, after
        on_connect and before the outbox (never queued twice).

        Args:
            name: What the subscription is called (to unsubscribe it).
            message: The message that subscribes: str (TEXT), bytes
                (BINARY), or anything else, sent as JSON.
            unsubscribe: The message that undoes it, for :meth:`unsubscribe`
                (``None``: nothing is sent, new sockets just leave it out).

        Raises:
            TypeError, ValueError: a message that cannot be sent.
            InvalidState: the connection has ended.
        """
        undo = None if unsubscribe is None else outgoing(unsubscribe, "unsubscribe")
        await self._sender.subscribe(name, outgoing(message, "message"), undo)

    async def unsubscribe(self, name: Hashable) -> None:
        """Stop wanting ``name``: its unsubscribe message goes to every socket
        that was sent its subscription, and no new socket is sent it.

        Raises:
            KeyError: ``name`` is not subscribed.
        """
        await self._sender.unsubscribe(name)
