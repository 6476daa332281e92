"""Executing one planned action against a member cluster and reporting the outcome.

Error mapping follows KubeFed (the pure table of :mod:`services.propagator._outcomes`): API failures
become ``CreationFailed``/``UpdateFailed``/``DeletionFailed`` and are retried with backoff when
retrying can help (unreachable, 5xx, 429, conflicts); a rejection by the member (422, immutable field,
400) is reported and not retried until the decision changes. ``AlreadyExists`` on create leads to
adoption (the object is overwritten with the template and labelled) unless ``adoptResources:
Disabled`` or the object says ``kubefed.io/managed: "false"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Container, Mapping
from typing import TYPE_CHECKING, Any

from async_lru import alru_cache
from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind

from services.propagator._outcomes import failure_outcome
from services.propagator._plan import UNCHANGED, Action, plan, render, render_fingerprint
from shared.errors import AlreadyExistsError, KubefedError, NotFoundError
from shared.k8s import NAMESPACES, KubeClient, Resource
from shared.messages import REMOVED_OPS, ClusterOutcome, ObjectKey, PlacementDecision
from shared.planning import (
    ALREADY_EXISTS,
    CREATION_FAILED,
    MANAGED_LABEL,
    MANAGED_LABEL_FALSE,
    WAITING_FOR_REMOVAL,
    OverridesError,
)
from shared.telemetry import context_from_carrier, current_carrier, get_logger, metrics, tracer

if TYPE_CHECKING:
    from services.propagator._members import MemberRegistry
    from services.propagator._report import Reporter

__all__ = ["Applier"]

log = get_logger(__name__)


def _resource(decision: PlacementDecision) -> Resource:
    t = decision.target
    return Resource(t.group, t.version, t.plural, namespaced=t.namespaced, kind=t.kind)


class Applier:
    """Reconciles (cluster, object) pairs: plan against the cached live object, write, report.

    It is given what it uses: the current decisions, the member registry (clients and caches), which
    members were probed (health), the outcome reporter, where to say that a member object changed (the
    observer) and a host client (to tell the host's own namespaces apart).
    """

    def __init__(
        self,
        *,
        decisions: Mapping[ObjectKey, PlacementDecision],
        registry: MemberRegistry,
        probed: Container[str],
        reporter: Reporter,
        member_changed: Callable[[str, Resource, str, str], None],
        host: KubeClient,
    ) -> None:
        self.decisions = decisions
        self.registry = registry
        self.probed = probed
        self.reporter = reporter
        self.member_changed = member_changed
        self.host = host
        # the host's namespace uids, read once for all members at a time: a resync of a namespace
        # federated to 2,500 members asked the host 2,500 times at once, and the host timed out; a
        # namespace deleted and re-created on the host is seen within the ttl
        self._host_namespace_uid = alru_cache(maxsize=4096, ttl=60.0)(self._read_host_namespace_uid)

    async def reconcile(self, cluster: str, key: ObjectKey) -> float | None:
        """Reconcile once; returns a retry delay, or None when done."""
        decision = self.decisions.get(key)
        member = self.registry.members.get(cluster)
        if decision is None or member is None or cluster not in self.probed:
            return None  # not probed yet: the first probe queues every object of the cluster
        resource = _resource(decision)
        cache = member.cache(resource)
        if member.ready:
            if cache is None:
                return 0.2
            if not cache.synced.is_set():
                # wait for the first list instead of re-queueing every object every 0.2 s until then
                # (after a restart that spin cost more CPU than the re-verification itself)
                try:
                    await asyncio.wait_for(cache.synced.wait(), timeout=5.0)
                except TimeoutError:
                    return 1.0
        # a cluster that is not Ready is reported ClusterNotReady without being read (KubeFed's
        # dispatch): its cache may never have synced, e.g. a member unreachable since start or with a
        # malformed config; its readiness change re-queues the object
        namespace = key.namespace if resource.namespaced else ""
        # the members of a fleet hold the same content: it is rendered and compared for the first of
        # them, the others find it verified (a restart re-verifies every member's copy of every object)
        content = cache.objects.content((namespace, key.name)) if cache is not None else None
        fingerprint = render_fingerprint(decision, cluster) if content is not None else None
        verified = fingerprint is not None and content is not None and content.verified == fingerprint
        # a verified copy is not decoded: the plan, the report and a removal read only the fields its
        # API server set (uid, resourceVersion, deletionTimestamp) and its status
        live = (
            (cache.objects.own_fields if verified else cache.objects.get)((namespace, key.name))
            if cache is not None
            else None
        )
        host_ns = False
        if resource.kind == "Namespace" and resource.group == "" and live is not None:
            host_ns = await self._is_host_namespace(key.name, live)
        action = plan(
            decision,
            cluster,
            live,
            cluster_ready=member.ready,
            host_namespace=host_ns,
            verified=verified,
        )
        if action is UNCHANGED and content is not None and fingerprint is not None:
            content.verified = fingerprint
        if action.kind in ("delete", "unlabel") and not await self.registry.still_member(
            cluster, decision.decided_at
        ):
            # the cluster left the federation (unjoin): as KubeFed, forget it and leave its objects alone
            action = Action(
                "report", op="absent", message=f'cluster "{cluster}" is no longer a KubeFedCluster'
            )
        if action.kind == "report":
            # nothing is written (unchanged, not ready, absent, failed overrides): no span of its own,
            # which was about a sixth of the CPU of re-verifying every member object after a restart; the
            # outcome carries the trace of the decision it answers, so its status write still joins it
            outcome, retry = await self._execute(action, decision, cluster, resource, live)
            self._report(
                key, cluster, decision, outcome, live if not outcome.status else None, decision.trace
            )
        else:
            token = otel_context.attach(context_from_carrier(decision.trace))
            try:
                with tracer().start_as_current_span(
                    f"apply {resource.kind}",
                    kind=SpanKind.INTERNAL,
                    attributes={
                        "k8s.cluster.name": cluster,
                        "kubefed.action": action.kind,
                        "k8s.object": str(key),
                        "kubefed.resource": resource.qualified,
                    },
                ):
                    outcome, retry = await self._execute(action, decision, cluster, resource, live)
                    after = (
                        cache.objects.get((namespace, key.name))
                        if cache is not None and not outcome.status
                        else None
                    )
                    self._report(key, cluster, decision, outcome, after, current_carrier())
            finally:
                otel_context.detach(token)
        if outcome.op in ("created", "updated", "deleted", "unlabelled"):
            metrics.series(metrics.propagations, cluster, outcome.op, "success").inc()
            if decision.decided_at:
                metrics.series(metrics.propagation_latency, cluster).observe(
                    max(0.0, time.time() - decision.decided_at)
                )
        elif outcome.status:
            metrics.series(metrics.propagations, cluster, outcome.op or "report", "error").inc()
        return retry

    def _report(
        self,
        key: ObjectKey,
        cluster: str,
        decision: PlacementDecision,
        outcome: _Outcome,
        after: dict[str, Any] | None,
        trace: dict[str, str],
    ) -> None:
        """Queue the outcome for the scheduler, with the member's version after a success (``after``: the
        member object as cached after the action; a report writes nothing, so it is the one planned on)."""
        self.reporter.add(
            ClusterOutcome(
                key=key,
                cluster=cluster,
                status=outcome.status,
                op=outcome.op,
                generation=decision.generation,
                template_hash=decision.template_hash,
                message=outcome.message[:500],
                remote_status=outcome.remote_status,
                trace=trace,
                version=object_version(after)
                if after is not None and outcome.op not in NO_VERSION_OPS
                else "",
            )
        )

    async def _is_host_namespace(self, name: str, live: dict[str, Any]) -> bool:
        uid = await self._host_namespace_uid(name)
        return bool(uid) and uid == (live.get("metadata") or {}).get("uid")

    async def _read_host_namespace_uid(self, name: str) -> str:
        host_ns = await self.host.get_or_none(NAMESPACES, name)
        return str(((host_ns or {}).get("metadata") or {}).get("uid", ""))

    async def _execute(
        self,
        action: Action,
        decision: PlacementDecision,
        cluster: str,
        resource: Resource,
        live: dict[str, Any] | None,
    ) -> tuple[_Outcome, float | None]:
        member = self.registry.members[cluster]
        client = member.client
        remote = decision.collect_status
        if action.kind == "report" or client is None:
            status = action.status
            obj = live
            return _Outcome(
                status, action.op, action.message, (obj or {}).get("status") if remote and obj else None
            ), None
        cache = member.cache(resource)
        assert cache is not None
        ns = decision.key.namespace if resource.namespaced else None
        name = decision.key.name
        cache_key = (ns or "", name)
        try:
            if action.kind == "create":
                assert action.desired is not None
                try:
                    created = await client.create(resource, action.desired, ns)
                except AlreadyExistsError:
                    return await self._adopt(decision, cluster, resource, ns, name)
                self._cache_written(cluster, resource, cache_key, created)
                return _Outcome("", "created", "", created.get("status") if remote else None), None
            if action.kind == "update":
                assert action.desired is not None
                updated = await client.replace(resource, action.desired)
                self._cache_written(cluster, resource, cache_key, updated)
                return _Outcome("", "updated", "", updated.get("status") if remote else None), None
            if action.kind == "delete":
                try:
                    lingering = await client.delete(resource, name, ns, options=decision.delete_options)
                except NotFoundError:
                    cache.objects.pop(cache_key, None)
                    return _Outcome("", "absent", ""), None
                if lingering is None:
                    cache.objects.pop(cache_key, None)
                    return _Outcome("", "deleted", ""), None
                cache.objects[cache_key] = lingering
                return _Outcome(WAITING_FOR_REMOVAL, "deleting", ""), 1.0
            if action.kind == "unlabel":
                await client.patch(resource, name, {"metadata": {"labels": {MANAGED_LABEL: None}}}, ns)
                cache.objects.pop(cache_key, None)
                return _Outcome("", "unlabelled", ""), None
        except KubefedError as exc:
            failure = failure_outcome(action.kind, exc)
            if failure.drop_cached:
                cache.objects.pop(cache_key, None)
            if failure.reread:
                with contextlib.suppress(KubefedError):  # the retry re-plans from the watch's copy then
                    fresh = await client.get_or_none(resource, name, ns)
                    if fresh is None:
                        cache.objects.pop(cache_key, None)
                    else:
                        cache.objects[cache_key] = fresh
            return _Outcome(failure.status, failure.op, failure.message), failure.retry
        return _Outcome("", "", ""), None

    def _cache_written(
        self, cluster: str, resource: Resource, key: tuple[str, str], obj: dict[str, Any]
    ) -> None:
        """Cache what a write returned, and let the observer look at it: the watch will skip the echo of
        this write, yet the API server may have changed more than we sent (a real one clears
        ``status.loadBalancer`` when a Service stops being a LoadBalancer)."""
        cache = self.registry.members[cluster].cache(resource)
        if cache is not None:
            cache.objects[key] = obj
        self.member_changed(cluster, resource, key[0], key[1])

    async def _adopt(
        self, decision: PlacementDecision, cluster: str, resource: Resource, ns: str | None, name: str
    ) -> tuple[_Outcome, float | None]:
        member = self.registry.members[cluster]
        assert member.client is not None
        existing = await member.client.get_or_none(resource, name, ns)
        if existing is None:
            return _Outcome(CREATION_FAILED, "failed", "object vanished during creation"), 0.1
        labels = (existing.get("metadata") or {}).get("labels") or {}
        if labels.get(MANAGED_LABEL) == "false":
            return _Outcome(MANAGED_LABEL_FALSE, "skipped", f'object has label {MANAGED_LABEL}="false"'), None
        host_ns = (
            resource.kind == "Namespace"
            and resource.group == ""
            and await self._is_host_namespace(name, existing)
        )
        if not decision.adopt and not host_ns:
            return _Outcome(
                ALREADY_EXISTS, "skipped", "a pre-existing object was not adopted (adoptResources: Disabled)"
            ), None
        try:
            desired = render(decision, cluster, existing)
        except OverridesError as exc:
            return _Outcome("ApplyOverridesFailed", "failed", str(exc)), None
        log.info(
            "Adopting pre-existing object",
            cluster=cluster,
            resource=resource.qualified,
            object=f"{ns or ''}/{name}",
        )
        updated = await member.client.replace(resource, desired)
        self._cache_written(cluster, resource, (ns or "", name), updated)
        return _Outcome(
            "", "updated", "adopted", updated.get("status") if decision.collect_status else None
        ), None


NO_VERSION_OPS = REMOVED_OPS | {"deleting"}  # outcomes that leave no member version to report


def object_version(obj: dict[str, Any]) -> str:
    """KubeFed's ObjectVersion: ``gen:<generation>`` when the object has a generation, else
    ``rv:<resourceVersion>``."""
    meta = obj.get("metadata") or {}
    generation = meta.get("generation") or 0
    return f"gen:{generation}" if generation else f"rv:{meta.get('resourceVersion', '')}"


class _Outcome:
    __slots__ = ("message", "op", "remote_status", "status")

    def __init__(
        self, status: str, op: str, message: str, remote_status: dict[str, Any] | None = None
    ) -> None:
        self.status = status
        self.op = op
        self.message = message
        self.remote_status = remote_status
