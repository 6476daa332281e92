"""Multi-cluster DNS end to end: member Services → propagator observations → dns service → DNSEndpoint.

Covers: KubeFedCluster region/zones filled from the members' node labels; a ServiceDNSRecord over a
LoadBalancer Service in three clusters gives zone, region and global A records (one target resolved
from a load-balancer host name through the injected resolver), the dnsPrefix CNAME, recordTTL and
status.dns / status.domain as KubeFed wrote them; a cluster going offline keeps its status entry with
an empty load balancer and its names fall back to CNAMEs; a Service losing its address drops it from
the records; deleting the record deletes the DNSEndpoint; the DNSEndpoint write is traced inside the
incoming message's ``process`` span.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.dns import StaticResolver
from shared.telemetry import configure_tracing
from tests.support.plane import ControlPlane, MakePlane, eventually, federate_namespace, is_ready, start_dns

pytestmark = pytest.mark.timeout(120)

NS = "test-namespace"
SYS = "kube-federation-system"
MEMBERS = ["cluster1", "cluster2", "cluster3"]
P = f"test-service.{NS}.example.svc"
LB_HOST = "lb.cluster3.example.net"
LB_HOST_IPS = ["198.18.0.3", "198.18.0.4"]


def _kfc_status(cp: ControlPlane, cluster: str) -> dict[str, Any]:
    return (cp.host_object("core.kubefed.io", "kubefedclusters", SYS, cluster) or {}).get("status") or {}


def _endpoints(cp: ControlPlane) -> dict[str, tuple[str, list[str]]] | None:
    obj = cp.host_object("multiclusterdns.kubefed.io", "dnsendpoints", NS, "service-test-service")
    if obj is None:
        return None
    return {
        e["dnsName"]: (e["recordType"], e["targets"]) for e in (obj.get("spec") or {}).get("endpoints") or []
    }


def _member_lb(cp: ControlPlane, cluster: str) -> list[str]:
    svc = cp.member_object(cluster, "", "services", NS, "test-service") or {}
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return [i.get("ip") or i.get("hostname") for i in ingress]


def _manifests() -> list[dict[str, Any]]:
    placement = {"clusterSelector": {}}
    labels = {"app": "nginx"}
    return [
        {
            "apiVersion": "types.kubefed.io/v1beta1",
            "kind": "FederatedDeployment",
            "metadata": {"name": "test-deployment", "namespace": NS},
            "spec": {
                "placement": placement,
                "template": {
                    "spec": {
                        "replicas": 1,
                        "selector": {"matchLabels": labels},
                        "template": {
                            "metadata": {"labels": labels},
                            "spec": {"containers": [{"name": "nginx", "image": "nginx"}]},
                        },
                    }
                },
            },
        },
        {
            "apiVersion": "types.kubefed.io/v1beta1",
            "kind": "FederatedService",
            "metadata": {"name": "test-service", "namespace": NS},
            "spec": {
                "placement": placement,
                "template": {
                    "spec": {
                        "type": "LoadBalancer",
                        "selector": labels,
                        "ports": [{"name": "http", "port": 80}],
                    }
                },
            },
        },
        {
            "apiVersion": "multiclusterdns.kubefed.io/v1alpha1",
            "kind": "Domain",
            "metadata": {"name": "example", "namespace": SYS},
            "domain": "example.com",
        },
        {
            "apiVersion": "multiclusterdns.kubefed.io/v1alpha1",
            "kind": "ServiceDNSRecord",
            "metadata": {"name": "test-service", "namespace": NS},
            "spec": {"domainRef": "example", "recordTTL": 300, "dnsPrefix": "www"},
        },
    ]


async def test_service_dns_records_follow_the_members(make_plane: MakePlane) -> None:
    spans = InMemorySpanExporter()
    configure_tracing("test", extra_processors=(SimpleSpanProcessor(spans),))
    cp = await make_plane(MEMBERS, feature_gates={"CrossClusterServiceDiscovery": "Enabled"})
    cp.start("watcher", "watcher")
    cp.start("scheduler", "scheduler")
    cp.start("propagator", "propagator")
    start_dns(cp, resolver=StaticResolver({LB_HOST: LB_HOST_IPS}))
    await eventually(lambda: all(is_ready(cp, m) for m in MEMBERS))
    topo = await eventually(
        lambda: (
            all(_kfc_status(cp, m).get("zones") for m in MEMBERS)
            and {m: (_kfc_status(cp, m)["region"], _kfc_status(cp, m)["zones"]) for m in MEMBERS}
        )
    )
    assert len({region for region, _ in topo.values()}) == 3
    await federate_namespace(cp, NS)
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump_all(_manifests()))

    ips = await eventually(
        lambda: all(_member_lb(cp, m) for m in MEMBERS) and {m: _member_lb(cp, m)[0] for m in MEMBERS}
    )
    # cluster3's load balancer is known by host name only (as on AWS)
    await cp.akubectl(
        "patch",
        "service",
        "test-service",
        "-n",
        NS,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {"loadBalancer": {"ingress": [{"hostname": LB_HOST}]}}}),
        context="cluster3",
    )
    targets = {"cluster1": [ips["cluster1"]], "cluster2": [ips["cluster2"]], "cluster3": LB_HOST_IPS}

    def expected(live: dict[str, list[str]]) -> dict[str, tuple[str, list[str]]]:
        out: dict[str, tuple[str, list[str]]] = {"www.example.com": ("CNAME", [f"{P}.example.com"])}
        everywhere = sorted(t for m in MEMBERS for t in live.get(m, []))
        if everywhere:
            out[f"{P}.example.com"] = ("A", everywhere)
        for m in MEMBERS:
            region, zones = topo[m]
            region_name = f"{P}.{region}.example.com"
            out[region_name] = ("A", sorted(live[m])) if live.get(m) else ("CNAME", [f"{P}.example.com"])
            for zone in zones:
                out[f"{P}.{zone}.{region}.example.com"] = (
                    ("A", sorted(live[m])) if live.get(m) else ("CNAME", [region_name])
                )
        return out

    await eventually(lambda: _endpoints(cp) == expected(targets), timeout=30)
    dnsep = cp.host_object("multiclusterdns.kubefed.io", "dnsendpoints", NS, "service-test-service")
    assert {e["recordTTL"] for e in dnsep["spec"]["endpoints"]} == {300}
    record = cp.host_object("multiclusterdns.kubefed.io", "servicednsrecords", NS, "test-service")
    assert record["status"]["domain"] == "example.com"
    assert [e["cluster"] for e in record["status"]["dns"]] == MEMBERS
    entry3 = record["status"]["dns"][2]
    assert entry3 == {
        "cluster": "cluster3",
        "loadBalancer": {"ingress": [{"hostname": LB_HOST}]},
        "zones": topo["cluster3"][1],
        "region": topo["cluster3"][0],
    }

    # the DNSEndpoint write happened inside the incoming message's process span
    by_id = {s.context.span_id: s for s in spans.get_finished_spans()}
    writes = [
        s
        for s in by_id.values()
        if s.name in ("POST", "PATCH") and "dnsendpoints" in str(s.attributes.get("url.path"))
    ]
    assert writes
    for write in writes:
        reconcile = by_id[write.parent.span_id]
        assert reconcile.name == "reconcile ServiceDNSRecord"
        # queued work keeps the context of the message that queued it; only the start-up sync has none
        assert reconcile.parent is not None
        cause = by_id[reconcile.parent.span_id]
        assert cause.name.startswith("process kubefed.") or cause.name == "sync DNS records", cause.name
    assert any(
        by_id[by_id[w.parent.span_id].parent.span_id].name
        == "process kubefed.member.{cluster}.{kind}.{namespace}.{name}"
        for w in writes
    )

    # a cluster goes offline: its entry stays with an empty load balancer, its names become CNAMEs
    await cp.fleet["cluster2"].go_offline()
    await eventually(lambda: _endpoints(cp) == expected({**targets, "cluster2": []}), timeout=30)
    record = cp.host_object("multiclusterdns.kubefed.io", "servicednsrecords", NS, "test-service")
    assert record["status"]["dns"][1] == {
        "cluster": "cluster2",
        "loadBalancer": {},
        "zones": topo["cluster2"][1],
        "region": topo["cluster2"][0],
    }

    # a Service loses its address (no longer a LoadBalancer in cluster1)
    await cp.akubectl(
        "patch",
        "federatedservice",
        "test-service",
        "-n",
        NS,
        "--type=merge",
        "-p",
        '{"spec":{"overrides":[{"clusterName":"cluster1","clusterOverrides":[{"path":"/spec/type","value":"ClusterIP"}]}]}}',
    )
    await eventually(lambda: _endpoints(cp) == expected({"cluster3": LB_HOST_IPS}), timeout=30)

    # the record goes, and its DNSEndpoint with it
    await cp.akubectl("delete", "servicednsrecord", "test-service", "-n", NS)
    await eventually(lambda: _endpoints(cp) is None)
