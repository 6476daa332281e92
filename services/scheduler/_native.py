"""The scheduler's reconcile of one native object that a Karmada propagation policy may select.

Read the object and the last decision of its subject, choose its policy (Karmada's matching, priority
and preemption rules, :func:`shared.policy.choose_policy`), record the claim on the object with
Karmada's claim labels, decide (:func:`services.scheduler._decide_native.decide_native`) and publish
through the same compare-and-set path as a ``Federated<Kind>`` decision. Only reads, the claim patch
and Events happen here; every choice is in the pure functions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from services.scheduler._decide_native import (
    DEPENDENCY_RESOURCES,
    REPLICA_DIVISION_FAILED,
    decide_native,
    native_reasons,
)
from services.scheduler._events import EventRecorder, build_event
from services.scheduler._history import HistoryRecorder, placement_summary
from services.scheduler._state import HostState, NativeType
from shared import subjects
from shared.bus import Bus
from shared.errors import ConflictError, NotFoundError, TemporaryError
from shared.karmada_api import API_VERSION
from shared.messages import ObjectKey, PlacementDecision, TargetType, decode
from shared.policy import (
    AGGREGATED_KINDS,
    CLAIM_LABELS,
    CLUSTER_PROPAGATION_POLICY,
    Policy,
    PolicyChoice,
    PolicyRef,
    ResourceTemplate,
    choose_policy,
    claim_from_labels,
    describe,
)
from shared.telemetry import current_carrier, get_logger
from shared.timefmt import now_rfc3339

__all__ = ["NativeReconciler", "claim_patch", "native_decision_subject"]

log = get_logger(__name__)

# the types whose pod templates ``propagateDeps`` reads (shared/policy/_dependencies.py)
WORKLOAD_RESOURCES = (
    "deployments.apps",
    "statefulsets.apps",
    "daemonsets.apps",
    "replicasets.apps",
    "jobs.batch",
    "cronjobs.batch",
    "pods",
)

Publish = Callable[[PlacementDecision, str, str, int, PlacementDecision | None], Awaitable[Any]]


def native_decision_subject(target: TargetType, key: ObjectKey) -> tuple[str, str]:
    """(stream, subject) of a native object's decision; Secrets live in their own stream."""
    secret = target.kind == "Secret" and target.group == ""
    stream = subjects.STREAM_SECRETS if secret else subjects.STREAM_DESIRED
    return stream, subjects.desired_subject(key.resource, key.namespace, key.name, secret=secret)


def claim_patch(labels: dict[str, str], policy: PolicyRef | None) -> dict[str, str | None] | None:
    """The label merge patch that records ``policy``'s claim (None: the labels already say so)."""
    wanted: dict[str, str] = {}
    if policy is not None and policy.kind == CLUSTER_PROPAGATION_POLICY:
        wanted[CLAIM_LABELS["cluster"]] = policy.name
    elif policy is not None:
        wanted[CLAIM_LABELS["namespace"]] = policy.namespace
        wanted[CLAIM_LABELS["name"]] = policy.name
    patch: dict[str, str | None] = {}
    for label in CLAIM_LABELS.values():
        if labels.get(label) != wanted.get(label):
            patch[label] = wanted.get(label)
    return patch or None


def _choice_event(choice: PolicyChoice) -> tuple[str, str, str] | None:
    """(reason, type, message) of the Event a policy choice deserves (None: nothing new)."""
    if choice.action == "claim":
        return "ApplyPolicySucceed", "Normal", f"Propagated by {choice.policy}"
    if choice.action == "preempt":
        return "PreemptPolicySucceed", "Normal", f"{choice.policy} preempted {choice.previous}"
    if choice.action == "moved":
        return (
            "ApplyPolicySucceed",
            "Normal",
            f"{choice.previous} no longer selects it; propagated by {choice.policy}",
        )
    if choice.action == "released":
        return "PolicyReleased", "Normal", f"{choice.previous} no longer selects it; removed from the members"
    return None


class NativeReconciler:
    """Decisions for native objects under propagation policies."""

    def __init__(
        self, bus: Bus, state: HostState, publish: Publish, queue: Callable[[ObjectKey], None]
    ) -> None:
        self.bus = bus
        self.state = state
        self.publish = publish
        self.queue = queue  # re-decide another key (a dependency whose workloads changed)
        self.events: EventRecorder | None = None
        self.history: HistoryRecorder | None = None  # decision history (kubefedctl explain --history)
        self._reported: dict[tuple[str, str, str], str] = {}  # invalid policies already given an Event

    def report_invalid(self) -> None:
        """A Warning Event ``InvalidPolicy`` on each policy that became invalid (or whose errors changed):
        it is left out of matching, and its errors say why."""
        invalid = dict(self.state.policies.invalid)
        for (kind, namespace, name), errors in sorted(invalid.items()):
            if self._reported.get((kind, namespace, name)) == errors:
                continue
            policy = {
                "apiVersion": API_VERSION,
                "kind": kind,
                "metadata": {"name": name, **({"namespace": namespace} if namespace else {})},
            }
            self._event(
                policy, "InvalidPolicy", "Warning", f"{describe(kind, namespace, name)} is ignored: {errors}"
            )
            log.info("Ignoring invalid policy", policy=describe(kind, namespace, name), err=errors)
        self._reported = invalid

    async def reconcile(self, native: NativeType, key: ObjectKey) -> None:
        stream, subject = native_decision_subject(native.target, key)
        last = await self.bus.get_last(stream, subject)
        previous = decode(last[0]) if last else None
        if previous is not None and not isinstance(previous, PlacementDecision):
            previous = None
        seq = last[2] if last else 0
        obj = await self.state.host.get_or_none(native.resource, key.name, key.namespace or None)
        if previous is not None and self.state.binding.foreign(previous.host_uid):
            if obj is None:
                await self.bus.purge_subject(stream, subject, through_seq=seq)
                return
            previous = None
        if obj is None:
            if previous is None or previous.deleting:
                return
            decision = PlacementDecision(
                key=previous.key,
                target=previous.target,
                template=previous.template,
                clusters=previous.clusters,
                deleting=True,
                source_uid=previous.source_uid,
                host_uid=previous.host_uid,
                trace=current_carrier(),
            )
            if await self.publish(decision, stream, subject, seq, previous) is not None:
                self._queue_dependencies(previous, decision)
            return
        obj.setdefault("apiVersion", native.resource.api_version)
        obj.setdefault("kind", native.resource.kind)
        decision, warning, choice = await self.decide_now(native, key, obj, previous, trace=current_carrier())
        obj = await self._record_claim(native, key, obj, choice.policy)
        if decision.deleting and (previous is None or previous.deleting):
            return  # nothing propagated, nothing to remove
        published = await self.publish(decision, stream, subject, seq, previous)
        if published is None:
            return
        self._queue_dependencies(previous, published)
        if self.history is not None:
            policy = str(choice.policy) if choice.policy else ""
            await self.history.record(
                key=published.key,
                source="placement",
                fed=obj,
                clusters=published.clusters,
                reasons=native_reasons(published, policy, self.state.policy_clusters),
                summary=placement_summary(published),
                previous=None if previous is None else placement_summary(previous),
                inputs={"policy": policy, "action": choice.action},
            )
        event = _choice_event(choice)
        if event is not None:
            self._event(obj, *event)
        if warning:
            self._event(obj, REPLICA_DIVISION_FAILED, "Warning", warning.partition(": ")[2])
        for cluster, error in sorted(decision.cluster_errors.items()):
            self._event(
                obj, error.partition(":")[0], "Warning", f"cluster {cluster}: {error.partition(': ')[2]}"
            )

    async def decide_now(
        self,
        native: NativeType,
        key: ObjectKey,
        obj: dict[str, Any],
        previous: PlacementDecision | None,
        *,
        trace: dict[str, str],
    ) -> tuple[PlacementDecision, str, PolicyChoice]:
        """Choose the policy and decide, on the scheduler's current state; reads only."""
        template = ResourceTemplate.of(obj)
        claimed = claim_from_labels(template.labels)
        choice = choose_policy(
            template, self.state.policies.policies, claimed, kubefed_namespace=self.state.namespace
        )
        policy = self.state.policies.by_ref.get(choice.policy) if choice.policy else None
        available = await self._available(policy)
        required = await self._dependency_clusters(key) if native.target.group == "" else frozenset()
        decision, warning = decide_native(
            obj=obj,
            key=key,
            target=native.target,
            policy=policy,
            overrides=self.state.policies.overrides,
            clusters=self.state.policy_clusters,
            available=available,
            previous=previous,
            collect_status=native.target.kind in AGGREGATED_KINDS,
            trace=trace,
            host_uid=self.state.binding.uid,
            dependency_clusters=required,
        )
        return decision, warning, choice

    def _queue_dependencies(self, previous: PlacementDecision | None, current: PlacementDecision) -> None:
        """A workload's dependencies are re-decided when its decision changed: they follow its clusters."""
        before = set(previous.dependencies) if previous is not None and not previous.deleting else set()
        now = set(current.dependencies) if not current.deleting else set()
        moved = (
            previous is None or previous.clusters != current.clusters or previous.deleting != current.deleting
        )
        for dep in sorted(before | now if moved else before ^ now):
            self.queue(dep)

    async def _dependency_clusters(self, key: ObjectKey) -> frozenset[str]:
        """The clusters of every propagated workload in ``key``'s namespace whose decision lists ``key`` as
        a dependency, read from the decisions on the bus (so a restart loses nothing)."""
        if key.resource not in DEPENDENCY_RESOURCES.values():
            return frozenset()
        clusters: set[str] = set()
        for resource in WORKLOAD_RESOURCES:
            res, ns = subjects.encode_token(resource), subjects.encode_token(key.namespace)
            in_namespace = f"{subjects.DESIRED_PREFIX}.{res}.{ns}.>"
            for subject in await self.bus.subjects_in(subjects.STREAM_DESIRED, in_namespace):
                last = await self.bus.get_last(subjects.STREAM_DESIRED, subject)
                workload = decode(last[0]) if last else None
                if (
                    isinstance(workload, PlacementDecision)
                    and not workload.deleting
                    and key in workload.dependencies
                    and not self.state.binding.foreign(workload.host_uid)
                ):
                    clusters.update(workload.clusters)
        return frozenset(clusters)

    async def _available(self, policy: Policy | None) -> dict[str, int] | None:
        """Replicas each cluster can still run, from the propagators' health reports; only read for
        ``dynamicWeight: AvailableReplicas``. A Ready cluster not heard from yet (a scheduler just
        started) makes the reconcile wait: dividing without it would move replicas away from it."""
        scheduling = policy.spec.placement.replicaScheduling if policy and policy.spec.placement else None
        prefs = scheduling.weightPreference if scheduling else None
        if prefs is None or prefs.dynamicWeight != "AvailableReplicas":
            return None
        known = dict(self.state.available_pods)
        unknown = sorted(c.name for c in self.state.policy_clusters if c.ready and c.name not in known)
        if unknown:
            raise TemporaryError(f"available replicas of {', '.join(unknown)} not reported yet", delay=1.0)
        return known

    async def _record_claim(
        self, native: NativeType, key: ObjectKey, obj: dict[str, Any], policy: PolicyRef | None
    ) -> dict[str, Any]:
        """Karmada's claim labels on the host object: which policy propagates it."""
        meta = obj.get("metadata") or {}
        patch = claim_patch(dict(meta.get("labels") or {}), policy)
        if patch is None:
            return obj
        try:
            patched: dict[str, Any] = await self.state.host.patch(
                native.resource,
                key.name,
                {"metadata": {"labels": patch, "resourceVersion": meta.get("resourceVersion")}},
                key.namespace or None,
            )
        except NotFoundError:
            return obj
        except ConflictError:
            raise ConflictError(f"{key} changed while its claim was recorded", delay=0.05) from None
        return patched

    def _event(self, obj: dict[str, Any], reason: str, type_: str, message: str) -> None:
        if self.events is not None:
            self.events.record(build_event(obj, reason, type_, message, "", now_rfc3339()))
