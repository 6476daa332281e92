"""Real DNS consumers of our DNSEndpoints: external-dns (``--source=crd``, ``--provider=coredns``) writes
the records to etcd, CoreDNS (etcd plugin) answers real DNS queries on a loopback port.

The dns service writes its DNSEndpoints in KubeFed's group and in external-dns's (v0.22 reads only its
own). A ServiceDNSRecord over a LoadBalancer Service in three real clusters resolves, with a DNS query, to
the members' load-balancer addresses (global, region and zone names); when a member's Service stops
being a LoadBalancer its address leaves the answers.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import dns.resolver
import pytest
import yaml

from services.dns._records import EXTERNAL_DNS_GROUP
from sim.real import locate
from sim.real._binaries import asset_dir
from sim.real._fleet import etcd_program, free_port
from sim.real._process import Program
from tests.dns.test_dns import MEMBERS, NS, _manifests, _member_lb
from tests.support.plane import ControlPlane, MakePlane, eventually, federate_namespace, is_ready, start_dns
from tests.support.real import require_programs

pytestmark = pytest.mark.timeout(240)

DNS_PROGRAMS = ("coredns", "external-dns")
NAME = f"test-service.{NS}.example.svc.example.com"


class DnsStack:
    """A private etcd, external-dns reading the host's DNSEndpoints and CoreDNS serving example.com."""

    def __init__(self, kubeconfig: Path, work: Path) -> None:
        self.work = work
        self.etcd_port, self.peer_port, self.dns_port = free_port(), free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{self.etcd_port}"
        corefile = work / "Corefile"
        corefile.write_text(
            f"example.com:{self.dns_port} {{\n  bind 127.0.0.1\n"
            f"  etcd example.com {{\n    path /skydns\n    endpoint {etcd_url}\n  }}\n}}\n"
        )
        self.programs = [
            etcd_program("dns-etcd", work / "etcd", self.etcd_port, self.peer_port, work / "etcd.log"),
            Program(
                "coredns",
                [str(locate("coredns")), "-conf", str(corefile), "-dns.port", str(self.dns_port)],
                work / "coredns.log",
            ),
            Program(
                "external-dns",
                [
                    # v0.22's CRD source reads externaldns.k8s.io DNSEndpoints only (its
                    # --crd-source-apiversion is
                    # accepted and unused), so the dns service also writes that group (--dnsendpoint-group)
                    str(locate("external-dns")),
                    "--source=crd",
                    "--provider=coredns",
                    "--policy=sync",
                    "--registry=txt",
                    "--txt-owner-id=kubefed",
                    "--domain-filter=example.com",
                    "--interval=1s",
                    f"--kubeconfig={kubeconfig}",
                    f"--metrics-address=127.0.0.1:{free_port()}",
                    "--log-level=debug",
                ],
                work / "external-dns.log",
                env={"ETCD_URLS": etcd_url},
            ),  # the coredns provider's etcd
        ]

    def start(self) -> None:
        for program in self.programs:
            program.start()

    def check_alive(self) -> None:
        for p in self.programs:
            p.check_alive()

    def stop(self) -> None:
        for p in reversed(self.programs):
            p.stop()

    def resolve(self, name: str) -> list[str]:
        self.check_alive()
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = ["127.0.0.1"]
        resolver.port = self.dns_port
        resolver.lifetime = 2.0
        try:
            return sorted(r.address for r in resolver.resolve(name, "A"))
        except (
            dns.resolver.NXDOMAIN,
            dns.resolver.NoAnswer,
            dns.resolver.NoNameservers,
            dns.exception.Timeout,
        ):
            return []


async def test_dns_names_resolve_to_member_load_balancers_through_external_dns_and_coredns(
    make_plane: MakePlane, tmp_path: Path
) -> None:
    require_programs()
    for program in DNS_PROGRAMS:
        locate(program)
    cp = await make_plane(MEMBERS, feature_gates={"CrossClusterServiceDiscovery": "Enabled"})
    for service in ("watcher", "scheduler", "propagator"):
        cp.start(service, service)
    # external-dns is installed as its docs say, its own CRDs first
    await cp.akubectl("apply", "-f", str(asset_dir("external-dns", "crds")))
    start_dns(cp, endpoint_groups=("multiclusterdns.kubefed.io", EXTERNAL_DNS_GROUP))
    await eventually(lambda: all(is_ready(cp, m) for m in MEMBERS), timeout=60)
    await federate_namespace(cp, NS)
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump_all(_manifests()))
    ips = await eventually(
        lambda: all(_member_lb(cp, m) for m in MEMBERS) and {m: _member_lb(cp, m)[0] for m in MEMBERS},
        timeout=60,
    )

    stack = DnsStack(cp.fleet.kubeconfig_path, tmp_path)
    stack.start()
    try:
        everywhere = sorted(ips.values())
        assert await eventually(lambda: stack.resolve(NAME) == everywhere or None, timeout=60)
        region, zones = _topology(cp, "cluster1")
        assert stack.resolve(f"test-service.{NS}.example.svc.{region}.example.com") == [ips["cluster1"]]
        assert stack.resolve(f"test-service.{NS}.example.svc.{zones[0]}.{region}.example.com") == [
            ips["cluster1"]
        ]
        # the dnsPrefix CNAME (www.example.com -> the global name) resolves to the same addresses
        assert stack.resolve("www.example.com") == everywhere

        # cluster1's Service stops being a LoadBalancer: its address leaves the answers
        await cp.akubectl(
            "patch",
            "federatedservice",
            "test-service",
            "-n",
            NS,
            "--type=merge",
            "-p",
            '{"spec":{"overrides":[{"clusterName":"cluster1","clusterOverrides":'
            '[{"path":"/spec/type","value":"ClusterIP"}]}]}}',
        )
        rest = sorted(ips[m] for m in MEMBERS if m != "cluster1")
        assert await eventually(lambda: stack.resolve(NAME) == rest or None, timeout=60)
    finally:
        await asyncio.to_thread(stack.stop)


def _topology(cp: ControlPlane, cluster: str) -> tuple[str, list[str]]:
    status: dict[str, Any] = (
        cp.host_object("core.kubefed.io", "kubefedclusters", "kube-federation-system", cluster) or {}
    ).get("status") or {}
    return status["region"], status["zones"]
