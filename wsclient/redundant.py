"""``redundancy=N``: N connections to one feed, merged into one stream.

Each leg is a whole :class:`~wsclient.connection.Connection` with its own
socket, reconnect policy, backoff, heartbeat and outbox; leg ``i`` starts at
endpoint ``i`` of the list. The merged stream reads every leg's inbox and
lets :class:`~wsclient.merge.Merge` judge each message by its sequence key:
the first copy wins, a hole waits for another leg's copy (``gap_timeout``)
before its :class:`~wsclient.Gap`. One leg's reconnect costs the merged
stream nothing while another leg delivers.

Where things go: ``on_connect`` and the subscriptions run on every leg, and
what ``on_connect`` reads and sends uses its own leg's socket; the
application's other sends go to one leg, not to all: the first that is
connected, after what legs that are down hold from before (moved to it, in
order); with no leg up, to the first still running, which buffers them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Mapping
from types import MappingProxyType
from typing import Any

from aiohttp import WSMessage

from .connection import Connection, check_close
from .disconnect import Disconnect, DisconnectKind
from .errors import ConnectionClosed, InvalidState
from .events import Event
from .gate import hook_of
from .link import Link
from .merge import Merge
from .merged import MergedInbox
from .options import OnEvent, Options
from .outbox import Outbox, Outgoing
from .state import TERMINAL, State
from .stats import Stats
from .transport import ResponseHeaders

__all__ = ["Redundant"]

MakeLeg = Callable[[int, Options, Callable[[Connection], Awaitable[None]]], Connection]

# The merged state is the best of the legs' (up if any leg is up).
_BEST_FIRST = (State.CONNECTED, State.CONNECTING, State.WAITING, State.CLOSING, State.IDLE)
_RANK = {s: i for i, s in enumerate((*_BEST_FIRST, State.CLOSED, State.FAILED))}


class _Merged:
    """What metrics observe of the merge itself: its duplicates and gaps
    (the legs report their messages, bytes and sockets under their names)."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Redundant) -> None:
        self._conn = conn

    @property
    def name(self) -> str:
        return self._conn.name

    @property
    def stats(self) -> Stats:
        conn = self._conn
        merge = conn._inbox.merge
        counts = dict.fromkeys(("connects", "reconnects", "messages_in", "bytes_in"), 0)
        counts |= dict.fromkeys(("messages_out", "bytes_out", "pongs", "buffered"), 0)
        return Stats(
            state=conn.state,
            url=conn.url,
            **counts,
            pong_age=None,
            data_age=None,
            last_close_code=None,
            uptime=0.0,
            duplicates=merge.duplicates,
            gaps=merge.gaps,
        )


async def _move(outbox: Outbox, to: Connection) -> None:
    """Send what ``outbox`` holds for its leg's next socket through ``to``,
    oldest first (what is not sent stays where it was)."""
    while (message := outbox.take()) is not None:
        try:
            await to._sender.send(message)
        except BaseException:
            outbox.put_back(message)
            raise


def _tagged(on_event: OnEvent, leg: int, event: Event) -> object:
    return on_event(dataclasses.replace(event, leg=leg))  # type: ignore[arg-type]


class Redundant(Connection):
    """A connection of ``redundancy`` legs, one merged stream.

    ``legs`` shows each leg's state and stats (read from the merged
    connection, not from a leg: a leg's messages are the merge's).
    """

    __slots__ = ("_gone", "_inbox", "_legs", "_name", "_release", "_sending")

    def __init__(
        self,
        options: Options,
        make_leg: MakeLeg,
        *,
        release: Callable[[Connection], Awaitable[None]],
    ) -> None:
        # Connection.__init__ is not called: every member that would use its
        # parts is overridden here (a test checks that none is left).
        assert options.sequence is not None
        assert options.name is not None  # (the session names it)
        self._name = options.name
        self._release = release
        self._gone = 0  # legs whose supervisor has finished
        self._sending = asyncio.Lock()
        on_connect, on_stale, on_event = options.on_connect, options.on_stale, options.on_event

        def leg_options(leg: int) -> Options:
            return dataclasses.replace(
                options,
                redundancy=1,
                sequence=None,  # the merge sequences
                name=f"{self._name}/leg{leg}",
                on_connect=None if on_connect is None else lambda _: on_connect(self),
                on_stale=None if on_stale is None else lambda _: on_stale(self),
                on_event=None if on_event is None else functools.partial(_tagged, on_event, leg),
            )

        self._legs = tuple(
            make_leg(i, leg_options(i + 1), self._leg_gone) for i in range(options.redundancy)
        )
        self._inbox = MergedInbox(
            [leg._parts.inbox for leg in self._legs],
            Merge(options.redundancy, options.gap_timeout, options.max_queue),
            key=options.sequence,
            clock=options.clock,
            on_event=options.on_event,
        )
        if options.metrics is not False:  # the legs record their own; the merge's counts here
            from . import metrics  # noqa: PLC0415 - it imports OpenTelemetry: only when used

            metrics.observe(_Merged(self), options.metrics)

    # -- what it is -----------------------------------------------------------------

    @property
    def legs(self) -> tuple[Connection, ...]:
        """The legs, each with its own ``state``, ``url`` and ``stats``."""
        return self._legs

    def _up(self) -> Connection | None:
        """The first leg that is connected."""
        return next((leg for leg in self._legs if leg.state is State.CONNECTED), None)

    @property
    def state(self) -> State:
        """The best of the legs' states: connected while any leg is."""
        return min((leg.state for leg in self._legs), key=_RANK.__getitem__)

    @property
    def name(self) -> str:
        """What it is called in logs and metrics; leg i is ``<name>/leg<i>``."""
        return self._name

    @property
    def url(self) -> str:
        """The endpoint of the first connected leg (else the first leg's), redacted."""
        return (self._up() or self._legs[0]).url

    @property
    def stats(self) -> Stats:
        """The legs' counters summed (``messages_in`` counts every leg's copy;
        ``duplicates`` the copies the merge dropped), ages from the freshest
        leg; each leg's own are in ``legs``."""
        snaps = [leg.stats for leg in self._legs]

        def total(name: str) -> int:
            return sum(getattr(s, name) for s in snaps)

        def freshest(name: str) -> float | None:
            return min((a for s in snaps if (a := getattr(s, name)) is not None), default=None)

        return Stats(
            state=self.state,
            url=self.url,
            connects=total("connects"),
            reconnects=total("reconnects"),
            messages_in=total("messages_in"),
            bytes_in=total("bytes_in"),
            messages_out=total("messages_out"),
            bytes_out=total("bytes_out"),
            pongs=total("pongs"),
            pong_age=freshest("pong_age"),
            data_age=freshest("data_age"),
            buffered=total("buffered"),
            last_close_code=next(
                (s.last_close_code for s in snaps if s.last_close_code is not None), None
            ),
            uptime=max(s.uptime for s in snaps),
            duplicates=self._inbox.merge.duplicates,
            gaps=self._inbox.merge.gaps,
        )

    @property
    def closed(self) -> bool:
        """Whether every leg is closed for good."""
        return all(leg.closed for leg in self._legs)

    @property
    def close_code(self) -> int | None:
        """The first leg's ``close_code`` that is set, leg by leg (each leg's
        own is in ``legs``)."""
        return next((c for leg in self._legs if (c := leg.close_code) is not None), None)

    @property
    def response_headers(self) -> ResponseHeaders | None:
        """The handshake response headers of on_connect's leg, else of the
        first connected leg."""
        leg = self._hook_leg() or self._up()
        return None if leg is None else leg.response_headers

    @property
    def protocol(self) -> str | None:
        """The subprotocol on on_connect's leg, else on the first connected leg."""
        leg = self._hook_leg() or self._up()
        return None if leg is None else leg.protocol

    async def ping(self) -> float:
        """The round trip of a ping on on_connect's leg, else on the first
        connected leg (see :meth:`Connection.ping`)."""
        leg = self._hook_leg() or self._up()
        if leg is None:
            raise InvalidState(f"{self!r} has no open socket to ping")
        return await leg.ping()

    @property
    def position(self) -> Mapping[Hashable, int]:
        """Per stream, the last seq the merged stream yielded."""
        return MappingProxyType(self._inbox.merge.positions)

    @property
    def unconfirmed(self) -> list[str | bytes]:
        """Every leg's unconfirmed sends, leg by leg."""
        return [payload for leg in self._legs for payload in leg.unconfirmed]

    @property
    def unsent(self) -> list[str | bytes]:
        """Every leg's unsent sends, leg by leg."""
        return [payload for leg in self._legs for payload in leg.unsent]

    def __repr__(self) -> str:
        return f"<Connection {self.url} {self.state}, {len(self._legs)} legs>"

    # -- its life ---------------------------------------------------------------------

    def open(self) -> None:
        """Start connecting every leg in the background."""
        for leg in self._legs:
            leg.open()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close every leg for good (see :meth:`Connection.close`)."""
        check_close(code, reason)
        current = asyncio.current_task()
        if any(leg._core.owns(current) for leg in self._legs):
            # Called from a task a leg's supervisor waits on (its on_connect,
            # on_event, on_stale): waiting for any leg could wait for this
            # very task, or for another leg's hook that waits for this one.
            # Every leg is told to close (the others' waits cut short), and
            # each ends by itself.
            why = Disconnect(code, reason, kind=DisconnectKind.USER)
            for leg in self._legs:
                leg._core.close(why, cancel=not leg._core.owns(current))
            return
        await asyncio.gather(*(leg.close(code, reason) for leg in self._legs))

    async def reconnect(self) -> None:
        """Reconnect every leg that is running (at once: for one at a time,
        with no moment without a socket, use :meth:`rotate`)."""
        running = [leg for leg in self._legs if leg.state not in TERMINAL]
        if not running:
            raise InvalidState(f"cannot reconnect {self!r}")
        for leg in running:
            await leg.reconnect()

    async def rotate(self) -> None:
        """Rotate the connected legs one after the other (make before break)."""
        up = [leg for leg in self._legs if leg.state is State.CONNECTED]
        if not up:
            raise InvalidState(f"{self!r} has no open socket to rotate")
        for leg in up:
            await leg.rotate()

    def resume(self) -> Awaitable[None]:
        """End every leg's hold-off at once."""
        for leg in self._legs[1:]:
            leg.resume()
        return self._legs[0].resume()

    async def _leg_gone(self, _leg: Connection) -> None:
        self._gone += 1
        if self._gone == len(self._legs):
            await self._release(self)

    # -- receiving ----------------------------------------------------------------------

    def _hook(self) -> Link | None:
        """The socket of the leg whose on_connect runs in this context."""
        for leg in self._legs:
            if (hook := hook_of(leg._parts)) is not None:
                return hook
        return None

    def _hook_leg(self) -> Connection | None:
        hook = self._hook()
        return next((leg for leg in self._legs if hook and hook.parts is leg._parts), None)

    def _check_opened(self) -> None:
        self._legs[0]._check_opened()

    def __aiter__(self) -> AsyncIterator[WSMessage]:
        return self._merged(self._hook(), None, markers=False)

    def stream(self, *, loads: Callable[[Any], Any] | None = None) -> AsyncIterator[Any]:
        """The merged stream, in sequence order, with a :class:`~wsclient.Gap`
        marker before a hole no leg filled in ``gap_timeout``; no
        :class:`~wsclient.Reconnected` markers (a leg's reconnect is no seam).
        See :meth:`Connection.stream`."""
        return self._merged(self._hook(), loads, markers=True)

    async def _merged(
        self, hook: Link | None, loads: Callable[[Any], Any] | None, *, markers: bool
    ) -> AsyncIterator[Any]:
        if hook is not None:  # on_connect reads its own socket, then the merged stream
            while (msg := await hook.receive()) is not None:
                yield msg if loads is None else loads(msg.data)
        else:
            self._check_opened()
        while True:
            try:
                item = await self._inbox.next(loads, markers=markers)
            except ConnectionClosed:
                return
            yield item

    async def receive(self) -> WSMessage:
        """The next message of the merged stream (on_connect: of its own socket)."""
        hook = self._hook()
        if hook is not None and (msg := await hook.receive()) is not None:
            return msg
        self._check_opened()
        item: WSMessage = await self._inbox.next(None, markers=False)
        return item

    async def batches(self) -> AsyncIterator[list[WSMessage]]:
        """The merged stream in batches: what is ready, at least one message."""
        while True:
            try:
                first = await self.receive()
            except ConnectionClosed:
                return
            yield [first] if self._hook() is not None else [first, *self._inbox.ready_messages()]

    # -- sending --------------------------------------------------------------------------

    async def _send(self, message: Outgoing) -> None:
        """on_connect's leg sends its own; the application's go to the first
        connected leg, after what legs that are down hold from before (moved
        to it, in order); with no leg up, to the first still running (it
        buffers them; they move to whichever leg is up at the next send)."""
        hooked = self._hook_leg()
        if hooked is not None:
            await hooked._sender.send(message)
            return
        async with self._sending:  # (in order of the calls: moved ones first)
            up = self._up()
            if up is None:
                leg = next((g for g in self._legs if g.state not in TERMINAL), self._legs[0])
                await leg._sender.send(message)
                return
            for leg in self._legs:
                if leg is not up and leg.state is not State.CONNECTED:
                    await _move(leg._parts.outbox, up)
            await up._sender.send(message)

    @property
    def subscriptions(self) -> list[Hashable]:
        """The names subscribed on any leg, oldest first."""
        return list(dict.fromkeys(name for leg in self._legs for name in leg.subscriptions))

    async def subscribe(self, name: Hashable, message: Any, *, unsubscribe: Any = None) -> None:
        """Subscribe on every running leg (on_connect: on its own leg)."""
        await asyncio.gather(
            *(leg.subscribe(name, message, unsubscribe=unsubscribe) for leg in self._targets())
        )

    async def unsubscribe(self, name: Hashable) -> None:
        """Unsubscribe on every running leg that has it (on_connect: on its own leg)."""
        legs = [leg for leg in self._targets() if name in leg.subscriptions]
        await asyncio.gather(*(leg.unsubscribe(name) for leg in legs or self._legs[:1]))

    def _targets(self) -> list[Connection]:
        hooked = self._hook_leg()
        if hooked is not None:
            return [hooked]
        running = [leg for leg in self._legs if leg.state not in TERMINAL]
        return running or [self._legs[0]]  # (it raises)
