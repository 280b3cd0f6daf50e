"""Subscriptions as desired state: what the application wants the server to
send, replayed on every new socket (after on_connect, before the outbox).

A subscription is a name, the message that subscribes and, for servers
whose unsubscribe differs from subscribe, the message that undoes it. Each
socket remembers which names it was sent, and in which version (``sent``:
a renewed subscription is owed again), so a subscription goes to a socket
once, whether the application or the replay sent it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable

from .outbox import Outgoing

__all__ = ["Subscriptions"]


class Subscriptions:
    """The subscriptions the application wants, in the order it asked."""

    __slots__ = ("_version", "_wanted")

    def __init__(self) -> None:
        self._wanted: dict[Hashable, tuple[Outgoing, Outgoing | None, int]] | None = None
        self._version = 0

    def names(self) -> list[Hashable]:
        """The names subscribed, oldest first."""
        return list(self._wanted or ())

    def add(self, name: Hashable, message: Outgoing, undo: Outgoing | None) -> int:
        """Want ``name`` (again, or with new messages); its version."""
        if self._wanted is None:
            self._wanted = {}
        self._wanted.pop(name, None)  # (a renewed subscription moves to the end)
        self._version += 1
        self._wanted[name] = (message, undo, self._version)
        return self._version

    def remove(self, name: Hashable) -> Outgoing | None:
        """Want ``name`` no longer; the message that undoes it, if any.

        Raises:
            KeyError: ``name`` is not subscribed.
        """
        try:
            return (self._wanted or {}).pop(name)[1]
        except KeyError:
            raise KeyError(f"not subscribed: {name!r}") from None

    def owed(self, sent: dict[Hashable, int] | None) -> bool:
        """Whether a socket that was sent ``sent`` lacks a subscription (or
        has an older version of one)."""
        if not self._wanted:
            return False
        sent = sent or {}
        return any(sent.get(name) != version for name, (_, _, version) in self._wanted.items())

    async def replay(
        self, sent: dict[Hashable, int], write: Callable[[Outgoing], Awaitable[None]]
    ) -> None:
        """Send a socket every subscription it lacks, in order, those added
        meanwhile too; returns when none is owed, with no wait after that look.

        A name counts as sent from the moment its write starts (an
        unsubscribe meanwhile must undo it), and no longer if the write fails.
        """
        wanted = self._wanted or {}
        while pending := [name for name, (_, _, v) in wanted.items() if sent.get(name) != v]:
            for name in pending:
                if name not in wanted or sent.get(name) == wanted[name][2]:
                    continue  # removed or sent meanwhile
                message, _, version = wanted[name]
                before = sent.get(name)
                sent[name] = version
                try:
                    await write(message)
                except BaseException:
                    if before is None:
                        sent.pop(name, None)
                    else:
                        sent[name] = before
                    raise
