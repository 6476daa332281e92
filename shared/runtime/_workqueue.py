"""A de-duplicating, delaying work queue with per-key exponential backoff (client-go's semantics).

- A key waiting in the queue is stored once, however often it is added (bursts coalesce).
- A key being processed is never handed to a second worker; adding it meanwhile marks it dirty and it
  is queued again when the first worker calls :meth:`done` (per-key ordering without locks).
- :meth:`add_rate_limited` delays by 5 ms x 2^failures, capped (``DefaultControllerRateLimiter``'s
  per-item part); :meth:`forget` resets the count after a success.
- An add wakes exactly one waiting worker, and delayed keys are promoted by one loop timer: with many
  workers per queue, waking all of them on every add was a measurable share of a propagator's CPU.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["WorkQueue"]

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    """An asyncio work queue; ``get`` waits for the next ready key. Use from one event loop."""

    def __init__(self, *, base_delay: float = 0.005, max_delay: float = 60.0) -> None:
        self._ready: deque[K] = deque()
        self._queued: set[K] = set()
        self._processing: set[K] = set()
        self._dirty: set[K] = set()
        self._delayed: list[tuple[float, int, K]] = []
        self._counter = itertools.count()
        self._failures: dict[K, int] = {}
        self._base = base_delay
        self._max = max_delay
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = 0.0
        self._added_at: dict[K, float] = {}

    def __len__(self) -> int:
        return len(self._ready) + len(self._delayed)

    @property
    def ready(self) -> int:
        """Keys ready to be handed out now (not the delayed ones)."""
        return len(self._ready)

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    def add(self, key: K, delay: float = 0.0) -> None:
        """Queue ``key`` now or after ``delay`` seconds."""
        if delay > 0:
            heapq.heappush(self._delayed, (self._now() + delay, next(self._counter), key))
            self._arm_timer()
            return
        if key in self._processing:
            self._dirty.add(key)
            return
        if key in self._queued:
            return
        self._queued.add(key)
        self._ready.append(key)
        self._added_at.setdefault(key, self._now())
        self._wake_one()

    def add_rate_limited(self, key: K, minimum: float = 0.0) -> float:
        """Re-queue after a failure with exponential backoff; returns the delay used."""
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        delay = float(max(minimum, min(self._max, self._base * (2**n))))
        self.add(key, delay)
        return delay

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)

    def failures(self, key: K) -> int:
        return self._failures.get(key, 0)

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _arm_timer(self) -> None:
        if not self._delayed:
            return
        due = self._delayed[0][0]
        if self._timer is not None and self._timer_due <= due:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_due = due
        self._timer = asyncio.get_running_loop().call_at(due, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        now = self._now()
        while self._delayed and self._delayed[0][0] <= now:
            _, _, key = heapq.heappop(self._delayed)
            self.add(key)
        self._arm_timer()

    async def get(self) -> K:
        """Wait for a ready key and mark it processing."""
        while not self._ready:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # pass on a wake-up this worker will not use
                raise
        key = self._ready.popleft()
        self._queued.discard(key)
        self._processing.add(key)
        return key

    def queued_for(self, key: K) -> float:
        """Seconds ``key`` waited since it was first added (for workqueue_queue_duration_seconds)."""
        added = self._added_at.pop(key, None)
        return float(self._now() - added) if added is not None else 0.0

    def done(self, key: K) -> None:
        """Finish processing ``key``; re-queue it if it was added meanwhile."""
        self._processing.discard(key)
        self._added_at.pop(key, None)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)
