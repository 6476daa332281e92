"""The placement of every federated namespace, as the scheduler's decisions on the bus say, kept in memory.

An object in a federated namespace is placed only where its namespace is (KubeFed's namespace
placement). The reconcile of each object used to read its namespace's decision from JetStream: the same
decision once per object, a third of the bus reads of a restart that re-decides 100,000 objects. This
follows those decisions instead, as an informer follows objects: a :class:`~shared.bus.Replayer` on the
namespace type's decision subjects (the latest of each, then live), and the decisions this replica
publishes are recorded at once (so its own re-queue of the namespace's objects reads the new placement).
Until the replay has caught up, and for a type other than the one followed, it knows nothing and the
reconcile reads the bus as before. A decision of another host cluster or one that removes the namespace
counts as no decision (the reconcile then reads the FederatedNamespace itself).
"""

from __future__ import annotations

import asyncio

from shared import subjects
from shared.bus import Bus, Delivery, Replayer
from shared.messages import PlacementDecision
from shared.runtime import HostBinding

__all__ = ["NamespacePlacements", "UNKNOWN"]


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()  # not known here: read the bus


class NamespacePlacements:
    """namespace → the clusters of its latest decision (None: no decision that places it)."""

    def __init__(self, bus: Bus, binding: HostBinding, resource: str) -> None:
        self.resource = resource  # the qualified namespace type followed
        self._binding = binding
        self._replayer = Replayer(
            bus,
            stream=subjects.STREAM_DESIRED,
            filter_subject=f"kubefed.desired.{subjects.encode_token(resource)}.>",
            name="scheduler-namespaces",
        )
        # namespace → (stream sequence, clusters (None: removing it), host the decision was made for)
        self._latest: dict[str, tuple[int, frozenset[str] | None, str]] = {}

    @property
    def caught_up(self) -> asyncio.Event:
        return self._replayer.caught_up

    @property
    def replayed(self) -> int:
        """Decisions the replay delivered so far."""
        return self._replayer.replayed

    def get(self, resource: str, namespace: str) -> frozenset[str] | _Unknown | None:
        """The placement of ``namespace`` (of namespace type ``resource``), or :data:`UNKNOWN`."""
        if resource != self.resource or not self.caught_up.is_set():
            return UNKNOWN
        entry = self._latest.get(namespace)
        if entry is None or self._binding.foreign(entry[2]):
            return None
        return entry[1]

    def record(self, decision: PlacementDecision, seq: int) -> None:
        """A decision of the namespace type, read or published here at stream sequence ``seq``."""
        if decision.key.resource != self.resource:
            return
        namespace = decision.key.namespace
        known = self._latest.get(namespace)
        if known is not None and known[0] >= seq:
            return  # the replay delivers what this replica published after it recorded it
        placed = None if decision.deleting else frozenset(decision.clusters)
        self._latest[namespace] = (seq, placed, decision.host_uid)

    async def run(self, stop: asyncio.Event) -> None:
        await self._replayer.run(self._on_decision, stop)

    async def _on_decision(self, delivery: Delivery) -> None:
        if isinstance(delivery.message, PlacementDecision):
            self.record(delivery.message, delivery.stream_seq)
