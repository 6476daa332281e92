"""Batching outcomes into one :class:`StatusReport` per cluster and flush interval.

A report per object × cluster would make bus traffic grow with changes × clusters; batching makes it
grow with flush intervals × clusters (plus one message per 500 outcomes). Outcomes that could not be
published stay buffered and go out with the next flush, so a NATS restart delays status, never loses it.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

from shared import subjects
from shared.bus import Publisher
from shared.errors import BusError
from shared.messages import ClusterOutcome, StatusReport
from shared.telemetry import get_logger

__all__ = ["Reporter"]

log = get_logger(__name__)


class Reporter:
    """Collects outcomes and publishes them in batches."""

    def __init__(self, publisher: Publisher, *, interval: float = 0.05, batch: int = 500) -> None:
        self._publisher = publisher
        self._interval = interval
        self._batch = batch
        self._buffer: dict[str, list[ClusterOutcome]] = defaultdict(list)
        self._kick = asyncio.Event()

    def add(self, outcome: ClusterOutcome) -> None:
        self._buffer[outcome.cluster].append(outcome)
        self._kick.set()

    async def run(self, stop: asyncio.Event) -> None:
        while True:
            try:
                await asyncio.wait_for(self._kick.wait(), timeout=0.5)
            except TimeoutError:
                if stop.is_set():
                    return
                continue
            self._kick.clear()
            await asyncio.sleep(self._interval)
            await self.flush()
            if stop.is_set() and not self._buffer:
                return

    async def flush(self) -> None:
        buffer, self._buffer = self._buffer, defaultdict(list)
        try:
            for cluster, outcomes in buffer.items():
                for i in range(0, len(outcomes), self._batch):
                    await self._publisher.send(
                        subjects.status_subject(cluster),
                        StatusReport(cluster=cluster, outcomes=outcomes[i : i + self._batch]),
                        stream=subjects.STREAM_STATUS,
                    )
            await self._publisher.flush()
        except BusError as exc:
            log.info("Publishing status failed, will retry", err=str(exc))
            for cluster, outcomes in buffer.items():
                self._buffer[cluster][:0] = outcomes
            await asyncio.sleep(0.5)
            self._kick.set()
