"""Kubernetes Events on federated objects, recorded off the status path.

Writing an Event per cluster and operation is what KubeFed users expect (``CreateInCluster`` ...), but
during a burst it would put one host write per object × cluster in front of the status write that the
report's ack waits for. Like client-go's event broadcaster, events go through a bounded queue served by a
few workers; when the queue is full the event is dropped and ``kubefed_events_dropped_total`` counts it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from shared.errors import KubefedError
from shared.k8s import EVENTS, KUBEFED_CONFIGS, KubeClient
from shared.kubefed_api import KUBEFED_CONFIG_NAME
from shared.messages import ClusterOutcome
from shared.telemetry import get_logger, metrics

__all__ = ["EventRecorder", "build_event", "events_for_outcomes", "host_changed_event"]

log = get_logger(__name__)


def build_event(
    fed: dict[str, Any], reason: str, type_: str, message: str, traceparent: str, now: str
) -> dict[str, Any]:
    """The core/v1 Event for a federated object (pure); the trace id goes in an annotation."""
    meta = fed["metadata"]
    trace_id = traceparent.split("-")[1] if traceparent.count("-") >= 3 else ""
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "generateName": f"{meta['name']}.",
            "namespace": meta.get("namespace") or "default",
            "annotations": {"kubefed.io/trace-id": trace_id} if trace_id else {},
        },
        "involvedObject": {
            "apiVersion": fed.get("apiVersion"),
            "kind": fed.get("kind"),
            "name": meta["name"],
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
        },
        "reason": reason,
        "message": message,
        "type": type_,
        "source": {"component": f"{str(fed.get('kind', '')).lower()}-controller"},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }


def host_changed_event(namespace: str, recorded: str, current: str, now: str) -> dict[str, Any]:
    """The Warning Event on the KubeFedConfig saying that the bus held decisions of another host (pure)."""
    config = {
        "apiVersion": KUBEFED_CONFIGS.api_version,
        "kind": "KubeFedConfig",
        "metadata": {"name": KUBEFED_CONFIG_NAME, "namespace": namespace},
    }
    message = (
        f'The bus holds decisions of another host cluster (kube-system UID "{recorded}"), '
        f'not of this one ("{current}"): they are re-decided from this host, and discarded without '
        "touching member clusters for objects this host does not have"
    )
    return build_event(config, "HostClusterChanged", "Warning", message, "", now)


_EVENT_FOR_OP = {
    "created": "CreateInCluster",
    "updated": "UpdateInCluster",
    "deleted": "DeleteInCluster",
    "unlabelled": "RemoveManagedLabelFromInCluster",
}
_EVENT_FOR_FAILURE = {
    "CreationFailed": "CreateInClusterFailed",
    "UpdateFailed": "UpdateInClusterFailed",
    "DeletionFailed": "DeleteInClusterFailed",
    "LabelRemovalFailed": "RemoveManagedLabelFromInClusterFailed",
    "ClusterNotReady": "ClusterNotReady",
}
# KubeFed's create path when the member already holds the object (dispatch/managed.go Create): a Normal
# CreateInCluster, then a Warning CreateInClusterFailed saying it will update instead (adoption), or
# AlreadyExists (adoptResources: Disabled), or, for an object labelled kubefed.io/managed=false, a Warning
# UpdateInClusterFailed too (its update refuses such objects).
ADOPTION_WARNING = "An update will be attempted instead of a creation due to an existing resource"
_EXISTING_WARNINGS = {
    "adopted": (("CreateInClusterFailed", ADOPTION_WARNING),),
    "AlreadyExists": (("CreateInClusterFailed", "Resource pre-exist in cluster"),),
    "ManagedLabelFalse": (
        ("CreateInClusterFailed", ADOPTION_WARNING),
        ("UpdateInClusterFailed", 'Unable to manage the object which has label kubefed.io/managed: "false"'),
    ),
}
_ATTEMPT_FOR_FAILURE = {
    "CreationFailed": "CreateInCluster",
    "UpdateFailed": "UpdateInCluster",
    "DeletionFailed": "DeleteInCluster",
    "LabelRemovalFailed": "RemoveManagedLabelFromInCluster",
}
# Deleting a federated object, KubeFed's sync controller calls the members without an event recorder
# (controller.go deleteFromClusters, an unmanaged dispatcher): no DeleteInCluster or
# RemoveManagedLabelFromInCluster, only one WaitForRemovalInCluster naming the clusters that still held
# the object when it issued the deletes.
WAIT_FOR_REMOVAL = "WaitForRemovalInCluster"
WAITING_FOR_REMOVAL = "WaitingForRemoval"  # the per-cluster status of a delete the member finishes later
_REMOVAL_OPS = frozenset({"deleted", "deleting"})
_VERB = {
    "CreateInCluster": "Create",
    "UpdateInCluster": "Update",
    "DeleteInCluster": "Delete",
    "RemoveManagedLabelFromInCluster": "RemoveManagedLabelFrom",
}


def events_for_outcomes(
    fed: dict[str, Any],
    kind: str,
    outcomes: Sequence[ClusterOutcome],
    old_status: Mapping[str, Any],
    now: str,
) -> list[dict[str, Any]]:
    """The Events for one object's outcomes in one flush window (pure).

    Successful operations give one event per reason, naming every cluster it happened in
    (KubeFed's exact message when it is one cluster): at fleet scale one event per object × cluster
    would make Events the bulk of the host's write load. Failures keep one event per cluster, with
    the member's message, and only when that cluster's status changed (not on every retry). While the
    federated object itself is being deleted, its member deletes give one WaitForRemovalInCluster and
    orphaning (label removal) none, as in KubeFed; a failure still gives its Warning (KubeFed only logs
    it).
    """
    old = {e.get("name"): e.get("status", "") for e in old_status.get("clusters") or []}
    meta = fed["metadata"]
    ref = f"{meta.get('namespace')}/{meta['name']}" if meta.get("namespace") else meta["name"]
    normal: dict[str, list[str]] = {}
    traces: dict[str, str] = {}
    events: list[dict[str, Any]] = []
    warned: set[tuple[str, str]] = set()
    deleting = bool(meta.get("deletionTimestamp"))
    removing: list[str] = []

    def add_normal(reason: str, o: ClusterOutcome) -> None:
        if o.cluster not in normal.setdefault(reason, []):
            normal[reason].append(o.cluster)
            traces.setdefault(reason, o.trace.get("traceparent", ""))

    for o in outcomes:
        existing = "adopted" if (not o.status and o.message == "adopted") else o.status
        if existing in _EXISTING_WARNINGS and (existing == "adopted" or old.get(o.cluster) != o.status):
            add_normal("CreateInCluster", o)
            for reason, why in _EXISTING_WARNINGS[existing]:
                if (o.cluster, reason) in warned:
                    continue
                warned.add((o.cluster, reason))
                message = f'Failed to create {kind} "{ref}" in cluster "{o.cluster}": {why}'
                events.append(
                    build_event(fed, reason, "Warning", message, o.trace.get("traceparent", ""), now)
                )
        if deleting and o.op in _REMOVAL_OPS | {"absent", "unlabelled"}:
            # a delete the member finishes later is reported again on every re-check: recorded once. An
            # object found absent in a cluster the status still lists as OK was deleted by an earlier
            # report that a newer one superseded before the status writer saw it: recorded too
            first = (
                o.op == "deleted"
                or (o.op == "deleting" and old.get(o.cluster) != o.status)
                or (o.op == "absent" and old.get(o.cluster, WAITING_FOR_REMOVAL) != WAITING_FOR_REMOVAL)
            )
            if o.op != "unlabelled" and first and o.cluster not in removing:
                removing.append(o.cluster)
                traces.setdefault(WAIT_FOR_REMOVAL, o.trace.get("traceparent", ""))
            continue
        if o.op == "deleting" and old.get(o.cluster) != o.status:
            # a delete the member finishes later (a terminating namespace): KubeFed records the delete call
            add_normal("DeleteInCluster", o)
        if not o.status:
            op_reason = _EVENT_FOR_OP.get(o.op)
            if op_reason:
                add_normal(op_reason, o)
            continue
        reason = _EVENT_FOR_FAILURE.get(o.status, "")
        if not reason or old.get(o.cluster) == o.status or (o.cluster, reason) in warned:
            continue
        warned.add((o.cluster, reason))
        if o.status in _ATTEMPT_FOR_FAILURE:  # KubeFed records the attempt before the call that failed
            add_normal(_ATTEMPT_FOR_FAILURE[o.status], o)
        message = o.message or f'{o.status} for {kind} "{ref}" in cluster "{o.cluster}"'
        events.append(build_event(fed, reason, "Warning", message, o.trace.get("traceparent", ""), now))
    if removing:
        message = (
            "Waiting for managed resources to be removed from the following clusters: "
            f"{', '.join(sorted(removing))}"
        )
        events.append(build_event(fed, WAIT_FOR_REMOVAL, "Normal", message, traces[WAIT_FOR_REMOVAL], now))
    for reason, clusters in normal.items():
        names = ", ".join(f'"{c}"' for c in sorted(clusters))
        where = f"in cluster {names}" if len(clusters) == 1 else f"in clusters {names}"
        events.append(
            build_event(fed, reason, "Normal", f'{_VERB[reason]} {kind} "{ref}" {where}', traces[reason], now)
        )
    return events


class EventRecorder:
    """A bounded queue of events and the workers that create them on the host."""

    def __init__(self, host: KubeClient, *, capacity: int = 1000, workers: int = 4) -> None:
        self.host = host
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=capacity)
        self._workers = workers

    def record(self, event: dict[str, Any]) -> None:
        """Queue an event; drop it (and count the drop) when the queue is full."""
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            metrics.events_dropped.inc()

    async def run(self, stop: asyncio.Event) -> None:
        """Create queued events until ``stop``; what is still queued then is written before returning."""

        async def worker() -> None:
            while True:
                event = await self._queue.get()
                try:
                    await self.host.create(EVENTS, event, event["metadata"]["namespace"])
                except KubefedError as exc:
                    log.info("Recording event failed", reason=event.get("reason"), err=str(exc))
                finally:
                    self._queue.task_done()

        tasks = [asyncio.create_task(worker(), name=f"event-recorder-{i}") for i in range(self._workers)]
        try:
            await stop.wait()
            try:
                await asyncio.wait_for(self._queue.join(), timeout=5.0)
            except TimeoutError:
                pass
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
