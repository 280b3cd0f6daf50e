"""The receiving side of redundant legs: every leg's inbox, one stream.

:class:`MergedInbox` polls the legs' inboxes (no task per leg, no extra hop
for a message), lets :class:`~wsclient.merge.Merge` judge each message by
its sequence key, and waits on one future for news from any leg or for the
oldest hole's deadline.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import WSMessage

from .clock import Clock, call_later
from .errors import ConnectionClosed, InvalidState
from .events import Gap, Reconnected
from .inbox import Inbox
from .lifecycle import notify
from .merge import Merge
from .options import OnEvent
from .sequence import Key
from .tasks import settle

__all__ = ["MergedInbox"]

Loads = Callable[[Any], Any] | None


class MergedInbox:
    """The legs' received messages, merged by ``key`` (see :mod:`wsclient.merge`)."""

    __slots__ = ("_clock", "_ended", "_inboxes", "_key", "_on_event", "_waiting", "merge")

    def __init__(
        self,
        inboxes: Sequence[Inbox],
        merge: Merge,
        *,
        key: Key,
        clock: Clock,
        on_event: OnEvent | None,
    ) -> None:
        self._inboxes = inboxes
        self.merge = merge
        self._key = key
        self._clock = clock
        self._on_event = on_event  # (for the Gap events: they name no leg)
        self._ended: dict[int, BaseException] = {}  # leg -> how its messages ended
        self._waiting = False

    async def next(self, loads: Loads, *, markers: bool) -> Any:
        """The next item, waiting for it: a message (decoded by ``loads``),
        or with ``markers`` a :class:`Gap` too. Raises how the connection
        ended once every leg has ended and nothing is left."""
        ready = self.merge.ready
        while True:
            if ready:
                if ready[0].__class__ is Gap:
                    # Taken before it is told: a second receiver meanwhile
                    # (or this one, if the telling is cancelled) goes on
                    # with the message after it, and it is told once.
                    gap = ready.popleft()
                    await notify(self._on_event, gap)
                    if markers:
                        return gap
                    continue
                return _take(ready.popleft(), loads)
            self._gather(loads)
            if not ready:
                await self._wait()

    def ready_messages(self) -> list[WSMessage]:
        """The messages ready now, up to the next :class:`Gap` (for a batch)."""
        ready = self.merge.ready
        batch = []
        while ready and ready[0].__class__ is not Gap:
            batch.append(_take(ready.popleft(), None))
        return batch

    def _gather(self, loads: Loads) -> None:
        """Offer the merge everything the legs have delivered."""
        merge, key, ended = self.merge, self._key, self._ended
        now = self._clock.now()
        running = [i for i in range(len(self._inboxes)) if i not in ended]
        for i in tuple(running):
            inbox = self._inboxes[i]
            while True:
                try:
                    msg = inbox.poll()
                except Exception as error:  # how that leg ended
                    ended[i] = error
                    running.remove(i)
                    break
                if msg is None:
                    break
                if msg.__class__ is Reconnected:
                    merge.restart(i)
                    continue
                assert isinstance(msg, WSMessage)
                decoded = msg if loads is None else loads(msg.data)
                merge.offer(i, key(decoded), (msg, loads, decoded), now, running)
        if merge.deadline() is not None:
            merge.expire(now, running)
        if not merge.ready and len(ended) == len(self._inboxes):
            errors = [ended[i] for i in sorted(ended)]
            raise next((e for e in errors if not isinstance(e, ConnectionClosed)), errors[0])

    async def _wait(self) -> None:
        """Wait for news from any running leg, or for the oldest hole's deadline."""
        if self._waiting:
            raise InvalidState("another task is already receiving from this connection")
        waiter = asyncio.get_running_loop().create_future()
        inboxes = [inbox for i, inbox in enumerate(self._inboxes) if i not in self._ended]
        for inbox in inboxes:
            inbox.watch(waiter)
        deadline = self.merge.deadline()
        timer = None
        if deadline is not None:
            delay = max(deadline - self._clock.now(), 0.0)
            timer = call_later(self._clock, delay, functools.partial(settle, waiter))
        self._waiting = True
        try:
            await waiter
        finally:
            self._waiting = False
            for inbox in inboxes:
                inbox.unwatch(waiter)
            if timer is not None:
                timer.cancel()


def _take(entry: tuple[WSMessage, Loads, Any], loads: Loads) -> Any:
    """A ready message as ``loads`` wants it (decoded once, when it was offered)."""
    msg, decoded_by, decoded = entry
    if loads is decoded_by:
        return decoded
    return msg if loads is None else loads(msg.data)
