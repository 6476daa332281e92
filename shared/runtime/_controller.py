"""Controllers: a work queue, workers and one result contract (controller-runtime's ``Controller``).

A :class:`Controller` owns a de-duplicating :class:`~shared.runtime.WorkQueue` and a resizable pool
of workers that call its reconciler with one key at a time. The queue guarantees per-key exclusivity:
a key being reconciled is never handed to a second worker; adding it meanwhile marks it dirty and it is
reconciled again afterwards. No lock map is needed, and nothing grows with the keys ever seen.

The reconciler's outcome decides what happens to the key, for every controller alike:

- ``Result()`` → done, the key's backoff is reset;
- ``Result(requeue_after=s)`` → done, and reconciled again in ``s`` seconds (backoff reset);
- ``Result(requeue=True, requeue_after=s)`` → a retry: exponential per-key backoff, at least ``s``;
- :class:`~shared.errors.TemporaryError` → a retry with backoff, at least the error's ``delay``;
- :class:`~shared.errors.PermanentError` → logged and counted as terminal; not retried (the next
  change of the key queues it again);
- any other exception → logged as a crash, retried with backoff.

A caller that must know the outcome (a bus consumer that acks only after success) uses
:meth:`Controller.reconcile_now`: it queues the key and waits for a reconcile of it that *started
after* the call; an error is raised to the caller, which then owns the retry (the message is
redelivered), so the controller does not retry it a second time.

The trace context of whoever queued a key is carried with the key (the :class:`Context` object itself:
no serialising to a carrier and back on a per-write path) and attached around its reconcile.
Metrics carry controller-runtime's names: ``workqueue_depth``, ``workqueue_adds_total``,
``workqueue_queue_duration_seconds``, ``workqueue_work_duration_seconds``, ``workqueue_retries_total``,
``controller_runtime_reconcile_total``, ``controller_runtime_reconcile_errors_total``,
``controller_runtime_terminal_reconcile_errors_total``, ``controller_runtime_reconcile_time_seconds``,
``controller_runtime_active_workers`` and ``controller_runtime_max_concurrent_reconciles``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from opentelemetry import context as otel_context

from shared.errors import PermanentError, TemporaryError
from shared.runtime._workqueue import WorkQueue
from shared.telemetry import get_logger, metrics

__all__ = ["Controller", "Reconciler", "Result"]

log = get_logger(__name__)

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Result:
    """What a reconcile asks for next (controller-runtime's ``reconcile.Result``)."""

    requeue_after: float | None = None
    requeue: bool = False  # a retry: backoff per key, at least ``requeue_after``


DONE = Result()
_ROOT = otel_context.Context()  # a key nobody traced is reconciled in a fresh root context

Reconciler = Callable[[K], Awaitable["Result | None"]]


class Controller(Generic[K]):
    """Reconciles keys from its own queue with ``workers`` concurrent workers.

    ``queue_name`` labels the queue's metrics (default: ``name``). Controllers that are one family of
    queues (the propagator's, one per member cluster) pass ``per_queue_histograms=False``: their queue
    and work durations go to one histogram under ``name``, their depth, adds and retries stay per queue.
    """

    def __init__(
        self,
        name: str,
        reconcile: Reconciler[K],
        *,
        workers: int = 1,
        queue_name: str | None = None,
        base_delay: float = 0.005,
        max_delay: float = 60.0,
        crash_delay: float = 1.0,
        per_queue_histograms: bool = True,
    ) -> None:
        self.name = name
        self.queue_name = queue_name or name
        self._reconcile = reconcile
        self.queue: WorkQueue[K] = WorkQueue(base_delay=base_delay, max_delay=max_delay)
        self._crash_delay = crash_delay
        self._workers = max(1, workers)
        self._pool: list[asyncio.Task[None]] = []
        self._idle: set[asyncio.Task[None]] = set()
        self._busy = 0
        self._contexts: dict[K, otel_context.Context] = {}
        self._waiting: dict[K, list[tuple[asyncio.Future[None], bool]]] = {}
        self._running = False
        self._stopped = asyncio.Event()
        self._idle_changed = asyncio.Event()
        self._depth = metrics.workqueue_depth.labels(self.queue_name, name)
        self._adds = metrics.workqueue_adds.labels(self.queue_name, name)
        # a family of queues (one per member cluster) shares its controller's duration histograms: 34
        # series per member otherwise; depth, adds and retries stay per queue
        histogram_queue = self.queue_name if per_queue_histograms else name
        self._queue_duration = metrics.workqueue_queue_duration.labels(histogram_queue, name)
        self._work_duration = metrics.workqueue_work_duration.labels(histogram_queue, name)
        self._retries = metrics.workqueue_retries.labels(self.queue_name, name)
        self._active = metrics.active_workers.labels(name)
        # the per-reconcile children, bound once (``labels()`` takes a lock and builds a key every call)
        self._reconcile_time = metrics.reconcile_time.labels(name)
        self._reconciles = {
            result: metrics.reconcile_total.labels(name, result)
            for result in ("success", "requeue", "requeue_after", "error")
        }
        self._errors = metrics.reconcile_errors.labels(name)
        self._terminal = metrics.terminal_errors.labels(name)
        metrics.init_controller(name)

    # -- intake ----------------------------------------------------------------------------------
    def add(self, key: K, delay: float = 0.0, *, low_priority: bool = False) -> None:
        """Queue ``key`` (now, or after ``delay`` seconds), carrying the caller's trace context;
        ``low_priority``: after every other ready key (a bulk re-check)."""
        ctx = otel_context.get_current()
        if ctx:
            self._contexts[key] = ctx
        self._adds.inc()
        self.queue.add(key, delay, low_priority=low_priority)
        self._depth.set(len(self.queue))

    async def reconcile_now(self, key: K, *, raise_errors: bool = True) -> None:
        """Queue ``key`` and wait for a reconcile of it that started after this call.

        With ``raise_errors`` the caller gets what that reconcile raised and owns the retry (a nak);
        without, a failure is retried by the controller (backoff) and the call returns after the
        attempt. A requeue the reconcile asked for is always scheduled by the controller.
        """
        entry = (asyncio.get_running_loop().create_future(), raise_errors)
        self._waiting.setdefault(key, []).append(entry)
        self.add(key)
        try:
            await entry[0]
        finally:
            waiters = self._waiting.get(key)
            if waiters is not None and entry in waiters:
                waiters.remove(entry)
                if not waiters:
                    del self._waiting[key]

    # -- workers ---------------------------------------------------------------------------------
    @property
    def workers(self) -> int:
        return self._workers

    def resize(self, workers: int) -> None:
        """Grow or shrink the pool live: idle surplus workers stop now, busy ones after their key."""
        self._workers = max(1, workers)
        metrics.max_concurrent.labels(self.name).set(self._workers)
        if self._running:
            self._fit_pool()

    def _fit_pool(self) -> None:
        self._pool[:] = [t for t in self._pool if not t.done()]
        while len(self._pool) < self._workers:
            self._pool.append(
                asyncio.create_task(self._worker(), name=f"{self.name}-worker-{len(self._pool)}")
            )
        for task in self._pool[self._workers :]:
            if task in self._idle:
                task.cancel()
        del self._pool[self._workers :]

    @property
    def idle(self) -> bool:
        """Nothing ready and nothing being reconciled (delayed keys do not count)."""
        return self._busy == 0 and self.queue.ready == 0

    async def run(self, stop: asyncio.Event, *, drain_timeout: float = 0.0) -> None:
        """Run the workers until ``stop`` (or :meth:`close`); then finish queued and in-flight keys for
        up to ``drain_timeout`` seconds (the :class:`Manager` drains before it stops controllers), and
        cancel the workers."""
        self._running = True
        self.resize(self._workers)
        try:
            stop_wait = asyncio.ensure_future(stop.wait())
            closed = asyncio.ensure_future(self._stopped.wait())
            try:
                await asyncio.wait({stop_wait, closed}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stop_wait.cancel()
                closed.cancel()
            if not self._stopped.is_set() and drain_timeout > 0:
                await self.drain(drain_timeout)
        finally:
            self._running = False
            pool = list(self._pool)
            self._pool.clear()
            for task in pool:
                task.cancel()
            await asyncio.gather(*pool, return_exceptions=True)
            self._depth.set(len(self.queue))
            for waiters in self._waiting.values():
                for future, _ in waiters:
                    if not future.done():
                        future.cancel()

    def close(self) -> None:
        """Stop now: in-flight reconciles are cancelled, queued keys dropped (a removed member)."""
        self._stopped.set()

    async def drain(self, timeout: float) -> None:
        """Wait until :attr:`idle` or ``timeout`` seconds passed."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not self.idle:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                log.info("Controller still busy at shutdown", controller=self.name, queued=len(self.queue))
                return
            self._idle_changed.clear()
            try:
                await asyncio.wait_for(self._idle_changed.wait(), timeout=min(remaining, 0.1))
            except TimeoutError:
                pass

    async def _worker(self) -> None:
        me = asyncio.current_task()
        assert me is not None
        while me in self._pool:
            self._idle.add(me)
            try:
                key = await self.queue.get()
            finally:
                self._idle.discard(me)
            self._busy += 1
            self._active.inc()
            try:
                await self._process(key)
            finally:
                self._busy -= 1
                self._active.dec()
                self.queue.done(key)
                self._depth.set(len(self.queue))
                self._idle_changed.set()

    async def _process(self, key: K) -> None:
        self._queue_duration.observe(self.queue.queued_for(key))
        waiters = self._waiting.pop(key, [])
        token = otel_context.attach(self._contexts.pop(key, _ROOT))
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            result = await self._reconcile(key) or DONE
        except asyncio.CancelledError:
            for future, _ in waiters:
                if not future.done():
                    future.cancel()
            raise
        except Exception as exc:
            error = exc
            result = DONE
        finally:
            elapsed = time.perf_counter() - started
            otel_context.detach(token)
            self._work_duration.observe(elapsed)
            self._reconcile_time.observe(elapsed)
        waited = [(f, raises) for f, raises in waiters if not f.done()]
        if error is None:
            self._settle(key, result)
            for future, _ in waited:
                future.set_result(None)
            return
        self._errors.inc()
        self._reconciles["error"].inc()
        if isinstance(error, PermanentError):
            self._terminal.inc()
            log.info("Reconcile failed permanently", controller=self.name, key=str(key), err=str(error))
            self.queue.forget(key)
        elif any(raises for _, raises in waited):
            pass  # the callers own the retry (their messages are redelivered with backoff)
        else:
            minimum = error.delay if isinstance(error, TemporaryError) else self._crash_delay
            if isinstance(error, TemporaryError):
                log.info("Reconcile failed, requeued", controller=self.name, key=str(key), err=str(error))
            else:
                log.error("Reconcile crashed", controller=self.name, key=str(key), err=repr(error))
            self._retries.inc()
            self.queue.add_rate_limited(key, minimum=minimum)
        for future, raises in waited:
            if raises:
                future.set_exception(error)
            else:
                future.set_result(None)

    def _settle(self, key: K, result: Result) -> None:
        if result.requeue:
            self._reconciles["requeue"].inc()
            self._retries.inc()
            self.queue.add_rate_limited(key, minimum=result.requeue_after or 0.0)
        elif result.requeue_after is not None:
            self._reconciles["requeue_after"].inc()
            self.queue.forget(key)
            self.queue.add(key, result.requeue_after)
        else:
            self._reconciles["success"].inc()
            self.queue.forget(key)
