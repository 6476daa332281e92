"""Status of native objects under propagation policies: aggregated back to the host object, with Events.

The propagators report each member copy's outcome and, for the kinds Karmada aggregates
(:data:`shared.policy.AGGREGATED_KINDS`), the member's status. Per flush:

* the per-cluster breakdown (``kubefed.io/member-status`` annotation, JSON by cluster: the member's
  counters and its propagation status, ``""`` when OK) is the memory of what every cluster reported,
  as ``status.clusters`` is for a ``Federated<Kind>``; clusters no longer placed leave it;
* ``status`` of the host object is :func:`shared.policy.aggregate_status` over the breakdown (a status
  write, only when it changed); its ``observedGeneration`` follows the host object's generation once
  every placed cluster reported the current decision and caught up;
* Events (``CreateInCluster``, ``UpdateInCluster``, ``DeleteInCluster`` and the failures) are KubeFed's,
  recorded on the native object;
* a removal (object deleted, or no policy claims it any more) purges the decision once every cluster
  of it reported the copy gone.
"""

from __future__ import annotations

from typing import Any

import msgspec

from services.scheduler._events import EventRecorder, events_for_outcomes
from services.scheduler._native import native_decision_subject
from services.scheduler._state import HostState, NativeType
from shared.bus import Bus
from shared.errors import ConflictError, NotFoundError
from shared.messages import REMOVED_OPS, ClusterOutcome, ObjectKey, PlacementDecision, decode
from shared.policy import AGGREGATED_KINDS, MEMBER_STATUS_ANNOTATION, aggregate_status, breakdown_annotation
from shared.telemetry import get_logger, metrics
from shared.timefmt import now_rfc3339

__all__ = ["NativeStatusWriter", "merge_breakdown"]

log = get_logger(__name__)

PROPAGATION = "propagation"  # the breakdown entry's propagation status ("" = OK)


def read_breakdown(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    raw = ((obj.get("metadata") or {}).get("annotations") or {}).get(MEMBER_STATUS_ANNOTATION)
    if not raw:
        return {}
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return {}
    return {c: dict(v) for c, v in value.items() if isinstance(v, dict)} if isinstance(value, dict) else {}


def merge_breakdown(
    kind: str,
    recorded: dict[str, dict[str, Any]],
    latest: dict[str, ClusterOutcome],
    decision: PlacementDecision,
    generation: int,
) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]:
    """(aggregated status or None when the kind has none, new breakdown) (pure).

    A reporting cluster's entry is its member status' counters (from :func:`aggregate_status`) plus its
    propagation status; other placed clusters keep their entry; clusters not placed lose it."""
    placed = set(decision.clusters)
    members: dict[str, dict[str, Any] | None] = {}
    entries: dict[str, dict[str, Any]] = {}
    for cluster in sorted(placed):
        outcome = latest.get(cluster)
        if outcome is not None and outcome.remote_status is not None:
            members[cluster] = {"status": outcome.remote_status}
        elif cluster in recorded:
            members[cluster] = {"status": {k: v for k, v in recorded[cluster].items() if k != PROPAGATION}}
        else:
            members[cluster] = None
        if outcome is not None:
            entries[cluster] = {PROPAGATION: outcome.status}
        elif cluster in recorded:
            entries[cluster] = {PROPAGATION: recorded[cluster].get(PROPAGATION, "")}
    if kind not in AGGREGATED_KINDS:
        return None, {c: e for c, e in entries.items()}
    # a member that has not reported for this decision holds back observedGeneration
    caught_up = all(c in latest or c in recorded for c in placed)
    status, breakdown = aggregate_status(
        kind, members, template_generation=generation if caught_up and latest else None
    )
    merged = {
        c: {**breakdown.get(c, {}), **entries[c]} for c in sorted(placed) if c in entries or members.get(c)
    }
    return status, merged


class NativeStatusWriter:
    """Writes what the propagators reported about native objects onto them."""

    def __init__(self, bus: Bus, state: HostState, events: EventRecorder) -> None:
        self.bus = bus
        self.state = state
        self.events = events
        self._removed: dict[ObjectKey, set[str]] = {}

    async def write(
        self, native: NativeType, key: ObjectKey, outcomes: list[ClusterOutcome], may_hold: bool
    ) -> bool:
        """Write what ``outcomes`` changed; True when held back to wait for more placed clusters."""
        stream, subject = native_decision_subject(native.target, key)
        last = await self.bus.get_last(stream, subject)
        decision = decode(last[0]) if last else None
        if not isinstance(decision, PlacementDecision) or self.state.binding.foreign(decision.host_uid):
            return False
        seq = last[2] if last else 0
        current = [o for o in outcomes if o.template_hash == decision.template_hash]
        if not current:
            return False
        latest = {o.cluster: o for o in current}  # merged in arrival (stream) order
        if decision.deleting:
            removed = self._removed.setdefault(key, set())
            removed.update(c for c, o in latest.items() if o.op in REMOVED_OPS and not o.status)
            if set(decision.clusters) <= removed:
                await self.bus.purge_subject(stream, subject, through_seq=seq)
                self._removed.pop(key, None)
            return False
        self._removed.pop(key, None)
        if may_hold and set(decision.clusters) - set(latest):
            obj = await self.state.host.get_or_none(native.resource, key.name, key.namespace or None)
            if obj is not None and set(decision.clusters) - set(latest) - set(read_breakdown(obj)):
                return True  # a placed cluster has never reported: wait a little for it
        for _ in range(5):
            obj = await self.state.host.get_or_none(native.resource, key.name, key.namespace or None)
            if obj is None or (obj.get("metadata") or {}).get("uid") != decision.source_uid:
                return False
            try:
                await self._write(native, key, obj, decision, latest, current)
                return False
            except ConflictError:
                continue
        raise ConflictError(f"status of {key} kept conflicting")

    async def _write(
        self,
        native: NativeType,
        key: ObjectKey,
        obj: dict[str, Any],
        decision: PlacementDecision,
        latest: dict[str, ClusterOutcome],
        current: list[ClusterOutcome],
    ) -> None:
        meta = obj.get("metadata") or {}
        recorded = read_breakdown(obj)
        kind = native.target.kind
        status, breakdown = merge_breakdown(
            kind, recorded, latest, decision, int(meta.get("generation") or 0)
        )
        ns = key.namespace or None
        annotation = breakdown_annotation(breakdown)
        if ((meta.get("annotations") or {}).get(MEMBER_STATUS_ANNOTATION) or "{}") != annotation:
            obj = await self.state.host.patch(
                native.resource,
                key.name,
                {
                    "metadata": {
                        "annotations": {MEMBER_STATUS_ANNOTATION: annotation},
                        "resourceVersion": meta.get("resourceVersion"),
                    }
                },
                ns,
            )
        if status is not None:
            old = dict(obj.get("status") or {})
            new = {**old, **status}
            if "observedGeneration" not in status and "observedGeneration" in old:
                new["observedGeneration"] = old["observedGeneration"]
            if new != old:
                body = dict(obj)
                body["status"] = new
                try:
                    await self.state.host.replace(native.resource, body, subresource="status")
                except NotFoundError:
                    return
                metrics.host_status_writes.labels(kind).inc()
        old_status = {
            "clusters": [{"name": c, "status": e.get(PROPAGATION, "")} for c, e in recorded.items()]
        }
        for event in events_for_outcomes(obj, kind, current, old_status, now_rfc3339()):
            self.events.record(event)
