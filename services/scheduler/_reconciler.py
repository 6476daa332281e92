"""The scheduler's reconcile of one federated object: read host state, decide, publish if changed.

Level-triggered: a :class:`HostChange` only names the object; the reconcile re-reads it, so coalesced
or redelivered messages are harmless. The decision is published on the object's own subject of a
last-per-subject stream with a compare-and-set on the previous sequence, and is skipped when its hash
equals the current one: propagators never see no-op decisions. Two scheduler replicas reconciling the
same key cannot overwrite a newer decision with an older one: each reads the subject's last sequence
*before* it reads the object, so a decision that got published was computed from a read made after
every earlier decision on that subject; the CAS fails for a slower replica, which re-reads and
re-decides. The order comes from the bus' sequence, never from resourceVersions, which are opaque and
come from another history after the host changed (recreated, restored from a backup).

A decision of another host cluster (:class:`shared.runtime.HostBinding`) is not acted on: the object
is re-decided from this host, and when this host has no such object the decision is purged without
touching any member. The first one found is logged and recorded as a ``HostClusterChanged`` Event on
the KubeFedConfig.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from services.scheduler._decide import decide, decision_hash
from services.scheduler._events import EventRecorder, build_event, host_changed_event
from services.scheduler._history import HistoryRecorder, record_placement
from services.scheduler._native import NativeReconciler
from services.scheduler._state import FederatedType, HostState
from shared import subjects
from shared.bus import Bus, Delivery, Publisher
from shared.errors import ConflictError, KubefedError, MessageTooLargeError, NotFoundError
from shared.k8s import POLICY_RESOURCES
from shared.messages import HostChange, ObjectKey, PlacementDecision, ResourceRelisted, decode
from shared.planning import (
    CHECK_CLUSTERS,
    COMPUTE_RESOURCE_FAILED,
    SYNC_FINALIZER,
    SelectorError,
    compute_placement,
    next_status,
)
from shared.policy import is_divided
from shared.runtime import Coalesced, Controller
from shared.telemetry import current_carrier, get_logger
from shared.timefmt import now_rfc3339

__all__ = ["Reconciler"]

log = get_logger(__name__)

HOST_CONTROL_RESOURCES = frozenset(
    {
        "kubefedclusters.core.kubefed.io",
        "federatedtypeconfigs.core.kubefed.io",
        "kubefedconfigs.core.kubefed.io",
        # Karmada's policies: a change re-decides every native object they may select
        *(r.qualified for r in POLICY_RESOURCES),
    }
)


def decision_subject(fed_type: FederatedType, key: ObjectKey) -> tuple[str, str]:
    """(stream, subject) of an object's decision; Secrets live in their own stream."""
    secret = fed_type.target.kind == "Secret" and fed_type.target.group == ""
    stream = subjects.STREAM_SECRETS if secret else subjects.STREAM_DESIRED
    return stream, subjects.desired_subject(key.resource, key.namespace, key.name, secret=secret)


class Reconciler:
    """Turns host changes into decisions."""

    def __init__(self, bus: Bus, state: HostState, *, workers: int = 8) -> None:
        self.bus = bus
        self.state = state
        self.publisher = Publisher(bus)
        # ``--workers`` bounds every decision reconcile, whether a message or a requeue asked for it
        self.controller: Controller[ObjectKey] = Controller(
            "scheduler",
            self.reconcile,
            workers=workers,
            queue_name="scheduler-decisions",
            base_delay=0.05,
            max_delay=30.0,
        )
        self._events: EventRecorder | None = None
        self._history: HistoryRecorder | None = None
        self.native = NativeReconciler(
            bus, state, self._publish, self.controller.add
        )  # native objects under Karmada policies
        state.binding.on_foreign = self._host_changed
        self._requeue_all = Coalesced(self._list_and_requeue_all)

    @property
    def events(self) -> EventRecorder | None:
        return self._events

    @events.setter
    def events(self, recorder: EventRecorder | None) -> None:
        self._events = self.native.events = recorder

    @property
    def history(self) -> HistoryRecorder | None:
        """The decision history (kubefedctl explain), when wired."""
        return self._history

    @history.setter
    def history(self, recorder: HistoryRecorder | None) -> None:
        self._history = self.native.history = recorder

    def _host_changed(self, recorded: str) -> None:
        if self.events is not None:
            self.events.record(
                host_changed_event(self.state.namespace, recorded, self.state.binding.uid, now_rfc3339())
            )

    # -- message entry point ---------------------------------------------------------------
    async def handle(self, delivery: Delivery) -> None:
        msg = delivery.message
        if isinstance(msg, ResourceRelisted):
            await self._on_relisted(msg.resource)
            return
        if not isinstance(msg, HostChange):
            return
        key = msg.key
        if key.resource in HOST_CONTROL_RESOURCES:
            changed = await self.state.refresh()
            self.native.report_invalid()
            if changed:
                await self.requeue_all()
            elif key.resource == "kubefedclusters.core.kubefed.io" and any(
                is_divided(p.spec.placement.replicaScheduling if p.spec.placement else None)
                for p in self.state.policies.policies
            ):
                await self.requeue_native()  # readiness: Divided placement divides over Ready clusters
            return
        if not self.state.loaded:
            await self.state.refresh()
        if self.state.native_type(key.resource) is not None:
            await self.controller.reconcile_now(key)
            return
        fed_type = self.state.types.get(key.resource)
        if fed_type is None:
            return  # RSP / DNS records and types not enabled are other controllers' business
        await self.controller.reconcile_now(key)  # the message is acked only after this succeeded

    # -- requeues --------------------------------------------------------------------------
    async def requeue_all(self) -> None:
        """Re-decide every federated object and every native object of a type a policy selects (cluster
        set, FTC, policy or configuration changed). Calls made while a listing runs share the next one:
        N clusters joining at once list the objects twice, not N times concurrently."""
        await self._requeue_all()

    async def _list_and_requeue_all(self) -> None:
        await self.requeue_native()
        for fed_type in list(self.state.types.values()):
            try:
                items, _ = await self.state.host.list(fed_type.resource)
            except KubefedError as exc:
                log.info(
                    "Listing federated objects failed", resource=fed_type.resource.qualified, err=str(exc)
                )
                continue
            if items:
                log.info("Re-deciding every object", resource=fed_type.resource.qualified, count=len(items))
            for obj in items:
                m = obj["metadata"]
                self.controller.add(
                    ObjectKey(
                        resource=fed_type.resource.qualified, namespace=m.get("namespace", ""), name=m["name"]
                    )
                )

    async def requeue_native(self) -> None:
        """Re-decide every native object of the types the policies select, and every native object that
        has a decision (its type may no longer be selected: it is then removed from the members)."""
        for native in list(self.state.native.values()):
            try:
                items, _ = await self.state.host.list(native.resource)
            except KubefedError as exc:
                log.info("Listing native objects failed", resource=native.resource.qualified, err=str(exc))
                continue
            for obj in items:
                m = obj["metadata"]
                self.controller.add(
                    ObjectKey(
                        resource=native.resource.qualified, namespace=m.get("namespace", ""), name=m["name"]
                    )
                )
        for resource in list(self.state.retired):
            # no longer selected: their decisions become removals
            await self._on_relisted(resource, vanished_only=False)

    async def requeue_namespace(self, namespace: str) -> None:
        for fed_type in list(self.state.types.values()):
            if not fed_type.resource.namespaced or fed_type.target.kind == "Namespace":
                continue
            try:
                items, _ = await self.state.host.list(fed_type.resource, namespace)
            except KubefedError:
                continue
            for obj in items:
                self.controller.add(
                    ObjectKey(
                        resource=fed_type.resource.qualified,
                        namespace=namespace,
                        name=obj["metadata"]["name"],
                    )
                )

    async def _on_relisted(self, resource: str, *, vanished_only: bool = True) -> None:
        """Objects may have vanished while nobody watched: re-decide every key that has a decision and is
        no longer on the host. The watcher published a change for every object its list found, and those
        are re-decided as they arrive; re-deciding them here as well made a restart decide every object
        twice. Without ``vanished_only`` (a type no policy selects any more) every decided key is."""
        decided: list[ObjectKey] = []
        for stream in (subjects.STREAM_DESIRED, subjects.STREAM_SECRETS):
            prefix = "kubefed.secret" if stream == subjects.STREAM_SECRETS else "kubefed.desired"
            for subject in await self.bus.subjects_in(
                stream, f"{prefix}.{subjects.encode_token(resource)}.>"
            ):
                parts = subjects.parse_object_subject(subject)
                decided.append(ObjectKey(resource=parts.resource, namespace=parts.namespace, name=parts.name))
        if not decided:
            return
        on_host = await self._keys_on_host(resource) if vanished_only else None
        queued = [key for key in decided if on_host is None or (key.namespace, key.name) not in on_host]
        for key in queued:
            self.controller.add(key)
        log.info(
            "Re-deciding objects that have a decision",
            resource=resource,
            count=len(queued),
            decided=len(decided),
            reason="relisted" if vanished_only else "no longer selected",
        )

    async def _keys_on_host(self, resource: str) -> set[tuple[str, str]] | None:
        """``(namespace, name)`` of every object of ``resource`` on the host (None: unknown type or the
        list failed, so every decided key is re-decided)."""
        fed_type = self.state.types.get(resource)
        native = self.state.native_type(resource)
        try:
            if fed_type is not None:
                items, _ = await self.state.host.list(fed_type.resource)
            elif native is not None:
                items, _ = await self.state.host.list(native.resource)
            else:
                return None
        except KubefedError as exc:
            log.info("Listing objects after a relist failed", resource=resource, err=str(exc))
            return None
        return {(str(o["metadata"].get("namespace") or ""), str(o["metadata"]["name"])) for o in items}

    # -- reconcile -------------------------------------------------------------------------
    async def reconcile(self, key: ObjectKey) -> None:
        """Reconcile one key (the controller's reconciler: it never runs twice at once for one key).

        It runs in the trace context of whoever queued the key (the consumed message's span)."""
        await self._reconcile(key)

    async def _reconcile(self, key: ObjectKey) -> None:
        native = self.state.native_type(key.resource)
        if native is not None:
            if self.state.push_enabled and self.state.in_scope(key.namespace):
                await self.native.reconcile(native, key)
            return
        fed_type = self.state.types.get(key.resource)
        if fed_type is None or not self.state.push_enabled or not self.state.in_scope(key.namespace):
            return
        stream, subject = decision_subject(fed_type, key)
        last = await self.bus.get_last(stream, subject)
        previous = decode(last[0]) if last else None
        if previous is not None and not isinstance(previous, PlacementDecision):
            previous = None
        seq = last[2] if last else 0
        fed = await self.state.host.get_or_none(fed_type.resource, key.name, key.namespace or None)
        self.state.objects.remember(key, fed)
        if previous is not None and self.state.binding.foreign(previous.host_uid):
            if fed is None:  # not an object of this host: forget the decision, touch no member
                await self.bus.purge_subject(stream, subject, through_seq=seq)
                return
            previous = None  # re-decided from this host below; the CAS still guards the subject
        if fed is None:
            if previous is None or (previous.deleting and not previous.clusters):
                return
            if previous.deleting:
                return  # removal already decided; the status writer purges it when confirmed
            decision = msgspec.structs.replace(
                previous, deleting=True, orphan=False, trace=current_carrier(), source_rv=""
            )
            await self._publish(decision, stream, subject, seq, previous)
            return
        meta = fed.get("metadata") or {}
        deleting = bool(meta.get("deletionTimestamp"))
        finalizers = list(meta.get("finalizers") or [])
        if not deleting and SYNC_FINALIZER not in finalizers:
            fed = await self.state.host.patch(
                fed_type.resource,
                key.name,
                {
                    "metadata": {
                        "finalizers": [*finalizers, SYNC_FINALIZER],
                        "resourceVersion": meta.get("resourceVersion"),
                    }
                },
                key.namespace or None,
            )
            self.state.objects.remember(key, fed)
            meta = fed["metadata"]
        decision, ns_placement = await self.decide_now(fed_type, key, fed, previous, trace=current_carrier())
        if deleting and SYNC_FINALIZER not in finalizers:
            return  # not ours to clean up
        if deleting and (decision.orphan or not decision.clusters):
            await self._publish(decision, stream, subject, seq, previous)
            await self.remove_finalizer(fed_type, key, decision.source_uid)
            return
        published = await self._publish(decision, stream, subject, seq, previous)
        if published is not None and self.history is not None:
            await record_placement(self.history, fed, published, previous, self.state.clusters, ns_placement)

    async def decide_now(
        self,
        fed_type: FederatedType,
        key: ObjectKey,
        fed: dict[str, Any],
        previous: PlacementDecision | None,
        *,
        trace: dict[str, str],
    ) -> tuple[PlacementDecision, frozenset[str] | None]:
        """:func:`decide` on the scheduler's current state (clusters, scope, adoption, feature gates);
        also returns the namespace's placement it used. Reads only: reconciling and preview share it."""
        ns_placement = await self._namespace_placement(fed_type, key)
        decision = decide(
            fed=fed,
            key=key,
            target=fed_type.target,
            clusters=self.state.clusters,
            namespace_placement=ns_placement,
            namespaced_scope=self.state.namespaced_scope,
            adopt=self.state.adopt,
            collect_status=fed_type.collect_status
            and self.state.feature("RawResourceStatusCollection", False),
            previous=previous,
            trace=trace,
            host_uid=self.state.binding.uid,
        )
        return decision, ns_placement

    async def _publish(
        self,
        decision: PlacementDecision,
        stream: str,
        subject: str,
        seq: int,
        previous: PlacementDecision | None,
    ) -> PlacementDecision | None:
        """Publish unless the hash and the generation equal the current decision's; CAS on the subject's
        last sequence. A spec change that leaves the hash alone (a selector replaced by the same cluster
        list) is published too: the propagators verify without writing, and their reports advance
        ``observedGeneration`` on the host. Returns the decision published (None when none was)."""
        decision = msgspec.structs.replace(
            decision, template_hash=decision_hash(decision), decided_at=time.time()
        )
        if (
            previous is not None
            and previous.template_hash == decision.template_hash
            and previous.generation == decision.generation
        ):
            return None  # nothing new; a new generation alone is published so observedGeneration follows
        try:
            await self.publisher.publish(subject, decision, expected_last_seq=seq, stream=stream)
        except ConflictError:
            raise ConflictError(f"decision for {decision.key} changed concurrently", delay=0.05) from None
        except MessageTooLargeError as exc:
            await self._report_unpublishable(decision, str(exc))
            return None
        ns_type = self.state.namespace_type()
        if ns_type is not None and decision.key.resource == ns_type.resource.qualified:
            # the objects of the namespace follow its placement: re-decided when it has a new decision,
            # not on every change of the FederatedNamespace (a watcher's relist announces each one, and
            # re-deciding every object of a large namespace then was a second pass over the objects)
            await self.requeue_namespace(decision.key.namespace)
        return decision

    async def _report_unpublishable(self, decision: PlacementDecision, message: str) -> None:
        """A decision the bus cannot carry: ComputeResourceFailed in every placement cluster + an event."""
        fed_type = self.state.types.get(decision.key.resource)
        if fed_type is None:
            return
        key = decision.key
        fed = await self.state.host.get_or_none(fed_type.resource, key.name, key.namespace or None)
        if fed is None:
            return
        clusters = [{"name": c, "status": COMPUTE_RESOURCE_FAILED} for c in sorted(decision.clusters)]
        now = now_rfc3339()
        status = next_status(
            fed.get("status"),
            generation=decision.generation,
            reason=CHECK_CLUSTERS,
            clusters=clusters,
            now=now,
            pushed_update=False,
        )
        log.info("Decision too large for the bus", object=str(key), resource=key.resource, err=message)
        if status is not None:
            written = await self.state.write_status(fed_type, key, fed, status)
            if written is None:
                return
            fed = written
        if self.events is not None:
            self.events.record(build_event(fed, "ComputeResourceFailed", "Warning", message, "", now))

    async def _namespace_placement(self, fed_type: FederatedType, key: ObjectKey) -> frozenset[str] | None:
        if not fed_type.target.namespaced or fed_type.target.kind == "Namespace":
            return None
        ns_type = self.state.namespace_type()
        if ns_type is None:
            return None
        stream, subject = decision_subject(
            ns_type,
            ObjectKey(resource=ns_type.resource.qualified, namespace=key.namespace, name=key.namespace),
        )
        last = await self.bus.get_last(stream, subject)
        if last is not None:
            d = decode(last[0])
            if (
                isinstance(d, PlacementDecision)
                and not d.deleting
                and not self.state.binding.foreign(d.host_uid)
            ):
                return frozenset(d.clusters)
        fed_ns = await self.state.host.get_or_none(ns_type.resource, key.namespace, key.namespace)
        if fed_ns is None or (fed_ns.get("metadata") or {}).get("deletionTimestamp"):
            return None
        try:
            return compute_placement((fed_ns.get("spec") or {}).get("placement"), self.state.clusters)
        except SelectorError:
            return frozenset()

    async def remove_finalizer(self, fed_type: FederatedType, key: ObjectKey, uid: str = "") -> None:
        """Remove our finalizer from ``key``; with ``uid``, only from that object (not a namesake created
        since)."""
        for _ in range(5):
            fed = await self.state.host.get_or_none(fed_type.resource, key.name, key.namespace or None)
            if fed is None:
                return
            meta = fed["metadata"]
            if uid and meta.get("uid") != uid:
                return
            finalizers = [f for f in meta.get("finalizers") or [] if f != SYNC_FINALIZER]
            if len(finalizers) == len(meta.get("finalizers") or []):
                return
            try:
                await self.state.host.patch(
                    fed_type.resource,
                    key.name,
                    {
                        "metadata": {
                            "finalizers": finalizers or None,
                            "resourceVersion": meta.get("resourceVersion"),
                        }
                    },
                    key.namespace or None,
                )
                self.state.objects.forget(key)
                log.info("Removed finalizer", object=str(key), resource=key.resource)
                return
            except ConflictError:
                continue
            except NotFoundError:
                return
