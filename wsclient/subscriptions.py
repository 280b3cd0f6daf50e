"""Subscriptions as desired state: what the application wants the server to
send, replayed on every new socket (after on_connect, before the outbox).

A subscription is a name, the message that subscribes and, for servers
whose unsubscribe differs from subscribe, the message that undoes it. Each
socket remembers which names it was sent (``sent``), so a subscription goes
to a socket once, whether the application or the replay sent it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable

from .outbox import Outgoing

__all__ = ["Subscriptions"]


class Subscriptions:
    """The subscriptions the application wants, in the order it asked."""

    __slots__ = ("_wanted",)

    def __init__(self) -> None:
        self._wanted: dict[Hashable, tuple[Outgoing, Outgoing | None]] = {}

    def names(self) -> list[Hashable]:
        """The names subscribed, oldest first."""
        return list(self._wanted)

    def add(self, name: Hashable, message: Outgoing, undo: Outgoing | None) -> None:
        """Want ``name`` (again, or with new messages)."""
        self._wanted.pop(name, None)  # (a renewed subscription moves to the end)
        self._wanted[name] = (message, undo)

    def remove(self, name: Hashable) -> Outgoing | None:
        """Want ``name`` no longer; the message that undoes it, if any.

        Raises:
            KeyError: ``name`` is not subscribed.
        """
        try:
            return self._wanted.pop(name)[1]
        except KeyError:
            raise KeyError(f"not subscribed: {name!r}") from None

    def owed(self, sent: set[Hashable] | None) -> bool:
        """Whether a socket that was sent ``sent`` lacks a subscription."""
        return any(name not in (sent or ()) for name in self._wanted)

    async def replay(
        self, sent: set[Hashable], write: Callable[[Outgoing], Awaitable[None]]
    ) -> None:
        """Send a socket every subscription it lacks, in order, those added
        meanwhile too; returns when none is owed, with no wait after that look.

        A name counts as sent from the moment its write starts (an
        unsubscribe meanwhile must undo it), and no longer if the write fails.
        """
        wanted = self._wanted
        while pending := [name for name in wanted if name not in sent]:
            for name in pending:
                if name not in wanted or name in sent:  # removed or sent meanwhile
                    continue
                sent.add(name)
                try:
                    await write(wanted[name][0])
                except BaseException:
                    sent.discard(name)
                    raise
