"""MultiClusterDNS: ServiceDNSRecord/IngressDNSRecord status and DNSEndpoint records (§2.9).

This reproduces KubeFed v0.6's DNS controllers (``pkg/controller/servicedns``,
``ingressdns``, ``dnsendpoint``) so external-dns consumes the same ``DNSEndpoint`` records:

* a Service gets names at three levels, from prefix P = ``<svc>.<ns>.<domainRef>.svc``:
  zone ``P.<zone>.<region>.<domain>`` (one per zone), region ``P.<region>.<domain>`` and
  global ``P.<domain>``. With load-balancer targets a level is an A record (hostnames are
  resolved to IPs); without, it is a CNAME to the next level up; a global CNAME would have
  no target and is dropped. ``dnsPrefix`` adds CNAME ``<dnsPrefix>.<domain>`` → ``P.<domain>``;
  ``externalName`` replaces ``<svc>`` in P and labels records ``serviceName=<svc>``;
* an Ingress gets one A record per host with the union of all clusters' targets;
* records are deduplicated and merged (A wins over CNAME, targets unioned and sorted).

KubeFed builds each level's targets as the union over all clusters in that zone/region/
everywhere; we emit one record per cluster and level and let the merge union them, which
gives the same records (a name with any A record becomes that A record).

DNS resolution is I/O, so it is injected as ``resolve``; errors it raises propagate (the
controller retries). Endpoints are returned as plain dicts in external-dns's JSON shape.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TTL = 180
RECORD_A = "A"
RECORD_CNAME = "CNAME"


@dataclass(frozen=True)
class ClusterDNSInfo:
    """One ``status.dns[]`` entry: a cluster's topology and load-balancer addresses."""

    cluster: str
    region: str = ""
    zones: tuple[str, ...] = ()
    lb_ips: tuple[str, ...] = ()
    lb_hostnames: tuple[str, ...] = ()


@dataclass(frozen=True)
class Endpoint:
    """An external-dns endpoint (``DNSEndpoint.spec.endpoints[]``)."""

    dnsName: str
    targets: tuple[str, ...]
    recordType: str
    recordTTL: int
    labels: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "dnsName": self.dnsName,
            "targets": list(self.targets),
            "recordType": self.recordType,
            "recordTTL": self.recordTTL,
        }
        if self.labels:
            out["labels"] = dict(self.labels)
        return out


@dataclass(frozen=True)
class MemberServiceState:
    """What the ServiceDNS controller observes for one ready member cluster."""

    cluster: str
    region: str
    zones: tuple[str, ...]
    service: Mapping[str, Any] | None = None
    endpoints: Mapping[str, Any] | None = None


def _lb_ingress(lb_status: Mapping[str, Any] | None) -> list[dict[str, str]]:
    entries = []
    for ing in (lb_status or {}).get("ingress") or []:
        if isinstance(ing, Mapping):
            entry = {k: str(ing[k]) for k in ("ip", "hostname") if ing.get(k)}
            if entry:
                entries.append(entry)
    entries.sort(key=lambda e: (e.get("ip", ""), e.get("hostname", "")))
    return entries


def _has_addresses(endpoints: Mapping[str, Any] | None) -> bool:
    return any((subset or {}).get("addresses") for subset in (endpoints or {}).get("subsets") or [])


def service_record_status(
    *,
    ready: Sequence[MemberServiceState],
    not_ready: Sequence[str] = (),
    previous: Sequence[Mapping[str, Any]] | None = None,
    allow_service_without_endpoints: bool = False,
) -> list[dict[str, Any]]:
    """Build ``ServiceDNSRecord.status.dns[]``, sorted by cluster.

    Raises:
        ValueError: a ready cluster has no region or zones (KubeFed errors and retries).
    """
    entries: dict[str, dict[str, Any]] = {}
    for state in ready:
        if not state.region or not state.zones:
            raise ValueError(f"cluster {state.cluster!r} has no region or zones")
        lb: dict[str, Any] = {}
        if state.service is not None and (allow_service_without_endpoints or _has_addresses(state.endpoints)):
            ingress = _lb_ingress((state.service.get("status") or {}).get("loadBalancer"))
            if ingress:
                lb = {"ingress": ingress}
        entries[state.cluster] = {
            "cluster": state.cluster,
            "loadBalancer": lb,
            "zones": sorted(state.zones),
            "region": state.region,
        }
    unready = set(not_ready)
    for old in previous or []:
        name = old.get("cluster")
        if isinstance(name, str) and name in unready and name not in entries:
            kept = {k: v for k, v in old.items() if k != "loadBalancer"}
            kept["loadBalancer"] = {}
            entries[name] = kept
    return [entries[n] for n in sorted(entries)]


def ingress_record_status(ready: Mapping[str, Mapping[str, Any] | None]) -> list[dict[str, Any]]:
    """Build ``IngressDNSRecord.status.dns[]`` from each ready cluster's Ingress (or None)."""
    out = []
    for cluster in sorted(ready):
        ingress = ready[cluster]
        lb_entries = _lb_ingress(((ingress or {}).get("status") or {}).get("loadBalancer"))
        out.append({"cluster": cluster, "loadBalancer": {"ingress": lb_entries} if lb_entries else {}})
    return out


def dns_infos_from_status(status_dns: Sequence[Mapping[str, Any]]) -> list[ClusterDNSInfo]:
    """Convert ``status.dns[]`` entries into :class:`ClusterDNSInfo`."""
    infos = []
    for entry in status_dns:
        ingress = _lb_ingress(entry.get("loadBalancer"))
        infos.append(
            ClusterDNSInfo(
                cluster=str(entry.get("cluster", "")),
                region=str(entry.get("region") or ""),
                zones=tuple(entry.get("zones") or ()),
                lb_ips=tuple(e["ip"] for e in ingress if "ip" in e),
                lb_hostnames=tuple(e["hostname"] for e in ingress if "hostname" in e),
            )
        )
    return infos


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _targets(info: ClusterDNSInfo, resolve: Callable[[str], Sequence[str]]) -> list[str]:
    targets = list(info.lb_ips)
    for host in info.lb_hostnames:
        if _is_ip(host):
            targets.append(host)
        else:
            targets.extend(resolve(host))
    return targets


def _endpoint(
    name: str, targets: Sequence[str], uplevel: str, ttl: int, labels: Mapping[str, str]
) -> Endpoint:
    if targets:
        return Endpoint(name, tuple(targets), RECORD_A, ttl, labels)
    return Endpoint(name, (uplevel,) if uplevel else (), RECORD_CNAME, ttl, labels)


def service_endpoints(
    *,
    service_name: str,
    namespace: str,
    domain_ref: str,
    domain: str,
    dns_infos: Sequence[ClusterDNSInfo],
    ttl: int | None,
    dns_prefix: str | None,
    external_name: str | None,
    resolve: Callable[[str], Sequence[str]],
) -> list[dict[str, Any]]:
    """Compute ``DNSEndpoint.spec.endpoints`` for a ServiceDNSRecord.

    Raises:
        ValueError: name, namespace, domainRef or domain is empty.
    """
    if not (service_name and namespace and domain_ref and domain):
        raise ValueError("service name, namespace, domainRef and domain must be non-empty")
    record_ttl = ttl or DEFAULT_TTL
    labels = {"serviceName": service_name} if external_name else {}
    prefix = ".".join([external_name or service_name, namespace, domain_ref, "svc"])
    global_name = f"{prefix}.{domain}"
    endpoints: list[Endpoint] = []
    for info in dns_infos:
        targets = _targets(info, resolve)
        region_name = f"{prefix}.{info.region}.{domain}"
        for zone in info.zones:
            endpoints.append(
                _endpoint(f"{prefix}.{zone}.{info.region}.{domain}", targets, region_name, record_ttl, labels)
            )
        endpoints.append(_endpoint(region_name, targets, global_name, record_ttl, labels))
        endpoints.append(_endpoint(global_name, targets, "", record_ttl, labels))
    if dns_prefix and dns_infos:
        # KubeFed emits the prefix record from inside its per-cluster loop: no clusters, no
        # record; and it never carries the serviceName label.
        endpoints.append(Endpoint(f"{dns_prefix}.{domain}", (global_name,), RECORD_CNAME, record_ttl))
    return dedupe_and_merge([e.to_dict() for e in endpoints])


def ingress_endpoints(
    *,
    hosts: Sequence[str],
    dns_infos: Sequence[ClusterDNSInfo],
    ttl: int | None,
    resolve: Callable[[str], Sequence[str]],
) -> list[dict[str, Any]]:
    """Compute ``DNSEndpoint.spec.endpoints`` for an IngressDNSRecord."""
    targets: list[str] = []
    for info in dns_infos:
        targets.extend(_targets(info, resolve))
    record_ttl = ttl or DEFAULT_TTL
    endpoints = [Endpoint(host, tuple(targets), RECORD_A, record_ttl).to_dict() for host in hosts if targets]
    return dedupe_and_merge(endpoints)


def dedupe_and_merge(endpoints: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """KubeFed's ``DedupeAndMergeEndpoints`` over endpoint dicts.

    Sort by dnsName, drop empty targets and target-less endpoints, merge endpoints with the
    same name: an A record wins over CNAMEs, and targets of the kept type are unioned,
    sorted and deduplicated. TTL and labels come from the first kept endpoint.
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for ep in endpoints:
        targets = [t for t in ep.get("targets") or [] if t]
        if not targets:
            continue
        cleaned = dict(ep)
        cleaned["targets"] = targets
        groups.setdefault(str(ep.get("dnsName", "")), []).append(cleaned)
    merged: list[dict[str, Any]] = []
    for name in sorted(groups):
        group = groups[name]
        a_records = [ep for ep in group if ep.get("recordType") == RECORD_A]
        kept = a_records or group
        out = dict(kept[0])
        out["targets"] = sorted({t for ep in kept for t in ep["targets"]})
        merged.append(out)
    return merged
