"""A de-duplicating, delaying work queue with per-key exponential backoff (client-go's semantics).

- A key waiting in the queue is stored once, however often it is added (bursts coalesce).
- A key being processed is never handed to a second worker; adding it meanwhile marks it dirty and it
  is queued again when the first worker calls :meth:`done` (per-key ordering without locks).
- :meth:`add_rate_limited` delays by 5 ms x 2^failures, capped (``DefaultControllerRateLimiter``'s
  per-item part); :meth:`forget` resets the count after a success.
- An add wakes exactly one waiting worker, and delayed keys are promoted by one loop timer: with many
  workers per queue, waking all of them on every add was a measurable share of a propagator's CPU.
- Two priorities (controller-runtime's priority queue): a key added with ``low_priority`` (a periodic
  re-verification of every object, a re-check after a cluster's readiness changed) is handed out only
  when no normal key is ready, so a live change never waits behind such a backlog. Adding a queued
  low-priority key normally raises it; a key is still stored once.
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
        # the keys ready now, in order, per priority; a key raised from low to normal stays in the low
        # deque too and is skipped there (``_queued`` says which priority a queued key has: True = low)
        self._ready: deque[K] = deque()
        self._ready_low: deque[K] = deque()
        self._queued: dict[K, bool] = {}
        self._processing: set[K] = set()
        self._dirty: dict[K, bool] = {}  # added while processing: queued again at done(), this priority
        self._delayed: list[tuple[float, int, K, bool]] = []
        self._counter = itertools.count()
        self._failures: dict[K, int] = {}
        self._base = base_delay
        self._max = max_delay
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = 0.0
        self._added_at: dict[K, float] = {}

    def __len__(self) -> int:
        return len(self._queued) + len(self._delayed)

    @property
    def ready(self) -> int:
        """Keys ready to be handed out now (not the delayed ones)."""
        return len(self._queued)

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    def add(self, key: K, delay: float = 0.0, *, low_priority: bool = False) -> None:
        """Queue ``key`` now or after ``delay`` seconds; ``low_priority``: only when nothing else is
        ready."""
        if delay > 0:
            heapq.heappush(self._delayed, (self._now() + delay, next(self._counter), key, low_priority))
            self._arm_timer()
            return
        if key in self._processing:
            self._dirty[key] = self._dirty.get(key, True) and low_priority
            return
        queued_low = self._queued.get(key)
        if queued_low is not None:
            if queued_low and not low_priority:  # raised: handed out before the low-priority backlog
                self._queued[key] = False
                self._ready.append(key)
            return
        self._queued[key] = low_priority
        (self._ready_low if low_priority else self._ready).append(key)
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
            _, _, key, low_priority = heapq.heappop(self._delayed)
            self.add(key, low_priority=low_priority)
        self._arm_timer()

    async def get(self) -> K:
        """Wait for a ready key (a normal one first) and mark it processing."""
        while not self._queued:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # pass on a wake-up this worker will not use
                raise
        key = self._next_ready()
        del self._queued[key]
        self._processing.add(key)
        return key

    def _next_ready(self) -> K:
        """The first normal key, else the first low-priority one still queued at low priority (a raised
        key left behind in the low deque is skipped: it was or will be handed out from the normal one)."""
        while self._ready:
            key = self._ready.popleft()
            if self._queued.get(key) is False:
                return key
        while True:
            key = self._ready_low.popleft()
            if self._queued.get(key) is True:
                return key

    def queued_for(self, key: K) -> float:
        """Seconds ``key`` waited since it was first added (for workqueue_queue_duration_seconds)."""
        added = self._added_at.pop(key, None)
        return float(self._now() - added) if added is not None else 0.0

    def done(self, key: K) -> None:
        """Finish processing ``key``; re-queue it if it was added meanwhile."""
        self._processing.discard(key)
        self._added_at.pop(key, None)
        low_priority = self._dirty.pop(key, None)
        if low_priority is not None:
            self.add(key, low_priority=low_priority)
