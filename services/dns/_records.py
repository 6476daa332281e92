"""ServiceDNSRecord / IngressDNSRecord → record status and an external-dns ``DNSEndpoint`` (§2.9).

One reconcile per record, level-triggered: read the record, its Domain, the KubeFedClusters (ready or
not, region, zones — written by the scheduler from the propagators' health probes) and the member
observations the propagators publish on KUBEFED_MEMBER (this service never lists member clusters);
compute ``status.dns`` and the endpoints with the pure functions of :mod:`shared.planning`; write the
status and the ``service-<name>`` / ``ingress-<name>`` DNSEndpoint only when they changed. A vanished
record takes its DNSEndpoint with it.

While a record's feature gate is Disabled the record is ignored, as in KubeFed, but it gets one Warning
Event ``FeatureGateDisabled`` naming the gate, so nobody waits for a status that will not come. The
event's name is derived from the record's uid, so replicas and restarts do not repeat it.

Reconciles run inline in the message handler that caused them, so the DNSEndpoint write is a child
of the incoming message's ``process`` span; fan-outs (a cluster or Domain changed) and retries go
through a queue that keeps the trace context of the message that queued them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind

from services.dns._resolver import Resolver
from shared.errors import AlreadyExistsError, ConflictError, KubefedError, NotFoundError, TemporaryError
from shared.k8s import EVENTS, KUBEFED_CLUSTERS, KubeClient, Resource
from shared.kubefed_api import KUBEFED_CONFIG_NAME, KubeFedConfigSpec
from shared.messages import MemberObservation
from shared.planning import (
    MemberServiceState,
    dns_infos_from_status,
    ingress_endpoints,
    ingress_record_status,
    service_endpoints,
    service_record_status,
)
from shared.runtime import read_kubefed_config, run_workers
from shared.telemetry import context_from_carrier, current_carrier, get_logger, tracer
from shared.timefmt import now_rfc3339
from shared.workqueue import WorkQueue

__all__ = [
    "DNS_ENDPOINTS",
    "DOMAINS",
    "EXTERNAL_DNS_GROUP",
    "endpoint_resource",
    "GATE_DISABLED_REASON",
    "INGRESS_DNS",
    "SERVICE_DNS",
    "RecordController",
]

log = get_logger(__name__)

GROUP = "multiclusterdns.kubefed.io"
DOMAINS = Resource(GROUP, "v1alpha1", "domains", kind="Domain")
SERVICE_DNS = Resource(GROUP, "v1alpha1", "servicednsrecords", kind="ServiceDNSRecord")
INGRESS_DNS = Resource(GROUP, "v1alpha1", "ingressdnsrecords", kind="IngressDNSRecord")
DNS_ENDPOINTS = Resource(GROUP, "v1alpha1", "dnsendpoints", kind="DNSEndpoint")
# external-dns's own group: from v0.22 its CRD source reads only this group (``--crd-source-apiversion`` is
# accepted but no longer used), so an operator running current external-dns adds it (``--dnsendpoint-group``)
EXTERNAL_DNS_GROUP = "externaldns.k8s.io"


def endpoint_resource(group: str) -> Resource:
    """The DNSEndpoint resource of ``group`` (ours and external-dns's share the schema)."""
    return Resource(group, "v1alpha1", "dnsendpoints", kind="DNSEndpoint")


# record resource → (feature gate, member kind, DNSEndpoint name prefix)
RECORD_KINDS: dict[str, tuple[Resource, str, str]] = {
    SERVICE_DNS.qualified: (SERVICE_DNS, "CrossClusterServiceDiscovery", "service"),
    INGRESS_DNS.qualified: (INGRESS_DNS, "FederatedIngress", "ingress"),
}
MEMBER_KIND_TO_RECORD = {"Service": SERVICE_DNS, "Endpoints": SERVICE_DNS, "Ingress": INGRESS_DNS}
GATE_DISABLED_REASON = "FeatureGateDisabled"

RecordKey = tuple[str, str, str]  # record resource (qualified), namespace, name
ObsKey = tuple[str, str, str, str]  # cluster, kind, namespace, name


def _ready(cluster: Mapping[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (cluster.get("status") or {}).get("conditions") or []
    )


def _lb_status(obs: MemberObservation | None) -> dict[str, Any] | None:
    if obs is None or obs.deleted:
        return None
    ingress = [{"ip": ip} for ip in obs.lb_ips] + [{"hostname": h} for h in obs.lb_hostnames]
    return {"status": {"loadBalancer": {"ingress": ingress}}}


class RecordController:
    """Reconciles DNS records against the member observations it is fed."""

    def __init__(
        self,
        host: KubeClient,
        namespace: str,
        resolver: Resolver,
        endpoint_groups: tuple[str, ...] = (GROUP,),
    ) -> None:
        self.host = host
        self.endpoint_resources = tuple(endpoint_resource(g) for g in dict.fromkeys(endpoint_groups))
        self.namespace = namespace
        self.resolver = resolver
        self.observations: dict[ObsKey, MemberObservation] = {}
        self.config: KubeFedConfigSpec | None = None  # None until read
        self.config_loaded = False
        self.retries: WorkQueue[RecordKey] = WorkQueue(base_delay=0.2, max_delay=60.0)
        # trace context of the message that queued each key, so queued work stays in its trace
        self.carriers: dict[RecordKey, dict[str, str]] = {}
        # records seen (changed or listed) whose gate is not yet checked, and uids already warned about
        self._gate_unchecked: set[RecordKey] = set()
        self._gate_warned: set[str] = set()

    def enqueue(self, key: RecordKey, *, rate_limited: bool = False) -> None:
        self.carriers[key] = current_carrier()
        if rate_limited:
            self.retries.add_rate_limited(key)
        else:
            self.retries.add(key)

    # -- inputs --------------------------------------------------------------------------------
    def observe(self, obs: MemberObservation) -> RecordKey | None:
        """Remember a member observation; returns the record it concerns."""
        self.observations[(obs.cluster, obs.kind, obs.namespace, obs.name)] = obs
        record = MEMBER_KIND_TO_RECORD.get(obs.kind)
        return None if record is None else (record.qualified, obs.namespace, obs.name)

    async def refresh_config(self) -> None:
        self.config = await read_kubefed_config(self.host, self.namespace, self.config)
        self.config_loaded = True

    def enabled(self, gate: str) -> bool:
        # both DNS gates default to off since KubeFed v0.5.0
        return self.config is not None and self.config.feature_enabled(gate)

    async def requeue_all(self) -> None:
        for resource, _, _ in RECORD_KINDS.values():
            try:
                items, _ = await self.host.list(resource)
            except KubefedError as exc:
                log.info("Listing DNS records failed", resource=resource.qualified, err=str(exc))
                continue
            for item in items:
                meta = item.get("metadata") or {}
                key = (resource.qualified, meta.get("namespace", ""), meta.get("name", ""))
                if meta.get("uid") not in self._gate_warned:
                    self._gate_unchecked.add(key)
                self.enqueue(key)

    # -- running -------------------------------------------------------------------------------
    async def record_changed(self, key: RecordKey) -> None:
        """A record was created, changed or deleted on the host."""
        self._gate_unchecked.add(key)
        await self.reconcile_or_retry(key)

    async def reconcile_or_retry(self, key: RecordKey) -> None:
        try:
            await self.reconcile(key)
            self.retries.forget(key)
        except KubefedError as exc:
            log.info(
                "Reconciling DNS record failed, retrying",
                resource=key[0],
                object=f"{key[1]}/{key[2]}",
                err=str(exc),
            )
            self.enqueue(key, rate_limited=True)

    async def run_retries(self, stop: asyncio.Event, workers: int = 2) -> None:
        async def worker() -> None:
            while not stop.is_set():
                key = await self.retries.get()
                token = otel_context.attach(context_from_carrier(self.carriers.pop(key, None)))
                try:
                    await self.reconcile_or_retry(key)
                finally:
                    otel_context.detach(token)
                    self.retries.done(key)

        await run_workers(worker, workers, stop, name="dns-retry")

    # -- reconcile -----------------------------------------------------------------------------
    async def reconcile(self, key: RecordKey) -> None:
        resource, gate, prefix = RECORD_KINDS[key[0]]
        if not self.config_loaded:
            await self.refresh_config()
        if not self.enabled(gate):
            if key in self._gate_unchecked:
                await self._warn_gate_disabled(resource, gate, key)
            return
        self._gate_unchecked.discard(key)
        _, namespace, name = key
        with tracer().start_as_current_span(
            f"reconcile {resource.kind}",
            kind=SpanKind.INTERNAL,
            attributes={"k8s.object": f"{namespace}/{name}", "kubefed.resource": resource.qualified},
        ):
            record = await self.host.get_or_none(resource, name, namespace)
            endpoint_name = f"{prefix}-{name}"
            if record is None or (record.get("metadata") or {}).get("deletionTimestamp"):
                await self._delete_endpoint(endpoint_name, namespace)
                return
            clusters, _ = await self.host.list(KUBEFED_CLUSTERS, self.namespace)
            if resource is SERVICE_DNS:
                endpoints = await self._service(record, namespace, name, clusters)
            else:
                endpoints = await self._ingress(record, namespace, name, clusters)
            if endpoints is not None:
                await self._write_endpoint(endpoint_name, namespace, endpoints)

    async def _warn_gate_disabled(self, resource: Resource, gate: str, key: RecordKey) -> None:
        """One Warning Event on a record ignored because its gate is off (best effort, like all Events)."""
        _, namespace, name = key
        record = await self.host.get_or_none(resource, name, namespace)
        meta = (record or {}).get("metadata") or {}
        uid = str(meta.get("uid") or "")
        if record is None or meta.get("deletionTimestamp") or uid in self._gate_warned:
            self._gate_unchecked.discard(key)
            return
        now = now_rfc3339()
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{name[:200]}.{uid}", "namespace": namespace},
            "involvedObject": {
                "apiVersion": resource.api_version,
                "kind": resource.kind,
                "name": name,
                "namespace": namespace,
                "uid": uid,
                "resourceVersion": meta.get("resourceVersion"),
            },
            "reason": GATE_DISABLED_REASON,
            "message": f"Feature gate {gate} is Disabled in KubeFedConfig "
            f"{self.namespace}/{KUBEFED_CONFIG_NAME}: this {resource.kind} is ignored (no status, no "
            "DNSEndpoint) until the gate is Enabled",
            "type": "Warning",
            "source": {"component": f"{resource.kind.lower()}-controller"},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        self._gate_unchecked.discard(key)
        try:
            await self.host.create(EVENTS, event, namespace)
            log.info(
                "Recorded disabled feature gate",
                resource=resource.qualified,
                object=f"{namespace}/{name}",
                gate=gate,
            )
        except AlreadyExistsError:
            pass  # another replica, or this one before a restart, already recorded it
        except KubefedError as exc:  # not retried now; the record's next change or listing tries again
            log.info("Recording event failed", reason=GATE_DISABLED_REASON, err=str(exc))
            return
        self._gate_warned.add(uid)

    async def _service(
        self, record: dict[str, Any], namespace: str, name: str, clusters: list[dict[str, Any]]
    ) -> list[dict[str, Any]] | None:
        spec = record.get("spec") or {}
        domain_ref = str(spec.get("domainRef") or "")
        domain_obj = await self.host.get_or_none(DOMAINS, domain_ref, self.namespace) if domain_ref else None
        if domain_obj is None:
            return None  # KubeFed: no Domain, nothing to do
        ready: list[MemberServiceState] = []
        not_ready: list[str] = []
        for cluster in sorted(clusters, key=lambda c: c["metadata"]["name"]):
            cname = cluster["metadata"]["name"]
            if not _ready(cluster):
                not_ready.append(cname)
                continue
            status = cluster.get("status") or {}
            endpoints_obs = self.observations.get((cname, "Endpoints", namespace, name))
            ready.append(
                MemberServiceState(
                    cluster=cname,
                    region=str(status.get("region") or ""),
                    zones=tuple(status.get("zones") or ()),
                    service=_lb_status(self.observations.get((cname, "Service", namespace, name))),
                    endpoints=None
                    if endpoints_obs is None or endpoints_obs.deleted
                    else {"subsets": [{"addresses": [{}] * endpoints_obs.ready_addresses}]},
                )
            )
        old_status = record.get("status") or {}
        try:
            dns = service_record_status(
                ready=ready,
                not_ready=not_ready,
                previous=old_status.get("dns") or [],
                allow_service_without_endpoints=bool(spec.get("allowServiceWithoutEndpoints")),
            )
        except ValueError as exc:
            raise TemporaryError(f"ServiceDNSRecord {namespace}/{name}: {exc}", delay=2.0) from exc
        domain = str(domain_obj.get("domain") or "")
        new_status: dict[str, Any] = {"domain": domain, "dns": dns}
        await self._write_status(SERVICE_DNS, record, old_status, new_status)
        infos = dns_infos_from_status(dns)
        resolved = await self._resolve({h for i in infos for h in i.lb_hostnames})
        try:
            return service_endpoints(
                service_name=name,
                namespace=namespace,
                domain_ref=domain_ref,
                domain=domain,
                dns_infos=infos,
                ttl=spec.get("recordTTL"),
                dns_prefix=spec.get("dnsPrefix"),
                external_name=spec.get("externalName"),
                resolve=lambda h: resolved.get(h, []),
            )
        except ValueError as exc:
            raise TemporaryError(f"ServiceDNSRecord {namespace}/{name}: {exc}", delay=5.0) from exc

    async def _ingress(
        self, record: dict[str, Any], namespace: str, name: str, clusters: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        spec = record.get("spec") or {}
        ready = {
            c["metadata"]["name"]: _lb_status(
                self.observations.get((c["metadata"]["name"], "Ingress", namespace, name))
            )
            for c in clusters
            if _ready(c)
        }
        old_status = record.get("status") or {}
        new_status = dict(old_status)
        new_status["dns"] = ingress_record_status(ready)
        await self._write_status(INGRESS_DNS, record, old_status, new_status)
        infos = dns_infos_from_status(new_status["dns"])
        resolved = await self._resolve({h for i in infos for h in i.lb_hostnames})
        return ingress_endpoints(
            hosts=list(spec.get("hosts") or []),
            dns_infos=infos,
            ttl=spec.get("recordTTL"),
            resolve=lambda h: resolved.get(h, []),
        )

    async def _resolve(self, hosts: set[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for host in sorted(hosts):
            try:
                out[host] = list(await self.resolver(host))
            except OSError as exc:
                raise TemporaryError(f"resolving {host} failed: {exc}", delay=5.0) from exc
        return out

    async def _write_status(
        self, resource: Resource, record: dict[str, Any], old: Mapping[str, Any], new: dict[str, Any]
    ) -> None:
        if dict(old) == new:
            return
        body = dict(record)
        body["status"] = new
        try:
            await self.host.replace(resource, body, subresource="status")
        except ConflictError:
            raise TemporaryError("record changed while writing its status", delay=0.1) from None

    async def _write_endpoint(self, name: str, namespace: str, endpoints: list[dict[str, Any]]) -> None:
        for endpoint_resource in self.endpoint_resources:
            await self._write_endpoint_of(endpoint_resource, name, namespace, endpoints)

    async def _write_endpoint_of(
        self, endpoint_resource: Resource, name: str, namespace: str, endpoints: list[dict[str, Any]]
    ) -> None:
        existing = await self.host.get_or_none(endpoint_resource, name, namespace)
        group = endpoint_resource.group
        if existing is None:
            body = {
                "apiVersion": endpoint_resource.api_version,
                "kind": endpoint_resource.kind,
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"endpoints": endpoints},
            }
            await self.host.create(endpoint_resource, body, namespace)
            log.info(
                "Created DNSEndpoint",
                dnsEndpoint=f"{namespace}/{name}",
                group=group,
                endpoints=len(endpoints),
            )
            return
        if ((existing.get("spec") or {}).get("endpoints") or []) == endpoints:
            return
        patch = {
            "metadata": {"resourceVersion": existing["metadata"].get("resourceVersion")},
            "spec": {"endpoints": endpoints},
        }
        try:
            await self.host.patch(endpoint_resource, name, patch, namespace, patch_type="merge")
        except ConflictError:
            raise TemporaryError("DNSEndpoint changed concurrently", delay=0.1) from None
        log.info(
            "Updated DNSEndpoint", dnsEndpoint=f"{namespace}/{name}", group=group, endpoints=len(endpoints)
        )

    async def _delete_endpoint(self, name: str, namespace: str) -> None:
        for endpoint_resource in self.endpoint_resources:
            try:
                await self.host.delete(endpoint_resource, name, namespace)
            except NotFoundError:
                continue
            log.info("Deleted DNSEndpoint", dnsEndpoint=f"{namespace}/{name}", group=endpoint_resource.group)
