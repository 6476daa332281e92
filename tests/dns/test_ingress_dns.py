"""Ingress DNS end to end, and the feature gates.

Covers: with the FederatedIngress gate on, an IngressDNSRecord over a federated Ingress gives one A
record per host with the union of every cluster's load-balancer targets (an IP, and a host name
resolved by the injected resolver), recordTTL, and status.dns per ready cluster; deleting the record
deletes its DNSEndpoint; with CrossClusterServiceDiscovery off (our default, as in KubeFed ≥ v0.5)
a ServiceDNSRecord gets no DNSEndpoint.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from services.dns import StaticResolver
from tests.support.plane import ControlPlane, MakePlane, eventually, federate_namespace, is_ready, start_dns

pytestmark = pytest.mark.timeout(120)

NS = "test-namespace"
SYS = "kube-federation-system"
MEMBERS = ["cluster1", "cluster2"]


def _dnsendpoint(cp: ControlPlane, name: str) -> dict[str, Any] | None:
    return cp.host_object("multiclusterdns.kubefed.io", "dnsendpoints", NS, name)


async def test_ingress_records_and_gates(make_plane: MakePlane) -> None:
    cp = await make_plane(MEMBERS, feature_gates={"FederatedIngress": "Enabled"})
    cp.start("watcher", "watcher")
    cp.start("scheduler", "scheduler")
    cp.start("propagator", "propagator")
    start_dns(cp, resolver=StaticResolver({"lb2.example.net": ["198.18.1.1"]}))
    await eventually(lambda: all(is_ready(cp, m) for m in MEMBERS))
    await federate_namespace(cp, NS)
    docs = [
        {
            "apiVersion": "types.kubefed.io/v1beta1",
            "kind": "FederatedIngress",
            "metadata": {"name": "test-ingress", "namespace": NS},
            "spec": {
                "placement": {"clusterSelector": {}},
                "template": {
                    "spec": {
                        "rules": [
                            {
                                "host": "app.example.com",
                                "http": {
                                    "paths": [
                                        {
                                            "path": "/",
                                            "pathType": "Prefix",
                                            "backend": {
                                                "service": {"name": "test-service", "port": {"number": 80}}
                                            },
                                        }
                                    ]
                                },
                            }
                        ]
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
            "spec": {"domainRef": "example"},
        },
    ]
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))
    for cluster in MEMBERS:
        await eventually(
            lambda c=cluster: cp.member_object(c, "networking.k8s.io", "ingresses", NS, "test-ingress")
        )
    for cluster, lb in (("cluster1", {"ip": "192.0.2.10"}), ("cluster2", {"hostname": "lb2.example.net"})):
        await cp.akubectl(
            "patch",
            "ingress",
            "test-ingress",
            "-n",
            NS,
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps({"status": {"loadBalancer": {"ingress": [lb]}}}),
            context=cluster,
        )
    record = {
        "apiVersion": "multiclusterdns.kubefed.io/v1alpha1",
        "kind": "IngressDNSRecord",
        "metadata": {"name": "test-ingress", "namespace": NS},
        "spec": {"hosts": ["app.example.com"], "recordTTL": 60},
    }
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(record))

    expected = [
        {
            "dnsName": "app.example.com",
            "targets": ["192.0.2.10", "198.18.1.1"],
            "recordType": "A",
            "recordTTL": 60,
        }
    ]
    await eventually(
        lambda: (
            ((_dnsendpoint(cp, "ingress-test-ingress") or {}).get("spec") or {}).get("endpoints") == expected
        ),
        timeout=30,
    )
    status = cp.host_object("multiclusterdns.kubefed.io", "ingressdnsrecords", NS, "test-ingress")["status"]
    assert status["dns"] == [
        {"cluster": "cluster1", "loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}},
        {"cluster": "cluster2", "loadBalancer": {"ingress": [{"hostname": "lb2.example.net"}]}},
    ]

    await cp.akubectl("delete", "ingressdnsrecord", "test-ingress", "-n", NS)
    await eventually(lambda: _dnsendpoint(cp, "ingress-test-ingress") is None)
    # the ServiceDNSRecord was applied before everything above happened: its gate is off
    assert _dnsendpoint(cp, "service-test-service") is None
    assert "status" not in cp.host_object(
        "multiclusterdns.kubefed.io", "servicednsrecords", NS, "test-service"
    )
