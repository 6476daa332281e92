"""Leader election on a NATS KV key, for singletons such as the watcher (client-go's algorithm).

The key holds a :class:`shared.messages.LeaseRecord`. Every ``retry_period`` a candidate reads it:
a missing key is created (only one ``create`` can win); a record held by someone else is taken over
with a compare-and-set on its revision once this candidate has seen it unchanged for the holder's
``lease_duration``; the holder renews with a compare-and-set on the revision it last wrote. A holder
that could not renew for ``renew_deadline`` stops leading: a timer armed at every renewal ends it even
while a request hangs on a dead connection, so it stops at least ``lease_duration - renew_deadline``
before any stand-by may take over. One whose compare-and-set fails knows at once that someone else
took over. On a clean shutdown the holder deletes the key so a stand-by takes over on its next retry.

The timings are KubeFedConfig's ``spec.leaderElect`` (``leaseDuration`` 15 s, ``renewDeadline`` 10 s,
``retryPeriod`` 5 s by default), read again before every attempt, so a change applies without a
restart. NATS KV rather than a ConfigMap/Endpoints lock because NATS is what every service already
depends on and what the watcher's publishes go to; ``resourceLock`` is validated but names no object.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable

import msgspec
import nats.errors
import nats.js.errors

from shared.bus._connection import Bus
from shared.messages import LeaseRecord
from shared.subjects import BUCKET_LEASES, kv_key
from shared.telemetry import get_logger, metrics
from shared.timefmt import now_rfc3339

__all__ = ["LeaseElector", "LeaseTimings", "may_take_lease"]

log = get_logger(__name__)

_decoder = msgspec.json.Decoder(LeaseRecord)


class LeaseTimings(msgspec.Struct, frozen=True, kw_only=True):
    """KubeFedConfig ``spec.leaderElect`` in seconds."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 5.0


TimingsSource = Callable[[], Awaitable[LeaseTimings]]


def may_take_lease(record: LeaseRecord | None, identity: str, unchanged_for: float) -> bool:
    """Whether ``identity`` may write the lease: it is free, ours, or its holder stopped renewing.

    ``unchanged_for`` is how long this candidate has seen the same record revision, on its own clock.
    """
    if record is None or not record.holder_identity or record.holder_identity == identity:
        return True
    return unchanged_for >= record.lease_duration_seconds


class LeaseElector:
    """Campaigns for one named lease; ``leading`` is set while this process holds it."""

    def __init__(
        self, bus: Bus, *, name: str, identity: str, timings: LeaseTimings | TimingsSource = LeaseTimings()
    ) -> None:
        self._bus = bus
        self._name = name
        self._key = kv_key(name)
        self._identity = identity
        self._timings = timings
        self.current = timings if isinstance(timings, LeaseTimings) else LeaseTimings()
        self._revision: int | None = None  # revision of our own last write while leading
        self._seen: tuple[int, float] = (0, 0.0)  # (revision, monotonic time first seen)
        self._renewed_at = 0.0
        self.holder = ""
        self.leading = asyncio.Event()
        self._deadline_timer: asyncio.TimerHandle | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Campaign and renew until ``stop``; release the lease on the way out."""
        kv = None
        while not stop.is_set():
            await self._refresh_timings()
            try:
                # a leader's attempt may not outlive its renew deadline: a request hanging on a dead
                # connection must not keep it leading while a stand-by takes over
                async with asyncio.timeout(self._attempt_budget()):
                    if kv is None:
                        kv = await self._bus.js.key_value(BUCKET_LEASES)
                    await self._attempt(kv)
            except (nats.js.errors.KeyWrongLastSequenceError, nats.js.errors.APIError):
                # someone else wrote the key between our read and our write
                if self.leading.is_set():
                    log.warning("Lost lease", lease=self._name, identity=self._identity)
                self._revision = None
                self._set(False)
            except (
                nats.errors.Error,
                nats.js.errors.Error,
                OSError,
                TimeoutError,
                msgspec.ValidationError,
            ) as exc:
                # a leader keeps leading until its renew deadline timer fires (_deadline_passed)
                log.info("Lease attempt failed", lease=self._name, err=str(exc) or type(exc).__name__)
            period = self.current.retry_period
            if not self.leading.is_set():
                period *= 1.0 + 0.2 * random.random()  # client-go's jitter, so stand-bys do not collide
            try:
                await asyncio.wait_for(stop.wait(), timeout=period)
            except TimeoutError:
                pass
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
        if self._revision is not None and kv is not None:
            try:
                await kv.delete(self._key, last=self._revision)
            except (nats.errors.Error, nats.js.errors.Error):
                pass
        self._set(False)

    def _attempt_budget(self) -> float:
        """Seconds one attempt may take: what is left of the renew deadline while leading."""
        if not self.leading.is_set():
            return max(self.current.retry_period, 0.05)
        left = self.current.renew_deadline - (time.monotonic() - self._renewed_at)
        return max(left, 0.001)

    async def _refresh_timings(self) -> None:
        if isinstance(self._timings, LeaseTimings):
            return
        try:
            self.current = await self._timings()
        except Exception as exc:  # a failed read keeps the timings in force
            log.info("Reading lease timings failed", lease=self._name, err=repr(exc))

    async def _attempt(self, kv: nats.js.kv.KeyValue) -> None:
        now = time.monotonic()
        try:
            entry = await kv.get(self._key)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            entry = None
        if entry is None or not entry.value:
            record = self._record(None)
            self._revision = await kv.create(self._key, msgspec.json.encode(record))
            self._won(now, record, fresh=True)
            return
        revision = int(entry.revision or 0)
        if self._seen[0] != revision:
            self._seen = (revision, now)
        current = _decoder.decode(entry.value)
        self.holder = current.holder_identity
        if self.leading.is_set() and current.holder_identity != self._identity:
            log.warning(
                "Lost lease", lease=self._name, identity=self._identity, holder=current.holder_identity
            )
            self._revision = None
            self._set(False)
        if not may_take_lease(current, self._identity, now - self._seen[1]):
            self._set(False)
            return
        record = self._record(current)
        self._revision = await kv.update(self._key, msgspec.json.encode(record), last=revision)
        self._won(now, record, fresh=current.holder_identity != self._identity)

    def _record(self, previous: LeaseRecord | None) -> LeaseRecord:
        stamp = now_rfc3339()
        ours = previous is not None and previous.holder_identity == self._identity
        return LeaseRecord(
            holder_identity=self._identity,
            lease_duration_seconds=self.current.lease_duration,
            acquire_time=previous.acquire_time if (ours and previous is not None) else stamp,
            renew_time=stamp,
            leader_transitions=(previous.leader_transitions if previous else 0)
            + (0 if ours or previous is None else 1),
        )

    def _won(self, now: float, record: LeaseRecord, *, fresh: bool) -> None:
        self._renewed_at = now
        # whatever the campaign loop is waiting for, leadership ends when the renew deadline passes
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
        self._deadline_timer = asyncio.get_running_loop().call_later(
            self.current.renew_deadline, self._deadline_passed
        )
        self.holder = self._identity
        if fresh or not self.leading.is_set():
            log.info(
                "Acquired lease",
                lease=self._name,
                identity=self._identity,
                transitions=record.leader_transitions,
            )
        self._set(True)

    def _deadline_passed(self) -> None:
        if self.leading.is_set():
            log.warning(
                "Lost lease: not renewed within renewDeadline", lease=self._name, identity=self._identity
            )
            self._revision = None
            self._set(False)

    def _set(self, leading: bool) -> None:
        metrics.leader.labels(self._name).set(1 if leading else 0)
        if leading:
            self.leading.set()
        else:
            self.leading.clear()
