"""Host status: federated object status, KubeFedCluster health, events, finalizer removal.

Propagators report outcomes in per-cluster batches. Reports arriving within one flush interval are
merged by object, so one status write covers every cluster that reported for that object (a burst of
10,000 objects × 10 clusters costs about 10,000 host writes, not 100,000). The report messages are
acked only after the writes they caused succeeded; a failed write naks them, and the idempotent merge
makes the redelivery harmless.

The host object's own ``status.clusters`` is the memory of what each cluster reported, so a scheduler
restart loses nothing. Outcomes for an older decision (another template hash) are ignored: a newer
outcome is on its way; so are outcomes of a decision of another host cluster. Reports are not handed
over in the order a cluster's propagator made them (redeliveries, two replicas): outcomes are merged in
stream order, and a failure outcome that a newer report of its cluster superseded is dropped
(:mod:`services.scheduler._report_order`). Status is written only
when it changed (:func:`shared.planning.next_status`). A finished removal purges its decision only up
to its own sequence, so the decision of an object created again under the same name survives.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace as otel_trace

from services.scheduler._events import EventRecorder, events_for_outcomes
from services.scheduler._native_status import NativeStatusWriter
from services.scheduler._reconciler import Reconciler, decision_subject
from services.scheduler._report_order import ReportOrder
from services.scheduler._state import HostState
from services.scheduler._versions import VersionRecorder
from shared.bus import Bus, Delivery
from shared.errors import ConflictError, NotFoundError
from shared.k8s import KUBEFED_CLUSTERS
from shared.messages import (
    REMOVED_OPS,
    ClusterHealthReport,
    ClusterOutcome,
    ObjectKey,
    PlacementDecision,
    StatusReport,
    decode,
)
from shared.planning import CHECK_CLUSTERS, aggregate_propagation_status, next_status
from shared.telemetry import context_from_carrier, get_logger, metrics, spans_recorded, tracer
from shared.timefmt import now_rfc3339

__all__ = ["StatusWriter", "merge_cluster_entries", "only_verifications"]

log = get_logger(__name__)


class _Report:
    """One status report message, acked once every object it named was written (or found unchanged)."""

    __slots__ = ("error", "future", "remaining")

    def __init__(self, keys: int) -> None:
        self.future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.remaining = keys
        self.error: BaseException | None = None

    def settle(self, error: BaseException | None) -> None:
        self.error = self.error or error
        self.remaining -= 1
        if self.remaining <= 0 and not self.future.done():
            if self.error is not None:
                self.future.set_exception(self.error)
            else:
                self.future.set_result(None)


class _Received:
    """An outcome as it arrived: the subject and stream sequence of its report (0: not from a stream)."""

    __slots__ = ("outcome", "seq", "subject")

    def __init__(self, subject: str, seq: int, outcome: ClusterOutcome) -> None:
        self.subject = subject
        self.seq = seq
        self.outcome = outcome


def only_verifications(outcomes: list[_Received]) -> bool:
    """Whether every outcome only says that a member object was found as decided (nothing written, no
    error, no member status to collect): a batch that changes the host's status only when an earlier
    outcome of that cluster was lost or failed, or a new generation is to be acknowledged."""
    return all(
        r.outcome.op == "unchanged" and not r.outcome.status and r.outcome.remote_status is None
        for r in outcomes
    )


class StatusWriter:
    """Merges outcome batches into host status writes.

    ``partial_hold``: while some placement clusters have not reported for the current decision, the
    write waits up to this long for them, so that a burst costs about one status write per object
    instead of one per reporting cluster; complete outcomes, removals and shutdown write at once.
    """

    def __init__(
        self,
        bus: Bus,
        state: HostState,
        reconciler: Reconciler,
        events: EventRecorder,
        *,
        flush_interval: float = 0.05,
        concurrency: int = 32,
        partial_hold: float = 1.0,
        versions: VersionRecorder | None = None,
    ) -> None:
        self.bus = bus
        self.versions = versions
        self.events = events
        self.state = state
        self.reconciler = reconciler
        self.order = ReportOrder(bus)
        self.native = NativeStatusWriter(bus, state, events)
        self._buffer: dict[ObjectKey, list[_Received]] = defaultdict(list)
        self._reports: dict[ObjectKey, list[_Report]] = defaultdict(list)
        self._deadline: dict[ObjectKey, float] = {}
        self._fresh: set[ObjectKey] = set()
        self._kick = asyncio.Event()
        self._interval = flush_interval
        self._hold = partial_hold
        self._sem = asyncio.Semaphore(concurrency)
        self._draining = False

    # -- status reports --------------------------------------------------------------------
    async def handle_status(self, delivery: Delivery) -> None:
        report = delivery.message
        if not isinstance(report, StatusReport) or not report.outcomes:
            return
        now = asyncio.get_running_loop().time()
        keys = {o.key for o in report.outcomes}
        waiter = _Report(len(keys))
        self.order.note(delivery.subject, delivery.stream_seq, report)
        for outcome in report.outcomes:
            self._buffer[outcome.key].append(_Received(delivery.subject, delivery.stream_seq, outcome))
        for key in keys:
            self._reports[key].append(waiter)
            self._deadline.setdefault(key, now + self._hold)
            self._fresh.add(key)
        self._kick.set()
        await waiter.future

    async def run_flusher(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set() or self._buffer:
            self._draining = stop.is_set()
            if not self._fresh:
                wait = min(self._deadline.values(), default=loop.time() + 0.5) - loop.time()
                try:
                    await asyncio.wait_for(self._kick.wait(), timeout=max(0.01, min(wait, 0.5)))
                except TimeoutError:
                    pass
            self._kick.clear()
            # in a burst, wait longer so that more clusters' outcomes share one write per object
            await asyncio.sleep(self._interval if len(self._buffer) < 100 else self._interval * 5)
            now = loop.time()
            due = [
                k
                for k in self._buffer
                if self._draining or k in self._fresh or self._deadline.get(k, 0.0) <= now
            ]
            self._fresh.difference_update(due)
            await asyncio.gather(*(self._flush_key(k, now) for k in due))

    async def _flush_key(self, key: ObjectKey, now: float) -> None:
        outcomes = self._buffer.pop(key)
        reports = self._reports.pop(key, [])
        may_hold = not self._draining and self._deadline.get(key, 0.0) > now
        error: BaseException | None = None
        held = False
        try:
            held = await self._write_guarded(key, outcomes, may_hold)
        except Exception as exc:  # the reports are nak'ed and redelivered; the merge is idempotent
            error = exc
        if held:
            self._buffer[key] = outcomes + self._buffer.get(key, [])
            self._reports[key] = reports + self._reports.get(key, [])
            return
        if key in self._buffer:  # outcomes arrived while writing: they get a hold of their own
            self._deadline[key] = asyncio.get_running_loop().time() + self._hold
        else:
            self._deadline.pop(key, None)
        for report in reports:
            report.settle(error)

    async def _write_guarded(self, key: ObjectKey, outcomes: list[_Received], may_hold: bool) -> bool:
        async with self._sem:
            for attempt in range(5):
                try:
                    return await self._write(key, outcomes, may_hold)
                except ConflictError:
                    self.state.objects.forget(key)  # a stale copy: read the object again
                    await asyncio.sleep(0.02 * attempt)
            raise ConflictError(f"status of {key} kept conflicting")

    async def _write(self, key: ObjectKey, outcomes: list[_Received], may_hold: bool) -> bool:
        """Write the merged status; True when it was held back to wait for more clusters."""
        if may_hold and only_verifications(outcomes):
            # every member re-verified after a restart or a resync: flushing each cluster's "unchanged" as
            # it came read the object and its decision once per flush and changed nothing; held for the
            # hold period they are merged with the other clusters' in one read (a failure or a write in
            # the same batch is written at once)
            return True
        fed_type = self.state.types.get(key.resource)
        if fed_type is None and self.state.native_type(key.resource) is None:
            await self.state.refresh()
            fed_type = self.state.types.get(key.resource)
        native = self.state.native_type(key.resource)
        if native is not None:
            return await self.native.write(native, key, [r.outcome for r in outcomes], may_hold)
        if fed_type is None:
            return False
        stream, subject = decision_subject(fed_type, key)
        last = await self.bus.get_last(stream, subject)
        decision = decode(last[0]) if last else None
        if not isinstance(decision, PlacementDecision) or self.state.binding.foreign(decision.host_uid):
            return False
        seq = last[2] if last else 0
        # stream order (a redelivered report is older than those handled since); arrival order otherwise
        received = sorted(
            (r for r in outcomes if r.outcome.template_hash == decision.template_hash),
            key=lambda r: (r.subject, r.seq),
        )
        if not received:
            return False
        newest: dict[str, _Received] = {}
        for r in received:
            newest[r.outcome.cluster] = r
        cached = self.state.objects.get(key)
        fed = cached
        if fed is None:
            fed = await self.state.host.get_or_none(fed_type.resource, key.name, key.namespace or None)
            self.state.objects.remember(key, fed)
        # after the read, before the write: a failure that a newer report of its cluster superseded is
        # dropped (_report_order.py says why this order)
        for cluster, r in list(newest.items()):
            if r.outcome.status and await self.order.superseded(r.subject, key, r.seq):
                del newest[cluster]
        latest = {cluster: r.outcome for cluster, r in newest.items()}
        current = [r.outcome for r in received if newest.get(r.outcome.cluster) is not None]
        if not current:
            return False
        parent = context_from_carrier(current[-1].trace or decision.trace)
        if fed is None:
            if decision.deleting and self._all_removed(decision, {}, latest):
                await self.bus.purge_subject(stream, subject, through_seq=seq)
            return False
        status = fed.get("status") or {}
        entries, missing = merge_cluster_entries(status.get("clusters"), latest, decision)
        if missing and may_hold:
            return True
        # parented on the last member write; linked to every member write it reports (links are built
        # only for a span that is recorded: without an exporter they would be dropped unread)
        links = (
            [
                otel_trace.Link(sc)
                for o in latest.values()
                if (
                    sc := otel_trace.get_current_span(context_from_carrier(o.trace)).get_span_context()
                ).is_valid
            ]
            if spans_recorded()
            else []
        )
        with tracer().start_as_current_span(
            "write status",
            context=parent,
            kind=otel_trace.SpanKind.INTERNAL,
            links=links,
            attributes={
                "k8s.object": str(key),
                "kubefed.resource": key.resource,
                "kubefed.clusters": len(latest),
            },
        ):
            remote = {c: e.get("remoteStatus") for c, e in entries.items()}
            reason, cluster_list = aggregate_propagation_status(
                clusters={c: e.get("status", "") for c, e in entries.items()},
                aggregate_reason=decision.aggregate_reason or (CHECK_CLUSTERS if missing else ""),
                namespace_not_federated=False,
                raw_status_enabled=decision.collect_status,
                remote_status=remote,
            )
            pushed = any(o.op in ("created", "updated") for o in latest.values())
            new_status = next_status(
                status,
                generation=decision.generation,
                reason=reason,
                clusters=cluster_list,
                now=now_rfc3339(),
                pushed_update=pushed,
            )
            if new_status is None and cached is not None:
                # nothing to write according to our copy; another replica may have written since
                self.state.objects.forget(key)
                return await self._write(key, outcomes, may_hold)
            if (
                new_status is not None
                and await self.state.write_status(fed_type, key, fed, new_status) is None
            ):
                return False
            self._record_events(fed, fed_type.target.kind, current, status)
            if self.versions is not None and not decision.deleting:
                await self.versions.record(fed_type, fed, latest, set(decision.clusters))
            if decision.deleting and not decision.orphan and self._all_removed(decision, entries, latest):
                await self.reconciler.remove_finalizer(fed_type, key, decision.source_uid)
                await self.bus.purge_subject(stream, subject, through_seq=seq)
        return False

    @staticmethod
    def _all_removed(
        decision: PlacementDecision, entries: dict[str, dict[str, Any]], latest: dict[str, ClusterOutcome]
    ) -> bool:
        for cluster in decision.clusters:
            o = latest.get(cluster)
            if o is None:
                if cluster in entries:
                    return False
                continue
            if not (o.op in REMOVED_OPS and o.status == ""):
                return False
        return True

    def _record_events(
        self, fed: dict[str, Any], kind: str, outcomes: list[ClusterOutcome], old_status: dict[str, Any]
    ) -> None:
        """Queue the events of this flush window (not awaited: events never hold up status)."""
        for event in events_for_outcomes(fed, kind, outcomes, old_status, now_rfc3339()):
            self.events.record(event)

    # -- cluster health --------------------------------------------------------------------
    async def handle_health(self, delivery: Delivery) -> None:
        report = delivery.message
        if not isinstance(report, ClusterHealthReport):
            return
        metrics.cluster_ready.labels(report.cluster).set(1 if report.ready else 0)
        if report.allocatable_pods is not None and report.running_pods is not None:
            self.state.available_pods[report.cluster] = max(0, report.allocatable_pods - report.running_pods)
        cluster = await self.state.host.get_or_none(KUBEFED_CLUSTERS, report.cluster, self.state.namespace)
        if cluster is None:
            return
        status = dict(cluster.get("status") or {})
        new = dict(status)
        new["conditions"] = report.conditions
        if report.ready and report.kubernetes_version:
            new["kubernetesVersion"] = report.kubernetes_version
        if report.region:
            new["region"] = report.region
        if report.zones:
            new["zones"] = list(report.zones)
        if _strip_probe_time(new) == _strip_probe_time(status):
            return
        body = dict(cluster)
        body["status"] = new
        try:
            await self.state.host.replace(KUBEFED_CLUSTERS, body, subresource="status")
            metrics.host_status_writes.labels("KubeFedCluster").inc()
            log.info("Updated cluster health", cluster=report.cluster, ready=report.ready)
        except (ConflictError, NotFoundError):
            raise ConflictError(f"KubeFedCluster {report.cluster} changed", delay=0.1) from None


def merge_cluster_entries(
    recorded: list[dict[str, Any]] | None, latest: Mapping[str, ClusterOutcome], decision: PlacementDecision
) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """The host's ``status.clusters`` entries merged with the latest outcome per cluster (pure).

    A cluster that reported a finished removal and is no longer placed loses its entry; a cluster the
    decision no longer names loses its entry; every other reporting cluster's entry is replaced by its
    outcome. Also returns the placed clusters that have no entry yet (the writer may wait for them).
    """
    entries: dict[str, dict[str, Any]] = {e["name"]: dict(e) for e in recorded or [] if e.get("name")}
    placement = set(decision.clusters) if not decision.deleting else set()
    for cluster, o in latest.items():
        if o.op in REMOVED_OPS and o.status == "" and cluster not in placement:
            entries.pop(cluster, None)
            continue
        entry: dict[str, Any] = {"name": cluster}
        if o.status:
            entry["status"] = o.status
        if o.remote_status is not None:
            entry["remoteStatus"] = o.remote_status
        entries[cluster] = entry
    for cluster in list(entries):
        if cluster not in placement and cluster not in decision.clusters:
            entries.pop(cluster, None)
    return entries, placement - set(entries)


def _strip_probe_time(status: dict[str, Any]) -> dict[str, Any]:
    out = dict(status)
    out["conditions"] = [
        {k: v for k, v in c.items() if k != "lastProbeTime"} for c in status.get("conditions") or []
    ]
    return out
