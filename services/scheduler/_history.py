"""The per-object decision history: one :class:`DecisionRecord` per new decision, with its reasons.

Written after a decision was published (placement) or an RSP plan was written (replicas), on the
object's subject of ``KUBEFED_HISTORY`` (N per subject, ``--history-depth``/``--history-max-age``).
What changed is computed against the decision it replaces (the previous ``PlacementDecision``, which the
reconcile reads anyway, or the federated object before an RSP write), so nothing is read back and
scheduler replicas need no shared memory. Recording is best effort and does not wait for the ack: a
failure is logged, never retried in a way that could hold up placement.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from shared import subjects
from shared.bus import Bus, Publisher
from shared.errors import KubefedError
from shared.messages import ClusterReason, DecisionRecord, ObjectKey, PlacementDecision
from shared.planning import ClusterInfo, content_hash, decision_changes, last_manager, placement_reasons
from shared.telemetry import current_carrier, get_logger

__all__ = [
    "HistoryRecorder",
    "placement_reasons_for",
    "placement_summary",
    "record_placement",
    "trace_id_of",
]

log = get_logger(__name__)


def trace_id_of(carrier: Mapping[str, str]) -> str:
    """The trace id of a W3C ``traceparent`` carrier ("" when none)."""
    parts = str(carrier.get("traceparent") or "").split("-")
    return parts[1] if len(parts) >= 4 else ""


def placement_summary(decision: PlacementDecision) -> dict[str, Any]:
    """What :func:`shared.planning.decision_changes` compares for a placement decision (digests only:
    history never carries templates or Secret data)."""
    # replicas each cluster runs: its /spec/replicas override, else the template's (workloads only)
    default = (decision.template.get("spec") or {}).get("replicas")
    replicas: dict[str, int] = {}
    for cluster in decision.clusters:
        value = default
        for op in decision.overrides.get(cluster, []):
            if op.get("path") == "/spec/replicas":
                value = op.get("value")
        if isinstance(value, int) and not isinstance(value, bool):
            replicas[cluster] = value
    return {
        "clusters": list(decision.clusters),
        "replicas": replicas,
        "template": content_hash(decision.template)[:12],
        "overrides": {c: content_hash(ops)[:12] for c, ops in sorted(decision.overrides.items())},
        "generation": decision.generation,
        "deleting": decision.deleting,
    }


class HistoryRecorder:
    """Sends decision records (best effort: no wait for the ack); ``clock`` is injectable for tests."""

    def __init__(self, bus: Bus, *, clock: Callable[[], float] = time.time) -> None:
        self.bus = bus
        self.publisher = Publisher(bus)
        self.clock = clock

    async def record(
        self,
        *,
        key: ObjectKey,
        source: str,
        fed: Mapping[str, Any],
        clusters: Sequence[str],
        reasons: Sequence[ClusterReason],
        summary: dict[str, Any],
        previous: Mapping[str, Any] | None,
        inputs: dict[str, Any] | None = None,
    ) -> DecisionRecord | None:
        """Record one decision; ``previous`` is the summary of the decision it replaces (None: first).
        Returns the record, or None when it could not be sent (logged, never raised)."""
        meta = fed.get("metadata") or {}
        manager, operation = last_manager(fed)
        record = DecisionRecord(
            key=key,
            source=source,
            decided_at=self.clock(),
            generation=int(meta.get("generation") or 0),
            source_rv=str(meta.get("resourceVersion") or ""),
            clusters=sorted(clusters),
            reasons=list(reasons),
            summary=summary,
            changes=decision_changes(previous, summary),
            inputs=inputs or {},
            manager=manager,
            operation=operation,
            trace_id=trace_id_of(current_carrier()),
        )
        for exc in self.publisher.take_errors():
            log.info("Recording decision history failed", err=str(exc))
        try:
            subject = subjects.history_subject(key.resource, key.namespace, key.name)
            await self.publisher.send(subject, record, stream=subjects.STREAM_HISTORY)
        except KubefedError as exc:
            log.info("Recording decision history failed", object=str(key), err=str(exc))
            return None
        return record


def placement_reasons_for(
    fed: Mapping[str, Any],
    decision: PlacementDecision,
    clusters: Sequence[ClusterInfo],
    namespace_placement: frozenset[str] | None,
    *,
    summary: Mapping[str, Any] | None = None,
) -> list[ClusterReason]:
    """Per-cluster reasons of one placement decision (the placement rules, cluster by cluster);
    ``summary``: the decision's :func:`placement_summary` when the caller has it already."""
    selected = frozenset(decision.clusters)
    namespace_rule = decision.target.namespaced and decision.target.kind != "Namespace"
    texts = placement_reasons(
        (fed.get("spec") or {}).get("placement"),
        clusters,
        selected=selected,
        namespace_placement=namespace_placement,
        namespace_rule=namespace_rule,
        error=decision.aggregate_reason,
    )
    if summary is None:
        summary = placement_summary(decision)
    out: list[ClusterReason] = []
    for name, text in texts.items():
        if name in decision.cluster_errors:
            text += f"; {decision.cluster_errors[name]}"
        out.append(
            ClusterReason(
                cluster=name, selected=name in selected, reason=text, replicas=summary["replicas"].get(name)
            )
        )
    return out


async def record_placement(
    recorder: HistoryRecorder,
    fed: Mapping[str, Any],
    decision: PlacementDecision,
    previous: PlacementDecision | None,
    clusters: Sequence[ClusterInfo],
    namespace_placement: frozenset[str] | None,
) -> DecisionRecord | None:
    """Record a published placement decision with its reasons and what changed since ``previous``."""
    summary = placement_summary(decision)
    return await recorder.record(
        key=decision.key,
        source="placement",
        fed=fed,
        clusters=decision.clusters,
        reasons=placement_reasons_for(fed, decision, clusters, namespace_placement, summary=summary),
        summary=summary,
        previous=None if previous is None else placement_summary(previous),
    )
