"""Named, owned background tasks (after kopf's ``aiotasks``).

A bare ``asyncio.create_task`` loses exceptions and can be garbage-collected mid-flight; every
long-lived task here is created through :func:`guarded_task`, which keeps a reference, names it, and
logs how it ended. :func:`stop_tasks` cancels, waits a bounded time and names the stragglers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable
from typing import Any

from shared.telemetry import get_logger

__all__ = ["guarded_task", "stop_tasks"]

log = get_logger(__name__)
_tasks: set[asyncio.Task[Any]] = set()


def guarded_task(coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
    """Start a task that logs failure or unexpected exit and is referenced until done."""
    task = asyncio.create_task(coro, name=name)
    _tasks.add(task)

    def _done(t: asyncio.Task[Any]) -> None:
        _tasks.discard(t)
        if t.cancelled():
            return
        exc = t.exception()
        if exc is not None:
            log.error("Task failed", task=t.get_name(), err=repr(exc))

    task.add_done_callback(_done)
    return task


async def stop_tasks(tasks: Iterable[asyncio.Task[Any]], *, timeout: float = 5.0) -> None:
    """Cancel tasks and wait up to ``timeout`` for them; log those that did not stop."""
    pending = [t for t in tasks if not t.done()]
    for t in pending:
        t.cancel()
    if not pending:
        return
    _, stuck = await asyncio.wait(pending, timeout=timeout)
    for t in stuck:
        log.warning("Task did not stop in time", task=t.get_name())
