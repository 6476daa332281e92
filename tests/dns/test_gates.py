"""DNS records while their feature gate is Disabled (issue #11, "Also").

Covers: a ServiceDNSRecord and an IngressDNSRecord with CrossClusterServiceDiscovery / FederatedIngress
Disabled (the default) stay ignored as in KubeFed (no status, no DNSEndpoint), but each gets one
Warning Event naming the gate that is off; reconciling again, from another replica or after a
restart, adds no second one.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from services.dns import StaticResolver
from services.dns._records import INGRESS_DNS, SERVICE_DNS, RecordController
from shared.k8s import client_from_kubeconfig
from tests.support.plane import ControlPlane, MakePlane, eventually, start_dns

pytestmark = pytest.mark.timeout(120)

NS = "test-namespace"
SYS = "kube-federation-system"
GROUP = "multiclusterdns.kubefed.io"
GATES = {"servicednsrecords": "CrossClusterServiceDiscovery", "ingressdnsrecords": "FederatedIngress"}


def _gate_events(cp: ControlPlane, name: str) -> list[dict[str, Any]]:
    return [
        e
        for e in cp.fleet["host"].list_objects("", "events", NS)
        if e["involvedObject"]["name"] == name and e["reason"] == "FeatureGateDisabled"
    ]


async def test_record_with_its_gate_disabled_gets_one_warning_event(make_plane: MakePlane) -> None:
    cp = await make_plane(["cluster1"])
    cp.start("watcher", "watcher")
    start_dns(cp, resolver=StaticResolver({}))
    docs = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
        {
            "apiVersion": f"{GROUP}/v1alpha1",
            "kind": "Domain",
            "metadata": {"name": "example", "namespace": SYS},
            "domain": "example.com",
        },
        {
            "apiVersion": f"{GROUP}/v1alpha1",
            "kind": "ServiceDNSRecord",
            "metadata": {"name": "web", "namespace": NS},
            "spec": {"domainRef": "example"},
        },
        {
            "apiVersion": f"{GROUP}/v1alpha1",
            "kind": "IngressDNSRecord",
            "metadata": {"name": "site", "namespace": NS},
            "spec": {"hosts": ["site.example.com"]},
        },
    ]
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))
    for plural, name in (("servicednsrecords", "web"), ("ingressdnsrecords", "site")):
        events = await eventually(lambda n=name: _gate_events(cp, n), timeout=30)
        record = cp.host_object(GROUP, plural, NS, name)
        assert record is not None
        (event,) = events
        assert event["type"] == "Warning"
        assert GATES[plural] in event["message"]
        assert event["involvedObject"]["kind"] == record["kind"]
        assert event["involvedObject"]["uid"] == record["metadata"]["uid"]
        assert "status" not in record  # still ignored, as in KubeFed
    assert cp.host_object(GROUP, "dnsendpoints", NS, "service-web") is None
    assert cp.host_object(GROUP, "dnsendpoints", NS, "ingress-site") is None

    # another replica, or this one after a restart, reconciling the same records: still one event each
    host = await client_from_kubeconfig(cp.fleet.kubeconfig_path, "host")
    try:
        other = RecordController(host, SYS, StaticResolver({}))
        await other.requeue_all()  # as on start: every listed record is checked
        for resource, name in ((SERVICE_DNS, "web"), (INGRESS_DNS, "site")):
            await other.reconcile((resource.qualified, NS, name))
            await other.reconcile((resource.qualified, NS, name))
    finally:
        await host.close()
    assert len(_gate_events(cp, "web")) == 1
    assert len(_gate_events(cp, "site")) == 1
