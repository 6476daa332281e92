"""One run of an async action for many concurrent callers (a re-read that every change asks for).

A caller of :class:`Coalesced` returns once a run that *started after its call* has finished, so it
sees everything that happened before it asked, but callers that ask while a run is in progress share
the next run instead of queueing one each. N changes arriving at once cost two runs, not N: the
scheduler relists its KubeFedClusters on every change to one of them, and a fleet of N members joining
asked for N concurrent lists of N clusters (a transient peak that grew with N², which set the RSS).

A run that fails raises in the caller that ran it; the callers waiting behind it run again themselves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

__all__ = ["Coalesced"]


class Coalesced:
    """Wraps ``action``; ``await coalesced()`` runs it, or waits for a run that covers the call."""

    def __init__(self, action: Callable[[], Awaitable[None]]) -> None:
        self._action = action
        self._lock = asyncio.Lock()
        self._asked = 0  # calls so far, numbered 1, 2, ...
        self._covered = 0  # every call numbered up to this was made before a run that finished
        self.runs = 0  # runs started (for tests and metrics)

    async def __call__(self) -> None:
        self._asked += 1
        mine = self._asked
        async with self._lock:  # FIFO: the run in progress ends first
            if self._covered >= mine:
                return  # a run that started after this call has finished
            covers = self._asked  # this run starts after every call made so far
            self.runs += 1
            await self._action()
            self._covered = covers
