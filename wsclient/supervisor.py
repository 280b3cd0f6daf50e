"""The supervisor: the one task that runs a connection's life.

It drives tenacity's ``AsyncRetrying`` (sleeping on the injected clock) until
a socket is open, serves the socket outside the retrying (its
:class:`~wsclient.link.Link` reads it until it ends), turns the end into a
decision (:mod:`wsclient.plan` over the policy) and acts on it: try again
after a wait, stop, or fail. Its :class:`~wsclient.lifecycle.Lifecycle`
holds the connection's state and tells its life to ``on_event`` and the log.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, RetryError, retry_if_exception_type

from . import liveness, plan, rotation
from .budget import ReconnectBudget
from .disconnect import Disconnect, DisconnectKind
from .endpoints import Targets
from .errors import ConnectionClosed, InvalidState, RetriesExhausted
from .events import GaveUp, Stale
from .lifecycle import Leftovers, Lifecycle
from .link import Link, Parts, current_hook, dial
from .policy import Fail, HoldOff, Refresh, Stop
from .retry import Fatal, Nap, Retry, Streak, retry_of
from .state import TERMINAL, State
from .tasks import result

__all__ = ["Supervisor"]

logger = logging.getLogger("wsclient")


class Supervisor:
    """The retry loop of one connection, and what it has to show for it."""

    __slots__ = (
        "_budget",
        "_nap",
        "_on_stale",
        "_release",
        "_rotator",
        "closing",
        "done",
        "error",
        "life",
        "link",
        "parts",
        "round",
        "targets",
        "task",
    )

    def __init__(
        self,
        targets: Targets,
        parts: Parts,
        *,
        budget: ReconnectBudget | None,
        release: Callable[[], Awaitable[None]],
        on_stale: Callable[[], bool | Awaitable[bool]] | None,
        name: str,
    ) -> None:
        self.targets = targets
        self.parts = parts
        self._budget = budget
        self._release = release
        self._on_stale = on_stale
        self.round = plan.Round()
        self.life = Lifecycle(parts.options.on_event, self._url, name)
        self.task: asyncio.Task[None] | None = None
        self.closing: Disconnect | None = None  # close() was asked for
        self.done = False  # the supervisor has finished
        self.error: BaseException | None = None  # how it ended, if not cleanly
        self.link: Link | None = None  # the open socket
        self._rotator: rotation.Rotator | None = None  # max_age, rotate(): made when needed
        self._nap = Nap(parts.clock)  # the wait before an attempt

    @property
    def url(self) -> str:
        """The current endpoint, redacted."""
        return self._url()

    def _url(self) -> str:  # (a bound method is lighter than a lambda to hand out)
        return self.targets.shown[self.round.current]

    @property
    def successor(self) -> Link | None:
        """The next socket a rotation set up, until it is adopted."""
        return None if self._rotator is None else self._rotator.successor

    def rotator(self) -> rotation.Rotator:
        """The connection's rotations (made at the first)."""
        if self._rotator is None:
            self._rotator = rotation.Rotator(self._dial_next, self._url, self.life.extra)
        return self._rotator

    def start(self) -> None:
        """Run the connection's life in a task of its own."""
        self.task = asyncio.create_task(self._run(), name=f"wsclient {self.url}")

    # -- what the application asks for ---------------------------------------------

    def owns(self, task: asyncio.Task[Any] | None) -> bool:
        """Whether ``task`` is one the supervisor waits on (so it must not wait
        on the supervisor): the supervisor itself (on_event), a helper of its
        sockets (on_stale, a rotation), or code running as an on_connect that
        has not returned (it may await ``task``). Code that on_connect started
        and that outlives it is the application's."""
        if task is self.task:
            return True
        for link in (self.link, self.successor):
            if link is not None and link.tasks and task in link.tasks:
                return True
        hook = current_hook.get()
        return hook is not None and hook.parts is self.parts and not hook.hook_done

    def close(self, why: Disconnect, *, cancel: bool) -> None:
        """Close for good. An open socket gets a closing handshake; a socket
        already on its way out ends by itself; while waiting or connecting
        there is nothing to close, so the supervisor is cancelled when
        ``cancel`` allows (not from its own tasks: a close from on_event or
        on_connect is seen at the next look at ``closing``). A second close
        may still do what the first could not (cancel, from outside)."""
        if self.done:
            return
        if self.closing is None:
            self.closing = why
            self._nap.cut()
        link = self.link
        if link is not None and link.ending is None and not link.retired:
            self.life.set_state(State.CLOSING)
            link.close(self.closing)
        elif link is None and cancel and self.task is not None:
            self.task.cancel()

    def reconnect(self) -> None:
        """Drop the open socket (a closing handshake with 1000), or end the
        wait before the next attempt (an attempt under way goes on)."""
        link = self.link
        if link is not None and link.ending is None and not link.retired:
            link.close(Disconnect(1000, "reconnect requested", kind=DisconnectKind.FORCED))
        elif self.life.state is State.WAITING:
            self._nap.cut()

    def rotate(self) -> asyncio.Task[None]:
        """Replace the open socket now, making before breaking (or join the
        rotation under way): the task that sets up the next socket and then
        closes the current one."""
        link = self.link
        if link is None or not link.live or link.ending is not None or self.closing is not None:
            raise InvalidState("rotate() needs an open socket whose on_connect has run")
        return self.rotator().start(link, "rotation requested")

    def resume(self) -> None:
        """End a hold-off at once."""
        if self._nap.holding:
            self._nap.cut()

    # -- the loop -----------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._loop(self._new_streak())
        except Fatal as fatal:
            await self.life.emit(GaveUp(fatal.attempts, fatal.disconnect))
        except Exception as exc:
            logger.exception(
                "%s: the connection failed unexpectedly", self.url, extra=self.life.extra
            )
            self.error = exc
        finally:
            await self.end()

    def _new_streak(self) -> Streak:
        options = self.parts.options
        return Streak(self.parts.clock, options.rng, options.stop, self._budget)

    async def _loop(self, streak: Streak) -> None:
        """Connect (retrying on tenacity), serve outside the retrying, decide;
        until a decision stops or fails."""
        pending: Retry | None = None
        while True:
            try:
                link = await self._connect(streak, pending)
            except RetryError as exc:  # the user's stop
                cause = retry_of(exc.last_attempt).disconnect
                self.error = RetriesExhausted(streak.attempt, cause)
                logger.warning("%s: %s", self.url, self.error, extra=self.life.extra)
                raise Fatal(cause, self.error, streak.attempt) from None
            if link is None:  # closed meanwhile
                return
            try:
                await self._open(link, streak.attempt)
                end = await link.read_early()  # until the gate opens, or the socket ends
                disconnect = end or await link.read()
            finally:
                await link.retire(current=True)
                self.link = None
            left = link.ended(disconnect)
            if plan.stable(
                disconnect,
                opened_at=link.opened_at,
                read_at=link.read_at,
                data_at=self.parts.meter.data_at,
                now=self.parts.clock.now(),
                stable_after=self.parts.options.stable_after,
            ):
                streak = self._new_streak()  # it held: the curves start over
                streak.attempt = 1  # that connection is the new streak's first attempt
            pending = await self._conclude(disconnect, streak, link, left)
            if pending is None:
                return

    async def _connect(self, streak: Streak, pending: Retry | None) -> Link | None:
        """Attempts, on tenacity, until a socket is open.

        The end of the last socket was decided outside tenacity; it is
        replayed into it as the first, failed, attempt of this loop, so that
        tenacity waits as that decision says (and counts it, and asks the
        user's stop) before the next real attempt.
        """
        if pending is None:  # the first try needs no retry machinery
            try:
                return await self._attempt(streak)
            except Retry as first:
                pending = first
        retrying = AsyncRetrying(
            sleep=self._nap,
            stop=streak.stop,
            wait=streak.wait,
            retry=retry_if_exception_type(Retry),
            before_sleep=functools.partial(self._announce, streak=streak),
        )
        failed = [pending]
        async for attempt in retrying:
            with attempt:
                if failed:
                    raise failed.pop()
                return await self._attempt(streak)
        return None  # pragma: no cover - the loop returns or raises

    async def _attempt(self, streak: Streak) -> Link | None:
        """Open a socket (or adopt the one a rotation set up). Raises ``Retry``
        or ``Fatal`` for a failed attempt; ``None`` when closed meanwhile."""
        if self.closing is not None:
            return None
        streak.attempt += 1
        self._nap.reset()
        self.life.set_state(State.CONNECTING)
        if self._rotator is not None:
            successor = await self._rotator.take(self.parts.clock.now())
            if successor is not None:
                return successor
        try:
            url, headers = await self.targets.resolve(self.round.current)
        except Exception as exc:  # the application's url or headers callable
            self.error = exc
            failure = Disconnect(kind=DisconnectKind.USER, detail=type(exc).__name__)
            raise Fatal(failure, exc, streak.attempt) from exc
        link = await dial(self.parts, url, headers, adopted=True)
        if isinstance(link, Disconnect):
            retry = await self._conclude(link, streak, None)
            if retry is not None:
                raise retry
            return None
        if self._closed_meanwhile(link):
            await link.retire(current=False)
            return None
        return link

    def _closed_meanwhile(self, link: Link) -> bool:
        """close() came while the handshake ran: the new socket is never
        used (closed with the code close() gave)."""
        if self.closing is None:
            return False
        link.close(self.closing)
        return True

    async def _open(self, link: Link, attempt: int) -> None:
        """A socket is open: announce it, start its helpers and its gate."""
        self.link = link
        self.parts.meter.connects += 1
        self.round = self.round.connected()
        await self.life.connected(attempt)
        if link.ending is not None:  # on_event closed it already: nothing to start
            return
        options = self.parts.options
        if options.heartbeat is not None:
            link.watch(liveness.Heartbeat(link, options.heartbeat, options.pong_timeout))
        if options.stale_after is not None:
            link.watch(liveness.Watchdog(link, options.stale_after, self._stale))
        if options.max_age is not None:
            link.spawn(self.rotator().at_age(link, self.parts.clock, options.max_age), "max_age")
        if link.proceed() is not None:
            # on_connect starts before the reader reads: what it does without
            # waiting (a subscription, then returning) comes before any
            # message of its socket, whatever the socket holds already.
            await asyncio.sleep(0)

    async def _stale(self, idle: float) -> bool:
        """The watchdog found no data for ``idle`` seconds: keep waiting?"""
        keep = self._on_stale is not None and bool(await result(self._on_stale()))
        await self.life.emit(Stale(idle, keep))
        return keep

    async def _dial_next(self) -> Link | Disconnect:
        try:
            url, headers = await self.targets.resolve(self.round.current)
        except Exception as exc:  # the url/headers callable: the next attempt says it
            return Disconnect(kind=DisconnectKind.USER, detail=type(exc).__name__)
        return await dial(self.parts, url, headers, adopted=False)

    # -- deciding --------------------------------------------------------------------

    async def _conclude(
        self,
        disconnect: Disconnect,
        streak: Streak,
        link: Link | None,
        left: Leftovers | None = None,
    ) -> Retry | None:
        """Decide what ``disconnect`` means and report it: ``None`` to stop, a
        ``Retry`` to wait as it says; raises ``Fatal`` to fail."""
        hook_error = link.hook_error if link is not None else None
        decision = plan.decide(
            self.parts.options.policy,
            disconnect,
            closing=self.closing is not None,
            hook_failed=hook_error is not None,
            refreshed=streak.refreshed,
        )
        streak.refreshed = streak.refreshed or isinstance(decision, Refresh)
        if disconnect.code is not None:
            self.parts.meter.last_code = disconnect.code
        if isinstance(decision, Fail):
            self.error = hook_error or disconnect.to_error()
        connected = link is not None
        await self.life.ended(disconnect, decision, streak.attempt, connected, left)
        if isinstance(decision, Fail):
            raise Fatal(disconnect, self.error or disconnect.to_error(), streak.attempt)
        if isinstance(decision, Stop) or self.closing is not None:  # (on_event may close)
            return None
        self.round, decision, now = plan.fail_over(
            self.round, len(self.targets), decision, disconnect, connected=link is not None
        )
        return Retry(disconnect, decision, now=now)

    async def _announce(self, retry_state: RetryCallState, streak: Streak) -> None:
        retry = retry_of(retry_state.outcome)
        holding = self._nap.holding = isinstance(retry.decision, HoldOff) and not retry.now
        await self.life.scheduled(
            streak.attempt, retry_state.upcoming_sleep, retry, holding=holding
        )

    # -- ending ---------------------------------------------------------

    async def end(self) -> None:
        """The last act: final state, consumers told, the session told."""
        if self._rotator is not None:
            await self._rotator.drop()
        self.done = True
        if self.life.state not in TERMINAL:
            final = State.FAILED if self.error is not None else State.CLOSED
            try:
                self.life.set_state(final)
            except InvalidState as exc:  # a way the table lacks: the consumer gets it, no hang
                self.error = self.error or exc
                self.life.state = final
        unsent = len(self.parts.outbox)
        if unsent:
            logger.warning(
                "%s ended with %d buffered message(s) unsent (see Connection.unsent)",
                self.url,
                unsent,
                extra=self.life.extra,
            )
        closed = ConnectionClosed(f"<Connection {self.url} {self.life.state}> is closed")
        self.parts.inbox.end(self.error or closed)
        await self._release()
