"""The Manager: runs a service's sources, controllers and helpers as one structured task group.

A service's ``_service.py`` declares what it runs and the Manager owns the rest, controller-runtime's
``Manager`` in asyncio terms (one :class:`asyncio.TaskGroup`, so a crash of any part ends the service
instead of leaving it half-alive). Three kinds of parts, stopped in this order when ``stop`` is set:

1. **sources** (:meth:`Manager.add_source`): everything that brings work in — bus consumers and
   replays, informers, timers. Each gets the intake-stop event; a consumer finishes and settles the
   messages it has in flight (which may wait for controllers, still running), up to half the grace
   period, then is cancelled.
2. **controllers** (:meth:`Manager.add_controller`, also while running): they finish queued and
   in-flight keys until the grace period's 80 % mark, then their workers are cancelled.
3. **runnables** (:meth:`Manager.add_runnable`): helpers the reconcilers use — reporters, flushers,
   event recorders — stopped last so the work finished in step 2 is still reported.

Finally the ``on_shutdown`` hooks run (flushes, client closes), each even if an earlier one failed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from shared.runtime._controller import Controller
from shared.telemetry import get_logger

__all__ = ["Manager", "Runnable", "every"]

log = get_logger(__name__)

Runnable = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


def every(period: float | Callable[[], float], tick: Callable[[], Awaitable[Any]], *, name: str) -> Runnable:
    """A timer source: ``tick`` every ``period`` seconds (the first after one period) until stopped.

    A failing tick is logged and the timer goes on.
    """

    async def run(stop: asyncio.Event) -> None:
        while not stop.is_set():
            wait = period() if callable(period) else period
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
                return
            try:
                await tick()
            except Exception as exc:
                log.warning("Timer tick failed", timer=name, err=repr(exc))

    return run


class Manager:
    """Runs sources, controllers and runnables; ordered shutdown (see the module docstring)."""

    def __init__(self, name: str, *, grace_period: float = 10.0) -> None:
        self.name = name
        self.grace_period = grace_period
        self._sources: list[tuple[str, Runnable]] = []
        self._runnables: list[tuple[str, Runnable]] = []
        self._controllers: dict[Controller[Any], asyncio.Task[None] | None] = {}
        self._shutdown: list[Callable[[], Awaitable[Any]]] = []
        self._group: asyncio.TaskGroup | None = None
        self._controller_stop = asyncio.Event()
        self.stopping = False

    def add_source(self, name: str, run: Runnable) -> None:
        self._sources.append((name, run))

    def add_runnable(self, name: str, run: Runnable) -> None:
        self._runnables.append((name, run))

    def on_shutdown(self, hook: Callable[[], Awaitable[Any]]) -> None:
        self._shutdown.append(hook)

    def add_controller(self, controller: Controller[Any]) -> None:
        """Register a controller; while the manager runs it starts at once."""
        if controller in self._controllers:
            return
        self._controllers[controller] = None
        if self._group is not None:
            self._start(controller)

    async def remove_controller(self, controller: Controller[Any]) -> None:
        """Stop a controller now (cancelling its in-flight reconciles) and forget it."""
        task = self._controllers.pop(controller, None)
        controller.close()
        if task is not None:
            await asyncio.wait({task})

    @property
    def controllers(self) -> list[Controller[Any]]:
        return list(self._controllers)

    def _start(self, controller: Controller[Any]) -> None:
        assert self._group is not None
        self._controllers[controller] = self._group.create_task(
            controller.run(self._controller_stop), name=f"{self.name}-controller-{controller.queue_name}"
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Run everything until ``stop`` is set, then stop in order; returns when all has stopped."""
        intake_stop = asyncio.Event()
        helpers_stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                helpers = [
                    group.create_task(r(helpers_stop), name=f"{self.name}-{n}") for n, r in self._runnables
                ]
                for controller in list(self._controllers):
                    self._start(controller)
                sources = [
                    group.create_task(s(intake_stop), name=f"{self.name}-{n}") for n, s in self._sources
                ]
                await stop.wait()
                self.stopping = True
                started = loop.time()
                log.info("Stopping intake", service=self.name)
                intake_stop.set()
                await _finish(sources, self.grace_period * 0.5)
                deadline = started + self.grace_period * 0.8
                await asyncio.gather(
                    *(c.drain(max(0.0, deadline - loop.time())) for c in list(self._controllers))
                )
                self._controller_stop.set()
                await _finish([t for t in self._controllers.values() if t is not None], 5.0)
                helpers_stop.set()
                await _finish(helpers, max(1.0, started + self.grace_period - loop.time()))
        finally:
            self._group = None
            for hook in self._shutdown:
                try:
                    await hook()
                except Exception as exc:
                    log.warning("Shutdown hook failed", service=self.name, err=repr(exc))


async def _finish(tasks: list[asyncio.Task[Any]], timeout: float) -> None:
    """Wait up to ``timeout`` for ``tasks``; cancel and await the rest."""
    pending = [t for t in tasks if not t.done()]
    if not pending:
        return
    _, late = await asyncio.wait(pending, timeout=timeout)
    for task in late:
        log.warning("Task did not stop in time, cancelling", task=task.get_name())
        task.cancel()
    if late:
        await asyncio.wait(late)
