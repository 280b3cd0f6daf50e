"""Owning tasks and waking waiters: every task wsclient starts is awaited
before its owner ends; a future someone may wait on is settled at most once;
a callback of the application's may be sync or async."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar

__all__ = ["await_all", "result", "settle"]

T = TypeVar("T")


async def await_all(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Wait until every task has finished, even if we are cancelled meanwhile:
    then cancel what is left, still wait for it, and re-raise the cancellation."""
    pending = {task for task in tasks if not task.done()}
    cancelled = False
    while pending:
        try:
            _, pending = await asyncio.wait(pending)
        except asyncio.CancelledError:
            cancelled = True
            for task in pending:
                task.cancel()
    if cancelled:
        raise asyncio.CancelledError


def settle(future: asyncio.Future[None] | None) -> None:
    """Wake whoever waits on ``future``, if anyone still does."""
    if future is not None and not future.done():
        future.set_result(None)


async def result(value: T | Awaitable[T]) -> T:
    """``value``, awaited if the callable that gave it was async."""
    if inspect.isawaitable(value):
        return await value
    return value
