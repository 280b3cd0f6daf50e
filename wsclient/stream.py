"""``conn.stream()``: the messages of a connection, with markers at its seams.

Between the messages of one socket and those of the next stands a
:class:`~wsclient.events.Reconnected` marker (the inbox keeps each socket's
messages apart). With a ``sequence`` key, each message is judged by a
:class:`~wsclient.sequence.Sequencer`: duplicates are dropped, and a jump is
announced by a :class:`~wsclient.events.Gap` marker (and event) just before
the message that revealed it. Without a key, a message costs what it costs
in ``async for``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .errors import ConnectionClosed
from .events import Event, Reconnected
from .inbox import Inbox
from .link import Link
from .sequence import Key, Sequencer

__all__ = ["Stream"]


class Stream:
    """An async iterator of messages (decoded by ``loads``, if given) and,
    with ``markers``, of the markers at the stream's seams."""

    __slots__ = ("_emit", "_hook", "_inbox", "_key", "_loads", "_markers", "_sequencer")

    def __init__(
        self,
        inbox: Inbox,
        *,
        hook: Link | None,
        key: Key | None,
        sequencer: Sequencer | None,  # (with a key)
        emit: Callable[[Event], Awaitable[None]],
        loads: Callable[[Any], Any] | None,
        markers: bool,
    ) -> None:
        self._inbox = inbox
        self._hook = hook  # on_connect reads its own socket, then the inbox
        self._key = key
        self._sequencer = sequencer
        self._emit = emit
        self._loads = loads
        self._markers = markers

    def __aiter__(self) -> Stream:
        return self

    async def __anext__(self) -> Any:
        sequencer = self._sequencer
        if sequencer is not None and sequencer.held:  # the message after a gap's marker
            return sequencer.held.pop()
        inbox, loads, key = self._inbox, self._loads, self._key
        while True:
            messages = inbox.messages
            if messages and self._hook is None:
                item: Any = messages.popleft()
            else:
                item = await self._next()
                if item.__class__ is Reconnected:
                    if self._markers:
                        return item
                    continue
            if loads is not None:
                item = loads(item.data)
            if key is None or sequencer is None:
                return item
            verdict = sequencer.judge(key(item))
            if verdict is True:
                return item
            if verdict is not False:  # a gap: its marker (and event), then the message
                held = sequencer.held
                held.append(item)  # (first: a cancelled emit must not lose it)
                await self._emit(verdict)
                return verdict if self._markers else held.pop()

    async def _next(self) -> Any:
        """The next message or boundary, waiting for it."""
        hook = self._hook
        try:
            if hook is not None:
                if (msg := await hook.receive()) is not None:
                    return msg
                self._hook = None  # its gate opened: the inbox from here on
            return await self._inbox.item()
        except ConnectionClosed:
            raise StopAsyncIteration from None
