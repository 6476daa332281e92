"""Publishing what other services need to know about managed member objects.

The scheduler's replica planner and the DNS service must not list member clusters themselves; the
propagator, which already caches every managed object of its members, publishes a small observation
per object on ``kubefed.member.<cluster>.<kind>.<ns>.<name>`` (KUBEFED_MEMBER keeps the last one per
subject, so a restarted consumer finds the current state of everything):

- Deployments and ReplicaSets → :class:`WorkloadObservation` (replica counts and, when the workload is
  not converged, the capacity estimated from its pods, fetched with a label-selector GET scoped to the
  workload's ``spec.selector.matchLabels``);
- Services, Endpoints and Ingresses → :class:`MemberObservation` (load-balancer addresses, ready
  endpoint addresses). Endpoints carry their Service's labels, so the managed label selects them and
  the registry's ordinary label-selected cache follows them; nothing else is listed.

Observations are queued per object and published only when they differ from the last one published.
Pods that are unschedulable for less than the threshold make the observer look again shortly, so the
capacity estimate appears once they cross it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from shared import subjects
from shared.bus import Publisher
from shared.errors import KubefedError
from shared.k8s import Resource
from shared.messages import MemberObservation, PlacementDecision, WorkloadObservation
from shared.planning import member_replica_state
from shared.runtime import Controller, Result
from shared.telemetry import get_logger

if TYPE_CHECKING:
    from services.propagator._members import MemberRegistry

__all__ = ["ENDPOINTS", "Observer"]

log = get_logger(__name__)

PODS = Resource("", "v1", "pods", kind="Pod")
ENDPOINTS = Resource("", "v1", "endpoints", kind="Endpoints")
WORKLOAD_KINDS = frozenset({("apps", "Deployment"), ("apps", "ReplicaSet")})
NETWORK_KINDS = frozenset(
    {("", "Service"), ("", "Endpoints"), ("networking.k8s.io", "Ingress"), ("extensions", "Ingress")}
)

ObsKey = tuple[str, str, str, str, str]  # cluster, resource (qualified), kind, namespace, name
Observation = WorkloadObservation | MemberObservation


def observed(resource: Resource) -> bool:
    """Whether objects of this type are observed for other services."""
    return (resource.group, resource.kind) in WORKLOAD_KINDS | NETWORK_KINDS


def _lb(obj: dict[str, Any]) -> tuple[list[str], list[str]]:
    ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    ips = sorted({str(i["ip"]) for i in ingress if isinstance(i, dict) and i.get("ip")})
    hosts = sorted({str(i["hostname"]) for i in ingress if isinstance(i, dict) and i.get("hostname")})
    return ips, hosts


class Observer:
    """Turns member cache changes into published observations."""

    def __init__(
        self,
        registry: MemberRegistry,
        publisher: Publisher,
        *,
        unschedulable_after: float = 60.0,
        workers: int = 4,
    ) -> None:
        self.registry = registry
        self.publisher = publisher
        self.unschedulable_after = unschedulable_after
        self.controller: Controller[ObsKey] = Controller(
            "observer", self.reconcile, workers=workers, base_delay=0.1, max_delay=30.0
        )
        self.resources: dict[str, Resource] = {}
        self._sent: dict[ObsKey, Observation] = {}

    def on_decision(self, decision: PlacementDecision) -> None:
        """A Service is propagated: follow its Endpoints too (same labels, same cache machinery)."""
        if decision.target.kind == "Service" and decision.target.group == "":
            self.registry.ensure_type(ENDPOINTS)

    def changed(self, cluster: str, resource: Resource, namespace: str, name: str) -> None:
        """A cached member object changed (or vanished)."""
        if not observed(resource):
            return
        self.resources[resource.qualified] = resource
        self.controller.add((cluster, resource.qualified, resource.kind, namespace, name))

    async def reconcile(self, key: ObsKey) -> Result:
        """Publish the object's observation if it changed; look again when asked to (unschedulable pods)."""
        try:
            retry = await self._observe(key)
        except KubefedError as exc:
            log.info(
                "Observing member object failed", cluster=key[0], object=f"{key[3]}/{key[4]}", err=str(exc)
            )
            return Result(requeue=True, requeue_after=0.5)  # every failure is retried, permanent or not
        return Result(requeue_after=retry)

    async def _observe(self, key: ObsKey) -> float | None:
        cluster, qualified, kind, namespace, name = key
        member = self.registry.members.get(cluster)
        resource = self.resources.get(qualified)
        if member is None or resource is None:
            return None
        cache = member.cache(resource)
        obj = cache.objects.get((namespace, name)) if cache is not None else None
        retry: float | None = None
        observation: Observation
        if (resource.group, resource.kind) in WORKLOAD_KINDS:
            observation, retry = await self._workload(member.client, cluster, kind, namespace, name, obj)
        else:
            observation = self._network(cluster, kind, namespace, name, obj)
        if self._sent.get(key) == observation:
            return retry
        await self.publisher.publish(
            subjects.member_subject(cluster, kind, namespace, name),
            observation,
            stream=subjects.STREAM_MEMBER,
        )
        self._sent[key] = observation
        return retry

    async def _workload(
        self, client: Any, cluster: str, kind: str, namespace: str, name: str, obj: dict[str, Any] | None
    ) -> tuple[WorkloadObservation, float | None]:
        if obj is None:
            return WorkloadObservation(
                cluster=cluster, kind=kind, namespace=namespace, name=name, deleted=True
            ), None
        spec = obj.get("spec") or {}
        replicas = int(spec.get("replicas") or 0)
        ready = int((obj.get("status") or {}).get("readyReplicas") or 0)
        pods: list[dict[str, Any]] = []
        match_labels = (spec.get("selector") or {}).get("matchLabels") or {}
        if replicas != ready and match_labels and client is not None:
            selector = ",".join(f"{k}={v}" for k, v in sorted(match_labels.items()))
            pods, _ = await client.list(PODS, namespace, label_selector=selector)
        current, capacity, recheck = member_replica_state(
            workload=obj, pods=pods, now=time.time(), unschedulable_after=self.unschedulable_after
        )
        observation = WorkloadObservation(
            cluster=cluster,
            kind=kind,
            namespace=namespace,
            name=name,
            replicas=replicas,
            ready_replicas=ready,
            current=current,
            capacity=capacity,
            recheck=recheck,
        )
        retry = min(10.0, self.unschedulable_after / 4 + 0.25) if recheck else None
        return observation, retry

    @staticmethod
    def _network(
        cluster: str, kind: str, namespace: str, name: str, obj: dict[str, Any] | None
    ) -> MemberObservation:
        if obj is None:
            return MemberObservation(cluster=cluster, kind=kind, namespace=namespace, name=name, deleted=True)
        if kind == "Endpoints":
            ready = sum(len((s or {}).get("addresses") or []) for s in obj.get("subsets") or [])
            return MemberObservation(
                cluster=cluster, kind=kind, namespace=namespace, name=name, ready_addresses=ready
            )
        ips, hosts = _lb(obj)
        return MemberObservation(
            cluster=cluster, kind=kind, namespace=namespace, name=name, lb_ips=ips, lb_hostnames=hosts
        )
