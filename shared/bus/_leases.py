"""Leader election on a NATS KV key, for singletons such as the watcher.

The ``kubefed-leases`` bucket has a max age (its TTL, 6 s): the leader rewrites its key every
``renew`` seconds with a compare-and-set on the revision it last wrote; a stand-by tries ``create``,
which only succeeds once the key is gone, i.e. when the leader stopped renewing for a full TTL. So a
stand-by takes over within about TTL + renew seconds of a crash, and at once after a clean shutdown
(the leader deletes its key). NATS KV rather than a Kubernetes Lease because NATS is what every
service already depends on; the watcher stops publishing the moment it cannot renew.
"""

from __future__ import annotations

import asyncio

import nats.errors
import nats.js.errors

from shared.bus._connection import Bus
from shared.subjects import BUCKET_LEASES, kv_key
from shared.telemetry import get_logger, metrics

__all__ = ["LeaseElector"]

log = get_logger(__name__)


class LeaseElector:
    """Campaigns for one named lease; ``leading`` is set while this process holds it."""

    def __init__(self, bus: Bus, *, name: str, identity: str, renew: float = 1.5) -> None:
        self._bus = bus
        self._name = name
        self._key = kv_key(name)
        self._identity = identity
        self._renew = renew
        self._revision: int | None = None
        self.leading = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Campaign and renew until ``stop``; release the lease on the way out."""
        kv = None
        while not stop.is_set():
            try:
                if kv is None:
                    kv = await self._bus.js.key_value(BUCKET_LEASES)
                if self._revision is None:
                    self._revision = await kv.create(self._key, self._identity.encode())
                    log.info("Acquired lease", lease=self._name, identity=self._identity)
                else:
                    self._revision = await kv.update(self._key, self._identity.encode(), last=self._revision)
                self._set(True)
            except (nats.js.errors.KeyWrongLastSequenceError, nats.js.errors.APIError):
                if self._revision is not None:
                    log.warning("Lost lease", lease=self._name, identity=self._identity)
                self._revision = None
                self._set(False)
            except (nats.errors.Error, nats.js.errors.Error, OSError) as exc:
                if self._revision is not None:
                    log.warning("Lease renewal failed", lease=self._name, err=str(exc))
                self._revision = None
                self._set(False)
            try:
                await asyncio.wait_for(stop.wait(), timeout=self._renew)
            except TimeoutError:
                pass
        if self._revision is not None and kv is not None:
            try:
                await kv.delete(self._key, last=self._revision)
            except (nats.errors.Error, nats.js.errors.Error):
                pass
        self._set(False)

    def _set(self, leading: bool) -> None:
        metrics.leader.labels(self._name).set(1 if leading else 0)
        if leading:
            self.leading.set()
        else:
            self.leading.clear()
