"""The RBAC of deploy/kustomize is enough for what the services do: proven by running them with it.

A simulated host that enforces RBAC (``run_fleet(rbac=True)``) gets the CRDs, the default config and
the ServiceAccounts/Roles/ClusterRoles/bindings rendered from ``overlays/default``; each service gets
a kubeconfig whose only credential is a token of its own ServiceAccount (a
``kubernetes.io/service-account-token`` Secret filled by the simulator's token controller). The four
services then run in-process, each with its own kubeconfig, through a scenario that touches every
host API path they have: KubeFedCluster health status, FederatedNamespace/ConfigMap/Deployment
propagation with status and Events, an RSP re-planning the FederatedDeployment, a ServiceDNSRecord
giving a DNSEndpoint and record status, an IngressDNSRecord with its gate Disabled getting a Warning
Event, and a deletion removing the finalizer. The simulator records
every refused request; none may come from the services. The negative test takes the scheduler's
``update`` on federated ``*/status`` away and shows the denial recorded and the status not written.

Member clusters are reached with their admin tokens (``ControlPlane.join``): member-side RBAC is
``kubefedctl join``'s business, not this test's.
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from services.dns import StaticResolver
from shared.planning import SYNC_FINALIZER
from shared.runtime import CommonSettings
from sim import Fleet, run_fleet
from sim._rbac import SA_PREFIX, Access, Attributes, rule_allows
from tests.support.manifests import render
from tests.support.plane import ControlPlane, eventually, federate_namespace, is_ready, start_dns

pytestmark = pytest.mark.timeout(90)

SYS = "kube-federation-system"
NS = "fed"
SERVICES = ("watcher", "scheduler", "propagator", "dns")
RBAC_KINDS = ("Namespace", "ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
MEMBERS = ["cluster1", "cluster2"]


class RbacControlPlane(ControlPlane):
    """A control plane whose services use their own ServiceAccount kubeconfigs instead of the admin's."""

    kubeconfigs: dict[str, Path]

    def common(self, name: str) -> CommonSettings:
        return msgspec.structs.replace(super().common(name), kubeconfig=str(self.kubeconfigs[name]))


def rendered_rbac() -> list[dict[str, Any]]:
    return [o for o in render("overlays/default") if o["kind"] in RBAC_KINDS]


def service_identities() -> set[str]:
    return {f"{SA_PREFIX}{SYS}:kubefed-{s}" for s in SERVICES}


async def mint_kubeconfigs(cp: ControlPlane, fleet: Fleet, tmp: Path) -> dict[str, Path]:
    """One kubeconfig per service: the host's server and CA, a token of ``kubefed-<service>``."""
    secrets = [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/service-account-token",
            "metadata": {
                "name": f"kubefed-{s}-token",
                "namespace": SYS,
                "annotations": {"kubernetes.io/service-account.name": f"kubefed-{s}"},
            },
        }
        for s in SERVICES
    ]
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump_all(secrets))
    admin = yaml.safe_load(fleet.kubeconfig_path.read_text())
    host_cluster = next(c for c in admin["clusters"] if c["name"] == "host")
    out = {}
    for s in SERVICES:
        secret = await fleet["host"].wait_for(
            lambda c, s=s: (
                (o := c.get_object("", "secrets", SYS, f"kubefed-{s}-token"))
                and (o.get("data") or {}).get("token")
                and o
            )
        )
        token = base64.b64decode(secret["data"]["token"]).decode()
        path = tmp / f"{s}.kubeconfig"
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "host",
                    "clusters": [host_cluster],
                    "users": [{"name": f"kubefed-{s}", "user": {"token": token}}],
                    "contexts": [
                        {
                            "name": "host",
                            "context": {"cluster": "host", "user": f"kubefed-{s}", "namespace": SYS},
                        }
                    ],
                }
            )
        )
        out[s] = path
    return out


async def setup(
    fleet: Fleet, nats_url: str, tmp: Path, *, without: tuple[str, str] | None = None
) -> RbacControlPlane:
    """CRDs, config, the rendered RBAC (minus ``without`` = (ClusterRole, resource prefix)), tokens,
    members."""
    cp = RbacControlPlane(fleet, nats_url, tmp)
    await cp.install_kubefed_api(
        {"clusterHealthCheck": {"period": "1s"}}, {"CrossClusterServiceDiscovery": "Enabled"}
    )
    rbac = rendered_rbac()
    if without is not None:
        role, prefix = without
        for o in rbac:
            if o["kind"] == "ClusterRole" and o["metadata"]["name"] == role:
                o["rules"] = [
                    r for r in o["rules"] if not any(x.endswith(prefix) for x in r.get("resources") or ())
                ]
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump_all(rbac))
    cp.kubeconfigs = await mint_kubeconfigs(cp, fleet, tmp)
    for m in MEMBERS:
        await cp.join(m)
    return cp


def _attributes(g: Access) -> Attributes:
    resource, _, sub = g.resource.partition("/")
    return Attributes(g.user, (), g.verb, g.group, resource, sub, g.namespace, g.name)


def unexercised_rules(granted: list[Access]) -> list[tuple[str, str, str]]:
    """(role, verb, resources) of every rendered rule verb that no granted request of its service used."""
    out = []
    for role in rendered_rbac():
        if role["kind"] not in ("Role", "ClusterRole"):
            continue
        user = f"{SA_PREFIX}{SYS}:{role['metadata']['name']}"
        for rule in role.get("rules") or ():
            for verb in rule["verbs"]:
                if not any(
                    g.user == user and g.verb == verb and rule_allows(rule, _attributes(g)) for g in granted
                ):
                    out.append(
                        (
                            f"{role['kind']}/{role['metadata']['name']}",
                            verb,
                            ",".join(rule.get("resources") or ()),
                        )
                    )
    return out


def _fed(cp: ControlPlane, plural: str, name: str) -> dict[str, Any]:
    return cp.host_object("types.kubefed.io", plural, NS, name) or {}


def _propagated(cp: ControlPlane, plural: str, name: str) -> bool:
    status = _fed(cp, plural, name).get("status") or {}
    ok = any(
        c.get("type") == "Propagation" and c.get("status") == "True" for c in status.get("conditions") or []
    )
    return ok and sorted(c["name"] for c in status.get("clusters") or []) == MEMBERS


def _replica_overrides(cp: ControlPlane) -> dict[str, int]:
    out = {}
    for entry in (_fed(cp, "federateddeployments", "web").get("spec") or {}).get("overrides") or []:
        for op in entry.get("clusterOverrides") or []:
            if op.get("path") == "/spec/replicas":
                out[entry["clusterName"]] = op["value"]
    return out


def _manifests() -> list[dict[str, Any]]:
    labels = {"app": "web"}
    placement = {"clusterSelector": {}}
    return [
        {
            "apiVersion": "types.kubefed.io/v1beta1",
            "kind": "FederatedConfigMap",
            "metadata": {"name": "settings", "namespace": NS},
            "spec": {"placement": placement, "template": {"data": {"k": "v"}}},
        },
        {
            "apiVersion": "types.kubefed.io/v1beta1",
            "kind": "FederatedDeployment",
            "metadata": {"name": "web", "namespace": NS},
            "spec": {
                "placement": placement,
                "template": {
                    "spec": {
                        "replicas": 2,
                        "selector": {"matchLabels": labels},
                        "template": {
                            "metadata": {"labels": labels},
                            "spec": {"containers": [{"name": "web", "image": "nginx"}]},
                        },
                    }
                },
            },
        },
        {
            "apiVersion": "types.kubefed.io/v1beta1",
            "kind": "FederatedService",
            "metadata": {"name": "web", "namespace": NS},
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
            "apiVersion": "scheduling.kubefed.io/v1alpha1",
            "kind": "ReplicaSchedulingPreference",
            "metadata": {"name": "web", "namespace": NS},
            "spec": {
                "targetKind": "FederatedDeployment",
                "totalReplicas": 6,
                "rebalance": True,
                "clusters": {"cluster1": {"weight": 1}, "cluster2": {"weight": 2}},
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
            "metadata": {"name": "web", "namespace": NS},
            "spec": {"domainRef": "example", "recordTTL": 60},
        },
    ]


def _denials(fleet: Fleet) -> list[Any]:
    return [d for c in fleet for d in c.denied if d.user in service_identities()]


async def test_services_run_with_their_own_rbac(fresh_nats: Any, tmp_path: Path) -> None:
    async with run_fleet(
        ["host", *MEMBERS], tls=True, rbac=True, kubeconfig_path=tmp_path / "kubeconfig", pod_ready_delay=0.05
    ) as fleet:
        cp = await setup(fleet, fresh_nats.url, tmp_path)
        host = fleet["host"]
        try:
            cp.start("watcher", "watcher")
            cp.start("scheduler", "scheduler")
            cp.start("propagator", "propagator")
            start_dns(cp, resolver=StaticResolver({}))
            # KubeFedCluster health (scheduler: kubefedclusters/status), region and zones from the members
            await eventually(lambda: all(is_ready(cp, m) for m in MEMBERS))
            await federate_namespace(cp, NS)
            await eventually(lambda: all(cp.member_object(m, "", "namespaces", None, NS) for m in MEMBERS))
            # an update of a federated Namespace compares it with the host's own namespace (propagator:
            # namespaces get)
            await cp.akubectl(
                "patch",
                "federatednamespace",
                NS,
                "-n",
                NS,
                "--type=merge",
                "-p",
                json.dumps({"spec": {"template": {"metadata": {"labels": {"team": "a"}}}}}),
            )
            await eventually(
                lambda: all(
                    (cp.member_object(m, "", "namespaces", None, NS) or {})
                    .get("metadata", {})
                    .get("labels", {})
                    .get("team")
                    == "a"
                    for m in MEMBERS
                )
            )
            await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump_all(_manifests()))

            # propagation with host status (scheduler: */status update) and Events (scheduler: events create)
            await eventually(
                lambda: all(cp.member_object(m, "", "configmaps", NS, "settings") for m in MEMBERS)
            )
            await eventually(lambda: _propagated(cp, "federatedconfigmaps", "settings"), timeout=30)
            # the RSP re-plans the FederatedDeployment (scheduler: rsp get/list, federated patch)
            await eventually(lambda: _replica_overrides(cp) == {"cluster1": 2, "cluster2": 4}, timeout=30)
            await eventually(
                lambda: (
                    [
                        (cp.member_object(m, "apps", "deployments", NS, "web") or {})
                        .get("spec", {})
                        .get("replicas")
                        for m in MEMBERS
                    ]
                    == [2, 4]
                ),
                timeout=30,
            )
            await eventually(lambda: _propagated(cp, "federateddeployments", "web"), timeout=30)
            assert SYNC_FINALIZER in _fed(cp, "federatedconfigmaps", "settings")["metadata"]["finalizers"]
            await eventually(lambda: host.list_objects("", "events", NS))  # Events for the federated objects

            # a ServiceDNSRecord gives a DNSEndpoint and record status (dns: records, status, dnsendpoints)
            def dns_ready() -> Any:
                ep = cp.host_object("multiclusterdns.kubefed.io", "dnsendpoints", NS, "service-web")
                record = cp.host_object("multiclusterdns.kubefed.io", "servicednsrecords", NS, "web") or {}
                entries = (record.get("status") or {}).get("dns") or []
                return ep and len(entries) == 2 and all(e.get("loadBalancer") for e in entries) and ep

            endpoint = await eventually(dns_ready, timeout=30)
            assert any(
                e["recordType"] == "A" and e["dnsName"] == f"web.{NS}.example.svc.example.com"
                for e in endpoint["spec"]["endpoints"]
            )
            # a record whose gate (FederatedIngress) is Disabled gets a Warning Event (dns: events create)
            await cp.akubectl(
                "apply",
                "-f",
                "-",
                input=yaml.safe_dump(
                    {
                        "apiVersion": "multiclusterdns.kubefed.io/v1alpha1",
                        "kind": "IngressDNSRecord",
                        "metadata": {"name": "site", "namespace": NS},
                        "spec": {"hosts": ["site.example.com"]},
                    }
                ),
            )
            await eventually(
                lambda: any(
                    e["reason"] == "FeatureGateDisabled" and e["involvedObject"]["name"] == "site"
                    for e in host.list_objects("", "events", NS)
                )
            )
            # the record goes, and its DNSEndpoint with it (dns: dnsendpoints delete)
            await cp.akubectl("delete", "servicednsrecord", "web", "-n", NS)
            await eventually(
                lambda: (
                    cp.host_object("multiclusterdns.kubefed.io", "dnsendpoints", NS, "service-web") is None
                )
            )

            # a native Deployment under a Karmada policy (watcher: policies and deployments list/watch;
            # scheduler: policies list, deployments get/list/patch for the claim and the breakdown,
            # deployments/status update for the aggregated status)
            native = {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "native", "namespace": NS},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": "native"}},
                    "template": {
                        "metadata": {"labels": {"app": "native"}},
                        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
                    },
                },
            }
            policy = {
                "apiVersion": "policy.karmada.io/v1alpha1",
                "kind": "PropagationPolicy",
                "metadata": {"name": "native", "namespace": NS},
                "spec": {
                    "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "native"}],
                    "placement": {"clusterAffinity": {"clusterNames": MEMBERS}},
                },
            }
            await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump_all([policy, native]))
            await eventually(
                lambda: (
                    ((cp.host_object("apps", "deployments", NS, "native") or {}).get("status") or {}).get(
                        "readyReplicas"
                    )
                    == len(MEMBERS)
                ),
                timeout=30,
            )

            # deletion: the members' copies go, then the scheduler removes its finalizer (federated patch)
            await cp.akubectl("delete", "federatedconfigmap", "settings", "-n", NS, "--wait=false")
            await eventually(lambda: not _fed(cp, "federatedconfigmaps", "settings"), timeout=30)
            assert not any(cp.member_object(m, "", "configmaps", NS, "settings") for m in MEMBERS)
        finally:
            await cp.stop_all()
        # every request went through RBAC as a service account, and none was refused
        assert host.identify(
            yaml.safe_load(cp.kubeconfigs["scheduler"].read_text())["users"][0]["user"]["token"]
        ) == (
            f"{SA_PREFIX}{SYS}:kubefed-scheduler",
            ("system:serviceaccounts", f"system:serviceaccounts:{SYS}", "system:authenticated"),
        )
        assert _denials(fleet) == []
        assert host.denied == []
        # each service worked under its own identity, and each verb of each of its rules was needed
        granted = [g for g in host.granted if g.user in service_identities()]
        assert {g.user for g in granted} == service_identities()
        assert unexercised_rules(granted) == []


async def test_a_missing_rule_is_denied_and_its_write_not_done(fresh_nats: Any, tmp_path: Path) -> None:
    async with run_fleet(
        ["host", *MEMBERS], tls=True, rbac=True, kubeconfig_path=tmp_path / "kubeconfig", pod_ready_delay=0.05
    ) as fleet:
        # the scheduler's ClusterRole without its rule on federated */status
        cp = await setup(fleet, fresh_nats.url, tmp_path, without=("kubefed-scheduler", "/status"))
        host = fleet["host"]
        try:
            cp.start("watcher", "watcher")
            cp.start("scheduler", "scheduler")
            cp.start("propagator", "propagator")
            await eventually(
                lambda: all(is_ready(cp, m) for m in MEMBERS)
            )  # kubefedclusters/status is a Role rule
            await federate_namespace(cp, NS)
            await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump_all(_manifests()[:1]))
            await eventually(
                lambda: all(cp.member_object(m, "", "configmaps", NS, "settings") for m in MEMBERS)
            )
            user = f"{SA_PREFIX}{SYS}:kubefed-scheduler"
            await eventually(
                lambda: any(
                    d == (user, "update", "federatedconfigmaps/status", NS, "settings", "types.kubefed.io")
                    for d in host.denied
                ),
                timeout=30,
            )
            await asyncio.sleep(1.0)
            assert "status" not in _fed(cp, "federatedconfigmaps", "settings")
        finally:
            await cp.stop_all()
        # only that rule was missing: every denial is a federated status update by the scheduler
        assert {(d.user, d.verb, d.resource.split("/")[-1]) for d in _denials(fleet)} == {
            (user, "update", "status")
        }
