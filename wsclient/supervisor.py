"""The supervisor: the one task that runs a connection's life.

It drives tenacity's ``AsyncRetrying`` (sleeping on the injected clock) until
a socket is open, serves the socket outside the retrying (its
:class:`~wsclient.link.Link` reads it until it ends), turns the end into a
decision (:mod:`wsclient.plan` over the policy) and acts on it: try again
after a wait, stop, or fail. It owns the connection's state and reports its
life to ``on_event``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, RetryError, retry_if_exception_type
from yarl import URL

from . import liveness, plan
from .budget import ReconnectBudget
from .clock import deadline, sleeper
from .disconnect import Disconnect, DisconnectKind
from .endpoints import Targets
from .errors import ConnectionClosed, RetriesExhausted
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
from .link import Link, Parts
from .policy import Fail, HoldOff, Refresh, Stop
from .retry import Fatal, Retry, Streak, retry_of
from .state import TERMINAL, State, check_transition
from .tasks import await_all, result
from .transport import from_exception

__all__ = ["Supervisor"]

logger = logging.getLogger("wsclient")


class Supervisor:
    """The retry loop of one connection, and what it has to show for it."""

    __slots__ = (
        "_budget",
        "_holding",
        "_nap",
        "_on_stale",
        "_release",
        "_skip",
        "_warned",
        "closing",
        "done",
        "error",
        "link",
        "parts",
        "round",
        "state",
        "successor",
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
    ) -> None:
        self.targets = targets
        self.parts = parts
        self._budget = budget
        self._release = release
        self._on_stale = on_stale
        self.round = plan.Round()
        self.state = State.IDLE
        self.task: asyncio.Task[None] | None = None
        self.closing: Disconnect | None = None  # close() was asked for
        self.done = False  # the supervisor has finished
        self.error: BaseException | None = None  # how it ended, if not cleanly
        self.link: Link | None = None  # the open socket
        self.successor: Link | None = None  # max_age: the next socket, set up
        self._nap: asyncio.Task[None] | None = None  # the wait before an attempt
        self._holding = False  # that wait is a hold-off
        self._skip = False  # resume() or reconnect() asked to skip that wait
        self._warned = False  # about a malformed Retry-After

    @property
    def url(self) -> str:
        """The current endpoint, redacted."""
        return self.targets.shown[self.round.current]

    def start(self) -> None:
        """Run the connection's life in a task of its own."""
        self.task = asyncio.create_task(self._run(), name=f"wsclient {self.url}")

    # -- what the application asks for ---------------------------------------------

    def close(self, why: Disconnect, *, cancel: bool) -> None:
        """Close for good. An open socket gets a closing handshake; a socket
        already on its way out ends by itself; while waiting or connecting
        there is nothing to close, so the supervisor is cancelled when
        ``cancel`` allows (not from its own tasks: a close from on_event or
        on_connect is seen at the next look at ``closing``)."""
        if self.closing is not None or self.done:
            return
        self.closing = why
        link = self.link
        if link is not None and link.ending is None:
            self.set_state(State.CLOSING)
            link.close(why)
        elif link is None and cancel and self.task is not None:
            self.task.cancel()

    def reconnect(self) -> None:
        """Drop the open socket (a closing handshake with 1000), or end the wait."""
        link = self.link
        if link is not None and link.ending is None:
            link.close(Disconnect(1000, "reconnect requested", kind=DisconnectKind.FORCED))
        else:
            self._skip_wait()

    def resume(self) -> None:
        """End a hold-off at once."""
        if self._holding:
            self._skip_wait()

    def _skip_wait(self) -> None:
        self._skip = True
        if self._nap is not None:
            self._nap.cancel()

    # -- the loop -----------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._loop(self._new_streak())
        except Fatal as fatal:
            await self.emit(GaveUp(fatal.attempts, fatal.disconnect))
        except Exception as exc:
            logger.exception("%s: the connection failed unexpectedly", self.url)
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
                logger.warning("%s: %s", self.url, self.error)
                raise Fatal(cause, self.error, streak.attempt) from None
            if link is None:  # closed meanwhile
                return
            try:
                await self._open(link, streak.attempt)
                disconnect = await link.read()
            finally:
                await link.retire(current=True)
                self.link = None
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
            pending = await self._conclude(disconnect, streak, link)
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
            sleep=self._wait,
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
        self._skip = self._holding = False
        self.set_state(State.CONNECTING)
        successor, self.successor = self.successor, None
        if successor is not None and await self._adopt(successor):
            return successor
        try:
            url, headers = await self.targets.resolve(self.round.current)
        except Exception as exc:  # the application's url or headers callable
            self.error = exc
            failure = Disconnect(kind=DisconnectKind.USER, detail=type(exc).__name__)
            raise Fatal(failure, exc, streak.attempt) from exc
        link = await self._dial(url, headers, adopted=True)
        if isinstance(link, Disconnect):
            retry = await self._conclude(link, streak, None)
            if retry is not None:
                raise retry
            return None
        return link

    async def _dial(self, url: URL, headers: Any, *, adopted: bool) -> Link | Disconnect:
        """The opening handshake: a new link, or why there is none."""
        parts = self.parts
        ws = None
        try:
            async with deadline(parts.clock, parts.options.open_timeout):
                ws = await parts.transport.open(url, headers, parts.options)
        except BaseException as exc:
            if ws is not None:  # the handshake succeeded just before the end
                parts.transport.abort(ws)
            failure = from_exception(exc, self.targets.redactor)
            if failure is None:
                raise
            return failure
        return Link(parts, ws, parts.clock.now(), adopted=adopted)

    async def _open(self, link: Link, attempt: int) -> None:
        """A socket is open: announce it, start its helpers and its gate."""
        self.link = link
        self.parts.meter.connects += 1
        self.round = self.round.connected()
        self.set_state(State.CONNECTED)
        logger.info("connected to %s (attempt %d)", self.url, attempt)
        await self.emit(Connected(self.url, attempt))
        options = self.parts.options
        if options.heartbeat is not None:
            heartbeat = liveness.heartbeat(link, options.heartbeat, options.pong_timeout)
            link.spawn(heartbeat, "heartbeat")
        if options.stale_after is not None:
            watchdog = liveness.watch_data(link, options.stale_after, self._stale)
            link.spawn(watchdog, "stale watchdog")
        if options.max_age is not None:
            link.spawn(self._rotate(link, options.max_age), "rotation")
        if link.proceed() is not None:
            # on_connect starts before the reader reads: what it does without
            # waiting (a subscription, then returning) comes before any
            # message of its socket, whatever the socket holds already.
            await asyncio.sleep(0)

    async def _stale(self, idle: float) -> bool:
        """The watchdog found no data for ``idle`` seconds: keep waiting?"""
        keep = self._on_stale is not None and bool(await result(self._on_stale()))
        await self.emit(Stale(idle, keep))
        return keep

    # -- rotation (max_age): make before break --------------------------------------

    async def _rotate(self, link: Link, max_age: float) -> None:
        """At ``max_age``, open the next socket and run its on_connect while
        this one still delivers; then close this one. The loop adopts the
        successor when this one has ended; until then its messages wait in
        its early inbox (they repeat this one's)."""
        await sleeper(self.parts.clock)(max_age)
        rotating = Disconnect(1000, "max_age reached", kind=DisconnectKind.ROTATE)
        try:
            url, headers = await self.targets.resolve(self.round.current)
            successor = await self._dial(url, headers, adopted=False)
        except Exception as exc:  # the url/headers callable: the next attempt says it
            successor = Disconnect(kind=DisconnectKind.USER, detail=type(exc).__name__)
        if isinstance(successor, Disconnect):
            failure = successor.describe()
            logger.warning("%s: rotation failed (%s); reconnecting", self.url, failure)
            link.close(rotating)
            return
        try:
            reader = successor.spawn(successor.read(), "rotation reader")
            gate = successor.proceed()  # on_connect, if any; live only once adopted
            if gate is not None:
                await asyncio.wait({gate, reader}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            await successor.retire(current=False)
            raise
        if reader.done() or successor.ending is not None:  # it failed while being set up
            await successor.retire(current=False)
        else:
            self.successor = successor
        link.close(rotating)

    async def _adopt(self, successor: Link) -> bool:
        """Make the set-up successor the next socket; False if it died meanwhile.

        Its reader is cancelled here (a cancelled ``receive()`` leaves the
        socket usable) and started again by the loop, which then flushes the
        outbox onto it before it goes live, like any new socket.
        """
        for task in successor.tasks:
            task.cancel()
        await await_all(successor.tasks)
        ended = any(not t.cancelled() and t.result() is not None for t in successor.tasks)
        successor.tasks.clear()
        if ended or successor.ending is not None or not successor.hook_done:
            await successor.retire(current=False)
            return False
        successor.opened_at = self.parts.clock.now()
        successor.adopted = True
        return True

    # -- deciding --------------------------------------------------------------------

    async def _conclude(
        self, disconnect: Disconnect, streak: Streak, link: Link | None
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
        self.set_state(plan.state_after(decision))
        if logger.isEnabledFor(logging.INFO):
            logger.info("%s: %s -> %s", self.url, disconnect.describe(), decision)
        self._warn_retry_after(disconnect)
        if link is None:
            await self.emit(ConnectFailed(self.url, streak.attempt, disconnect))
        else:
            code, reason, by = disconnect.code, disconnect.reason, disconnect.initiated_by
            await self.emit(Disconnected(code, reason, by, disconnect))
        if isinstance(decision, Fail):
            raise Fatal(disconnect, self.error or disconnect.to_error(), streak.attempt)
        if isinstance(decision, Stop):
            return None
        self.round, decision, now = plan.fail_over(
            self.round, len(self.targets), decision, disconnect, connected=link is not None
        )
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
        await self.emit(event)
        if self._holding:
            await self.emit(HoldingOff(delay, decision.reason, streak.attempt))

    async def _wait(self, delay: float) -> None:
        """tenacity's sleep: on the clock, cut short by ``resume()``/``reconnect()``."""
        if self.closing is not None or self._skip or delay <= 0:
            return
        nap = asyncio.create_task(self.parts.clock.sleep(delay), name="wsclient wait")
        self._nap = nap
        try:
            await nap
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not nap.cancelled() or task is None or task.cancelling():
                raise  # we are being cancelled, not woken
        finally:
            self._nap = None

    # -- ending, state, events ---------------------------------------------------------

    async def end(self) -> None:
        """The last act: final state, consumers told, the session told."""
        successor, self.successor = self.successor, None
        if successor is not None:  # set up by a rotation, never adopted
            await successor.retire(current=False)
        self.done = True
        if self.state not in TERMINAL:
            self.set_state(State.FAILED if self.error is not None else State.CLOSED)
        unsent = len(self.parts.outbox)
        if unsent:
            logger.warning(
                "%s ended with %d buffered message(s) unsent (see Connection.unsent)",
                self.url,
                unsent,
            )
        closed = ConnectionClosed(f"<Connection {self.url} {self.state}> is closed")
        self.parts.inbox.end(self.error or closed)
        await self._release()

    def set_state(self, new: State) -> None:
        """Enter ``new``; ``InvalidState`` if the transition table forbids it."""
        old = self.state
        if new is not old:
            check_transition(old, new)
            self.state = new
            logger.debug("%s: %s -> %s", self.url, old, new)

    async def emit(self, event: Event) -> None:
        """Tell ``on_event``; what it raises is logged, never raised here."""
        callback = self.parts.options.on_event
        if callback is None:
            return
        try:
            await result(callback(event))
        except Exception:
            logger.exception(
                "on_event raised on %s; the connection carries on", type(event).__name__
            )
