"""A de-duplicating, delaying work queue with per-key exponential backoff (client-go's semantics).

- A key waiting in the queue is stored once, however often it is added (bursts coalesce).
- A key being processed is never handed to a second worker; adding it meanwhile marks it dirty and it
  is queued again when the first worker calls :meth:`done` (per-key ordering without locks).
- :meth:`add_rate_limited` delays by 5 ms × 2^failures, capped (``DefaultControllerRateLimiter``'s
  per-item part); :meth:`forget` resets the count after a success.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["WorkQueue"]

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    """An asyncio work queue; ``get`` waits for the next ready key."""

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
        self._wakeup = asyncio.Event()
        self._added_at: dict[K, float] = {}

    def __len__(self) -> int:
        return len(self._ready) + len(self._delayed)

    def add(self, key: K, delay: float = 0.0) -> None:
        """Queue ``key`` now or after ``delay`` seconds."""
        if delay > 0:
            heapq.heappush(self._delayed, (time.monotonic() + delay, next(self._counter), key))
            self._wakeup.set()
            return
        if key in self._processing:
            self._dirty.add(key)
            return
        if key in self._queued:
            return
        self._queued.add(key)
        self._ready.append(key)
        self._added_at.setdefault(key, time.monotonic())
        self._wakeup.set()

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

    def _promote_due(self) -> float | None:
        now = time.monotonic()
        while self._delayed and self._delayed[0][0] <= now:
            _, _, key = heapq.heappop(self._delayed)
            self.add(key)
        return self._delayed[0][0] - now if self._delayed else None

    async def get(self) -> K:
        """Wait for a ready key and mark it processing."""
        while True:
            wait = self._promote_due()
            if self._ready:
                key = self._ready.popleft()
                self._queued.discard(key)
                self._processing.add(key)
                return key
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout=wait)
            except TimeoutError:
                pass

    def queued_for(self, key: K) -> float:
        """Seconds ``key`` waited since it was first added (for workqueue_queue_duration_seconds)."""
        added = self._added_at.pop(key, None)
        return float(time.monotonic() - added) if added is not None else 0.0

    def done(self, key: K) -> None:
        """Finish processing ``key``; re-queue it if it was added meanwhile."""
        self._processing.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)
